"""`tpdevice stop`: the daemon stops every motor, on a path that imports no heavy module."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from daemon_helpers import FakeDaemon

from tpdevice.daemon.api import create_app
from tpdevice.daemon.server import ApiServer

HEAVY = ("pydantic", "rich", "typer", "httpx", "fastapi", "uvicorn", "yaml", "aiomqtt", "serial")


async def _stop(socket_path: Path, *extra: str) -> tuple[int, str, str]:
    env = {**os.environ, "TPDEVICE_SOCKET": str(socket_path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, *extra, "-m", "tpdevice", "stop", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_stop_asks_the_daemon_and_reports(tmp_path: Path) -> None:
    path = tmp_path / "run" / "api.sock"
    server = ApiServer.on_unix_socket(create_app(FakeDaemon()), path)
    await server.start()
    try:
        code, out, err = await _stop(path)
    finally:
        await server.close()
    assert (code, out, err) == (0, "stopped 1 gun\n", "")


async def test_without_a_daemon_stop_says_how_to_start_one(tmp_path: Path) -> None:
    code, out, err = await _stop(tmp_path / "none" / "api.sock")
    assert code == 3
    assert out == ""
    assert err.startswith("no daemon is running at ")
    assert "tpdevice daemon" in err and err.count("\n") == 1


async def test_stop_imports_nothing_heavy(tmp_path: Path) -> None:
    _, _, err = await _stop(tmp_path / "none" / "api.sock", "-X", "importtime")
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in err.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert imported, err
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
    assert "tpdevice" in imported
