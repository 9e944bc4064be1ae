"""`kill -9` of the daemon mid-hold: the gun's watchdog stops the motor, and the restarted
daemon reports the session interrupted with its progress, the journal intact."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from engine_helpers import small_profile


async def _spawn(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpdevice", *args, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
async def tcp_gun() -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A simulated gun in its own process (it outlives the daemon), logging to stderr."""
    process = await _spawn("-v", "sim", "--transport", "tcp", "--count", "1")
    assert process.stdout is not None
    for _ in range(5):
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        if line.startswith("tcp://"):
            break
    yield line, process
    process.kill()
    await process.wait()


def _setup(tmp_path: Path, address: str) -> tuple[Path, dict[str, str]]:
    data = small_profile(hold_policy="wall").model_dump(mode="json", exclude_none=True)
    data["id"] = "kill-test"
    data["steps"][0]["duration_s"] = 1.0  # a short sweep, then a 20 s hold
    profiles = tmp_path / "config" / "tpdevice" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "kill-test.yaml").write_text(yaml.safe_dump(data))
    config = tmp_path / "clinic.yaml"
    config.write_text(f"devices:\n  - id: gun-1\n    address: {address}\n")
    return config, {"XDG_CONFIG_HOME": str(tmp_path / "config")}


async def _daemon(tmp_path: Path, config: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await _spawn(
        "daemon", "--config", str(config), "--socket", str(tmp_path / "run" / "api.sock"),
        "--journal", str(tmp_path / "journal.sqlite3"), env=env,
    )  # fmt: skip
    assert process.stderr is not None
    line = await asyncio.wait_for(process.stderr.readline(), 20)
    assert b"control API on" in line, line
    return process


async def until_the_watchdog_stops(gun: asyncio.subprocess.Process) -> None:
    """Read the gun's stderr until its watchdog stopped the motor: nobody beats any more."""
    assert gun.stderr is not None
    seen = b""
    while b"watchdog" not in seen.lower():
        seen += await asyncio.wait_for(gun.stderr.readline(), 5)


async def start_into_the_hold(tmp_path: Path) -> str:
    """Through the daemon's socket: wait for gun-1, start kill-test, return once in its hold."""
    transport = httpx.AsyncHTTPTransport(uds=str(tmp_path / "run" / "api.sock"))
    async with httpx.AsyncClient(transport=transport, base_url="http://tpdevice") as http:
        for _ in range(250):
            if (await http.get("/v1/devices")).json()[0]["state"] == "ready":
                break
            await asyncio.sleep(0.02)
        reply = await http.post("/v1/sessions", json={"device": "gun-1", "profile": "kill-test"})
        session_id: str = reply.json()["id"]
        for _ in range(200):  # into the hold, the motor running
            if (await http.get(f"/v1/sessions/{session_id}")).json()["elapsed_s"] >= 2.0:
                break
            await asyncio.sleep(0.05)
    return session_id


async def test_a_killed_daemon_leaves_no_motor_running_and_an_interrupted_session(
    tmp_path: Path, tcp_gun: tuple[str, asyncio.subprocess.Process]
) -> None:
    address, gun = tcp_gun
    config, env = _setup(tmp_path, address)
    daemon = await _daemon(tmp_path, config, env)
    session_id = await start_into_the_hold(tmp_path)
    daemon.send_signal(signal.SIGKILL)
    await daemon.wait()
    await until_the_watchdog_stops(gun)
    with sqlite3.connect(tmp_path / "journal.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    daemon = await _daemon(tmp_path, config, env)
    daemon.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(daemon.wait(), 20) == 0
    history = await _spawn("history", "--json", "--journal", str(tmp_path / "journal.sqlite3"))
    out, _ = await history.communicate()
    (record,) = json.loads(out)
    assert (record["session_id"], record["outcome"]) == (session_id, "interrupted")
    assert record["steps_done"] == 1 and record["step_count"] > 1  # the sweep, then the hold
