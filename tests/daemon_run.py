"""A daemon in the test's own event loop, with simulated guns, and HTTP to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from tpdevice.daemon.config import DaemonConfig, DeviceConfig
from tpdevice.daemon.service import DaemonService, Extension, ServiceOptions


@contextlib.asynccontextmanager
async def running_daemon(
    folder: Path, guns: int = 3, time_scale: float = 200.0, extensions: Sequence[Extension] = ()
) -> AsyncIterator[tuple[DaemonService, httpx.AsyncClient]]:
    """`guns` in-process simulated guns (sim-1..N) at `time_scale`, the API on a Unix socket."""
    config = DaemonConfig(
        devices=[DeviceConfig(id=f"sim-{i}", address=f"sim?id={i}") for i in range(1, guns + 1)]
    )
    options = ServiceOptions(
        socket_path=folder / "run" / "api.sock", journal_path=folder / "journal.sqlite3",
        time_scale=time_scale, extensions=extensions,
    )  # fmt: skip
    service = DaemonService(config, options)
    task = asyncio.create_task(service.run())
    ready = asyncio.create_task(service.ready.wait())
    await asyncio.wait({task, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    transport = httpx.AsyncHTTPTransport(uds=str(options.socket_path))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tpdevice") as http:
            await until_guns_ready(http, guns)
            yield service, http
    finally:
        service.stop()
        await task


async def until_guns_ready(http: httpx.AsyncClient, count: int) -> None:
    """Wait until `count` guns report ready."""
    for _ in range(500):
        devices = (await http.get("/v1/devices")).json()
        if sum(d["state"] == "ready" for d in devices) == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"guns not ready: {devices}")


async def until_session(
    http: httpx.AsyncClient, session_id: str, *states: str, timeout_s: float = 30
) -> dict[str, Any]:
    """Poll the session until its state is one of `states`; return it."""
    info: dict[str, Any] = {}
    for _ in range(int(timeout_s / 0.02)):
        info = (await http.get(f"/v1/sessions/{session_id}")).json()
        if info["state"] in states:
            return info
        await asyncio.sleep(0.02)
    raise AssertionError(f"session {session_id} stayed {info.get('state')}")
