"""`tpdevice run --device ID` and `session start --follow` through a running daemon process:
the same events, summary and exit codes as a standalone run."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli_helpers import write_sweeps
from daemon_proc import cli, cli_env, daemon_process, spawn, until_ready
from daemon_run import running_daemon, until_session

from tpdevice.cli.daemon_async import AsyncDaemon
from tpdevice.cli.keys import KeyAction
from tpdevice.cli.remote_run import DaemonWatch
from tpdevice.cli.run_output import JsonRunOutput
from tpdevice.cli.run_view import RunHeader

CONFIG = "devices:\n  - id: gun-1\n    address: sim?id=1\n"
FAR = "  - id: far\n    address: tcp://127.0.0.1:9\n    auto_connect: false\n"


def _setup(tmp_path: Path) -> Path:
    """Two profiles every process finds (the per-user folder) and the daemon's config."""
    profiles = tmp_path / "config" / "tpdevice" / "profiles"
    profiles.mkdir(parents=True)
    write_sweeps(profiles, "three-sweeps", 5, 5, 5)
    write_sweeps(profiles, "long-sweeps", 60, 60)
    config = tmp_path / "clinic.yaml"
    config.write_text(CONFIG)
    return config


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def _kinds(lines: list[dict[str, Any]]) -> list[str]:
    return [line["type"] for line in lines if line["type"] != "telemetry"]


async def test_run_by_id_goes_through_the_daemon_like_a_standalone_run(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    async with daemon_process(tmp_path, "--config", str(config)) as (env, http):
        await until_ready(http, "gun-1")
        code, out, err = await cli(env, "run", "three-sweeps", "--device", "gun-1", "--json")
        assert code == 0, err
        sessions = (await http.get("/v1/sessions")).json()
        assert [s["device_id"] for s in sessions] == ["gun-1"]  # the daemon ran it
        assert f"session {sessions[0]['id']} on gun-1" in err
        code, alone, _ = await cli(
            env, "run", "three-sweeps", "--json", "--time-scale", "50", "--no-journal"
        )
        assert code == 0
    remote, local = _lines(out), _lines(alone)
    assert _kinds(remote) == _kinds(local)
    assert _kinds(remote)[0] == "profile.safety" and _kinds(remote)[-1] == "summary"
    assert remote[-1].keys() == local[-1].keys()
    assert (remote[-1]["outcome"], remote[-1]["steps_completed"]) == ("completed", 3)
    assert remote[-1]["session_id"] == sessions[0]["id"]
    assert {line["session_id"] for line in remote if "session_id" in line} == {sessions[0]["id"]}


async def test_session_start_follow_shows_the_view_and_ends_with_the_summary(
    tmp_path: Path,
) -> None:
    config = _setup(tmp_path)
    async with daemon_process(tmp_path, "--config", str(config)) as (env, http):
        await until_ready(http, "gun-1")
        code, out, err = await cli(
            env, "session", "start", "three-sweeps", "--device", "gun-1", "--follow",
            "--client", "c-1",
        )  # fmt: skip
        assert code == 0, err
        assert "Session completed: 3/3 steps done" in out
        assert "Steps: planned → actual" in out and "Test sweeps" in out
        session = (await http.get("/v1/sessions")).json()[0]
        assert (session["client"], session["state"]) == ("c-1", "completed")


async def test_ctrl_c_stops_the_daemons_session_and_still_summarises(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    async with daemon_process(tmp_path, "--config", str(config), time_scale=5) as (env, http):
        await until_ready(http, "gun-1")
        process = await spawn(
            env, "session", "start", "long-sweeps", "--device", "gun-1", "--follow", "--json"
        )
        assert process.stdout is not None
        while True:  # the first step is under way
            line = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
            if line["type"] == "step.started":
                break
        process.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 130, err
        last = _lines(rest.decode())[-1]
        assert (last["type"], last["outcome"], last["reason"]) == ("summary", "aborted", "user")
        session = (await http.get(f"/v1/sessions/{last['session_id']}")).json()
        assert session["state"] == "aborted"


async def test_bad_devices_are_one_line(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    config.write_text(CONFIG + FAR)
    async with daemon_process(tmp_path, "--config", str(config), time_scale=None) as (env, http):
        await until_ready(http, "gun-1")
        for args, words in [
            (("--device", "gun-9"), "the running daemon has no gun 'gun-9' (its guns: gun-1, far)"),
            (("--device", "tcp://127.0.0.1:9"), "the daemon drives tcp://127.0.0.1:9 as far"),
            (("--device", "gun-1", "--time-scale", "5"), "--time-scale: gun-1 runs through"),
            (("--device", "gun-1", "--side", "up"), "--side: 'up'"),
        ]:
            code, out, err = await cli(env, "run", "three-sweeps", *args, "--json")
            assert (code, out) == (2, "") and words in err and err.count("\n") == 1, err
        code, _, err = await cli(env, "run", "three-sweeps", "--device", "far", "--yes")
        assert code == 1 and "far is not connected" in err and err.count("\n") == 1, err
        body = {"device": "gun-1", "profile": "long-sweeps"}
        session_id = (await http.post("/v1/sessions", json=body)).json()["id"]
        code, _, err = await cli(env, "run", "three-sweeps", "--device", "gun-1", "--json")
        assert code == 1 and f"gun-1 is running session {session_id}" in err, err
        assert err.count("\n") == 1


async def test_a_configured_id_runs_standalone_when_no_daemon_runs(tmp_path: Path) -> None:
    _setup(tmp_path)
    default = tmp_path / "config" / "tpdevice" / "daemon.yaml"
    default.write_text("devices:\n  - id: gun-a\n    address: sim?id=3\n")
    env = cli_env(tmp_path, tmp_path / "nobody.sock")
    code, out, err = await cli(
        env, "run", "three-sweeps", "--device", "gun-a", "--json", "--time-scale", "50"
    )
    assert code == 0, err
    assert "no daemon is running: gun-a runs here at sim?id=3" in err
    assert _lines(out)[-1]["outcome"] == "completed"
    code, _, err = await cli(env, "run", "three-sweeps", "--device", "gun-b")
    assert code == 2 and f"nor is it a gun id in {default}" in err and err.count("\n") == 1


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


async def test_keys_pause_resume_skip_and_stop_the_daemons_session(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    async with daemon_process(tmp_path, "--config", str(config), time_scale=5) as (env, http):
        await until_ready(http, "gun-1")
        body = {"device": "gun-1", "profile": "long-sweeps"}
        session_id = (await http.post("/v1/sessions", json=body)).json()["id"]
        async with AsyncDaemon(Path(env["TPDEVICE_SOCKET"])) as daemon:
            watch = DaemonWatch(daemon, session_id, "gun-1", JsonRunOutput())
            header = RunHeader("long-sweeps", "Test sweeps", "test region", "midline", "gun-1")
            run = asyncio.create_task(watch.run(header))
            await _until(lambda: watch.now_s() > 0)
            watch.on_key(KeyAction.TOGGLE_PAUSE)
            await _until(lambda: watch.paused)
            watch.on_key(KeyAction.TOGGLE_PAUSE)
            await _until(lambda: not watch.paused)
            watch.on_key(KeyAction.SKIP)
            await until_session(http, session_id, "running")
            await _until(lambda: watch.now_s() > 0)
            watch.on_key(KeyAction.STOP)
            summary, interrupted = await asyncio.wait_for(run, 30)
    assert not interrupted
    assert (summary.outcome, summary.reason, summary.steps_skipped) == ("aborted", "user", 1)
    assert summary.paused_s > 0


async def test_a_follower_whose_reader_goes_away_stops_the_session(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    async with daemon_process(tmp_path, "--config", str(config), time_scale=5) as (env, http):
        await until_ready(http, "gun-1")
        process = await spawn(
            env, "session", "start", "long-sweeps", "--device", "gun-1", "--follow", "--json"
        )
        assert process.stdout is not None and process.stderr is not None
        first = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        transport = process._transport  # type: ignore[attr-defined]
        transport.get_pipe_transport(1).close()  # the reader of stdout goes away
        err = await asyncio.wait_for(process.stderr.read(), 30)
        assert await process.wait() == 1
        assert b"broken pipe" in err, err
        session = (await http.get("/v1/sessions")).json()[0]
        assert (session["id"], session["state"]) == (first["session_id"], "aborted")


async def test_a_session_stream_replays_its_events_and_ends_with_the_session(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path, guns=2) as (_, http):
        unknown = await http.get("/v1/sessions/nope/events")
        assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_session")
        other = await http.post("/v1/sessions", json={"device": "sim-2", "profile": "piriformis"})
        body = {"device": "sim-1", "profile": "upper-trapezius", "side": "left"}
        session_id = (await http.post("/v1/sessions", json=body)).json()["id"]
        await until_session(http, session_id, "completed")
        events = []
        async with http.stream("GET", f"/v1/sessions/{session_id}/events") as reply:
            async for line in reply.aiter_lines():  # ends by itself after the session's end
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
        await http.post(f"/v1/sessions/{other.json()['id']}/stop")
    kinds = [envelope["event"]["type"] for envelope in events]
    assert kinds[0] == "session.started" and kinds[-1] == "session.completed"
    assert {envelope["event"]["session_id"] for envelope in events} == {session_id}
    seqs = [envelope["event"]["seq"] for envelope in events]
    assert seqs == list(range(1, len(seqs) + 1))
