"""The daemon end to end: several guns at once, commands from a second terminal, stop, dose."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
from daemon_run import running_daemon, until_session

from tpdevice.daemon.journal_queries import JournalReader


async def _start(http: httpx.AsyncClient, device: str, **body: str) -> str:
    reply = await http.post("/v1/sessions", json={"device": device, **body})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


async def _cli(socket: Path, *args: str) -> tuple[int, str, str]:
    """`tpdevice ARGS` as a second terminal would run it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpdevice", *args, env={**os.environ, "TPDEVICE_SOCKET": str(socket)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_three_guns_run_at_once_and_the_journal_keeps_every_event(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as (service, http):
        ids = [
            await _start(http, f"sim-{i}", profile="upper-trapezius", side="left")
            for i in (1, 2, 3)
        ]
        for session_id in ids:
            info = await until_session(http, session_id, "completed", "aborted", "failed")
            assert info["state"] == "completed", info
        assert service.guns is not None
        service.guns.journal.flush()
    reader = JournalReader(tmp_path / "journal.sqlite3")
    records = {r.session_id: r for r in reader.history()}
    assert set(records) == set(ids)
    for session_id in ids:
        record = records[session_id]
        assert (record.outcome, record.steps_done, record.step_count) == ("completed", 13, 13)
        assert record.motor_on_s > 0
        assert len(reader.telemetry(session_id)) > 0
    for device in ("sim-1", "sim-2", "sim-3"):
        seqs = [seq for _, seq, _ in reader.events(device_id=device)]
        assert seqs == list(range(1, len(seqs) + 1))


async def test_commands_from_a_second_terminal(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, guns=1, time_scale=50.0) as (service, http):
        socket = service.options.socket_path
        session_id = await _start(http, "sim-1", profile="piriformis")
        assert (await _cli(socket, "session", "pause"))[0] == 0
        assert (await until_session(http, session_id, "paused"))["state"] == "paused"
        code, _, err = await _cli(socket, "session", "pause", session_id)
        assert code == 2 and "already_paused" in err
        assert (await _cli(socket, "session", "resume", session_id))[0] == 0
        await until_session(http, session_id, "running")
        assert (await _cli(socket, "session", "skip"))[0] == 0
        code, out, _ = await _cli(socket, "session", "stop", session_id)
        assert (code, out) == (0, f"stop: session {session_id}\n")
        await until_session(http, session_id, "aborted")
        code, out, _ = await _cli(socket, "session", "status", session_id)
        assert code == 0 and "aborted" in out
        code, out, _ = await _cli(socket, "devices", "list", "--json")
        assert code == 0 and [d["id"] for d in json.loads(out)] == ["sim-1"]


async def test_stop_ends_every_session_with_the_motors_stopped(tmp_path: Path) -> None:
    # 20x: the sessions last 43 s, long past a slow machine's `tpdevice stop` start-up.
    async with running_daemon(tmp_path, time_scale=20.0) as (service, http):
        ids = [await _start(http, f"sim-{i}", profile="piriformis") for i in (1, 2, 3)]
        code, out, err = await _cli(service.options.socket_path, "stop")
        assert (code, out, err) == (0, "stopped 3 guns\n", "")
        for session_id in ids:
            info = await until_session(http, session_id, "aborted", "completed", "failed")
            assert info["state"] == "aborted"
        assert service.guns is not None
        assert not any(
            slot.client is not None and slot.client.motor_may_run
            for slot in service.guns.slots.values()
        )


async def test_a_busy_gun_and_unknown_names_get_their_codes(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, guns=1) as (_, http):
        session_id = await _start(http, "sim-1", profile="piriformis")
        busy = await http.post("/v1/sessions", json={"device": "sim-1", "profile": "piriformis"})
        assert (busy.status_code, busy.json()["code"]) == (409, "device_busy")
        assert session_id in busy.json()["error"]
        unknown = await http.post("/v1/sessions", json={"device": "gun-9", "profile": "piriformis"})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_device")
        profile = await http.post("/v1/sessions", json={"device": "sim-1", "profile": "nope"})
        assert profile.json()["code"] in ("unknown_profile", "device_busy")


async def test_dose_refusal_and_override(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, guns=1) as (_, http):
        body = {"profile": "upper-trapezius", "side": "left", "client": "c-17"}
        first = await _start(http, "sim-1", **body)
        await until_session(http, first, "completed")
        refused = await http.post("/v1/sessions", json={"device": "sim-1", **body})
        assert (refused.status_code, refused.json()["code"]) == (409, "dose_refused")
        assert "needs 24 h to recover" in refused.json()["error"]
        other_side = await _start(http, "sim-1", **{**body, "side": "right"})
        await until_session(http, other_side, "completed")
        override = {**body, "override": "therapist decided: light session"}
        again = await _start(http, "sim-1", **override)
        await until_session(http, again, "completed")
    record = JournalReader(tmp_path / "journal.sqlite3").session(again)
    assert record is not None and record.override_reason == "therapist decided: light session"
