"""A `tpdevice daemon` in its own process, and `tpdevice` commands run as a second terminal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx


def cli_env(tmp_path: Path, socket: Path) -> dict[str, str]:
    """The environment of every process: the test's socket and its own per-user folders."""
    return {
        **os.environ, "TPDEVICE_SOCKET": str(socket),
        "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
    }  # fmt: skip


async def spawn(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """`tpdevice ARGS` with its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpdevice", *args, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run `tpdevice ARGS` to its end: exit code, stdout, stderr."""
    process = await spawn(env, *args)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def daemon_process(
    tmp_path: Path, *args: str, time_scale: float | None = 50.0
) -> AsyncIterator[tuple[dict[str, str], httpx.AsyncClient]]:
    """`tpdevice daemon ARGS` serving on a socket in tmp_path (simulated guns `time_scale` times
    faster; None: real time); the CLI's env and HTTP to it."""
    socket = tmp_path / "run" / "api.sock"
    env = cli_env(tmp_path, socket)
    process = await spawn(
        env, "daemon", *args, *(() if time_scale is None else ("--time-scale", str(time_scale))),
        "--socket", str(socket),
        "--journal", str(tmp_path / "journal.sqlite3"),
    )  # fmt: skip
    assert process.stderr is not None
    try:
        line = await asyncio.wait_for(process.stderr.readline(), 30)
        assert b"control API on" in line, line
        transport = httpx.AsyncHTTPTransport(uds=str(socket))
        async with httpx.AsyncClient(transport=transport, base_url="http://tpdevice") as http:
            yield env, http
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 30)


async def until_ready(http: httpx.AsyncClient, device_id: str) -> None:
    """Wait until the daemon's gun `device_id` is ready."""
    for _ in range(1000):
        devices = {d["id"]: d for d in (await http.get("/v1/devices")).json()}
        if devices.get(device_id, {}).get("state") == "ready":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{device_id} not ready: {devices}")
