"""`tpdevice devices add|remove` against a running daemon: the config rewritten, the gun live."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_helpers import run_main
from daemon_proc import cli, daemon_process, until_ready
from daemon_run import running_daemon, until_session

from tpdevice.daemon.config import DeviceConfig
from tpdevice.daemon.config_edit import add_device_to_file, remove_device_from_file

CONFIG = """\
# the clinic's guns
node: room-2
devices:
  - id: gun-1   # the first one
    address: sim?id=1
"""


async def test_add_start_refuse_remove_while_the_daemon_runs(tmp_path: Path) -> None:
    config = tmp_path / "clinic.yaml"
    config.write_text(CONFIG)
    async with daemon_process(tmp_path, "--config", str(config)) as (env, http):
        code, out, err = await cli(
            env, "devices", "add", "gun-2", "sim?id=2", "--name", "Room 3", "--config", str(config)
        )
        assert (code, err) == (0, "") and "the daemon drives it now" in out
        await until_ready(http, "gun-2")
        code, out, _ = await cli(env, "session", "start", "piriformis", "--device", "gun-2")
        assert code == 0
        session_id = out.strip()
        code, _, err = await cli(env, "devices", "remove", "gun-2", "--config", str(config))
        assert code == 2 and session_id in err and err.count("\n") == 1
        assert {d["id"] for d in (await http.get("/v1/devices")).json()} == {"gun-1", "gun-2"}
        text = config.read_text()
        assert text.startswith(CONFIG) and "id: gun-2" in text and "name: Room 3" in text
        await http.post(f"/v1/sessions/{session_id}/stop")
        await until_session(http, session_id, "aborted")
        code, out, _ = await cli(env, "devices", "remove", "gun-2", "--config", str(config))
        assert code == 0 and "the daemon dropped it" in out
        assert [d["id"] for d in (await http.get("/v1/devices")).json()] == ["gun-1"]
    assert config.read_text() == CONFIG


async def test_duplicates_and_unknown_ids_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "clinic.yaml"
    config.write_text(CONFIG)
    async with daemon_process(tmp_path, "--config", str(config), "--sim", "1") as (env, http):
        for args, words in [
            (("add", "gun-9", "sim?id=1"), "already configured as gun-1"),
            (("add", "sim-1", "sim?id=7"), "'sim-1' is already configured"),
            (("add", "Gun", "sim?id=7"), "ID: 'Gun'"),
            (("remove", "gun-9"), "no gun 'gun-9'"),
        ]:
            code, out, err = await cli(env, "devices", *args, "--config", str(config))
            assert (code, out) == (2, "") and words in err and err.count("\n") == 1, err
        code, out, _ = await cli(env, "devices", "remove", "sim-1", "--config", str(config))
        assert code == 0 and "sim-1 is not in" in out and "the daemon dropped it" in out
        assert [d["id"] for d in (await http.get("/v1/devices")).json()] == ["gun-1"]
    assert config.read_text() == CONFIG


async def test_the_running_daemon_s_own_config_is_the_one_edited(tmp_path: Path) -> None:
    config = tmp_path / "clinic.yaml"
    config.write_text(CONFIG)
    other = tmp_path / "other.yaml"
    async with daemon_process(tmp_path, "--config", str(config)) as (env, http):
        info = (await http.get("/v1/daemon")).json()
        assert info["config"] == str(config) and info["journal"].endswith(".sqlite3")
        code, out, err = await cli(env, "devices", "add", "gun-2", "sim?id=2")  # no --config
        assert (code, err) == (0, "") and f"to {config}; the daemon drives it now" in out
        code, out, err = await cli(
            env, "devices", "add", "gun-3", "sim?id=3", "--config", str(other)
        )
        assert (code, out) == (2, "")
        assert err == (
            f"tpdevice: error: --config: the running daemon keeps its guns in {config}, not"
            f" {other}: give that file (or no --config), or stop the daemon first\n"
        )
        code, out, _ = await cli(env, "devices", "remove", "gun-2")
        assert code == 0 and f"removed gun-2 from {config}; the daemon dropped it" in out
    assert config.read_text() == CONFIG and not other.exists()


async def test_without_a_daemon_the_default_config_is_edited_and_read(tmp_path: Path) -> None:
    socket = tmp_path / "none.sock"
    from daemon_proc import cli_env

    env = cli_env(tmp_path, socket)
    code, out, _ = await cli(env, "devices", "add", "gun-1", "sim?id=1")
    default = tmp_path / "config" / "tpdevice" / "daemon.yaml"
    assert code == 0 and f"to {default}; the daemon is not running" in out
    async with daemon_process(tmp_path) as (env, http):  # no --config: the per-user file
        await until_ready(http, "gun-1")


def test_other_guns_and_sections_survive_every_edit(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("api:\n  socket: /tmp/x.sock\ndevices: [{id: a, address: sim}]\n")
    add_device_to_file(path, DeviceConfig(id="b", name="x: y", address="sim?id=2"))
    remove_device_from_file(path, "a")
    add_device_to_file(path, DeviceConfig(id="c", address="tcp://127.0.0.1:9", auto_connect=False))
    data = yaml.safe_load(path.read_text())
    assert data["api"] == {"socket": "/tmp/x.sock"}
    assert data["devices"] == [
        {"id": "b", "name": "x: y", "address": "sim?id=2"},
        {"id": "c", "address": "tcp://127.0.0.1:9", "auto_connect": False},
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c.yaml.lock", "c.yaml"]  # no temp


def test_a_config_that_cannot_be_written_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TPDEVICE_SOCKET", str(tmp_path / "nobody.sock"))
    (tmp_path / "file").write_text("")
    config = tmp_path / "file" / "c.yaml"  # under a regular file: no folder can be made
    code, out, err = run_main(capsys, "devices", "add", "b", "sim", "--config", str(config))
    assert (code, out) == (1, "") and f"{config}: cannot write" in err
    assert err.count("\n") == 1


async def test_watchers_hear_of_an_adopted_and_a_removed_gun(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, guns=1) as (service, http):
        assert service.guns is not None
        watch = service.guns.watch_devices()
        assert (await anext(watch)).id == "sim-1"
        added = await http.post("/v1/devices", json={"id": "sim-2", "address": "sim?id=2"})
        assert (added.status_code, added.json()["id"]) == (201, "sim-2")
        again = await http.post("/v1/devices", json={"id": "sim-3", "address": "sim?id=2"})
        assert (again.status_code, again.json()["code"]) == (409, "device_exists")
        assert "sim-2 already drives sim?id=2" in again.json()["error"]
        assert (await http.delete("/v1/devices/sim-2")).json()["state"] == "removed"
        states = []
        async for info in watch:
            states.append((info.id, info.state))
            if info.state == "removed":
                break
        assert {device_id for device_id, _ in states} == {"sim-2"}
        assert states[-1] == ("sim-2", "removed")
        unknown = await http.delete("/v1/devices/sim-2")
        assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_device")


def test_the_per_user_config_is_read_without_config_and_sim(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tpdevice.cli.daemon_cmd import build_config
    from tpdevice.cli.errors import CliError

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pytest.raises(CliError, match="tpdevice devices add"):
        build_config(None, 0)
    add_device_to_file(tmp_path / "tpdevice" / "daemon.yaml", DeviceConfig(id="a", address="sim"))
    assert [d.id for d in build_config(None, 0).devices] == ["a"]
    assert [d.id for d in build_config(None, 2).devices] == ["sim-1", "sim-2"]
