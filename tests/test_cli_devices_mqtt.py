"""`tpdevice devices list --mqtt URL`: reading the retained messages, and its one-line failures."""

from __future__ import annotations

import asyncio
import json

import pytest
from cli_helpers import run_main
from mqtt_broker import Broker, free_port, publish, require_mosquitto

from tpdevice.mqtt.fleet import guns_of

DEVICES = json.dumps([{"id": "gun-1", "name": "Room 2", "address": "sim?id=1",
                       "driver": "native", "model": None, "firmware": "1.4"}]).encode()  # fmt: skip
ONLINE = b'{"state":"online"}'


def test_a_gun_of_a_dead_daemon_is_offline_whatever_its_own_topic_says() -> None:
    retained = {
        "tpdevice/a/bridge/state": ONLINE,
        "tpdevice/a/bridge/devices": DEVICES,
        "tpdevice/a/gun-1": b'{"state":"ready","battery_pct":80.0,"session":null}',
        "tpdevice/a/gun-1/availability": ONLINE,
        "tpdevice/b/bridge/state": b'{"state":"offline"}',  # the last will
        "tpdevice/b/bridge/devices": DEVICES,
        "tpdevice/b/gun-1/availability": ONLINE,
    }
    a, b = guns_of(retained)
    assert (a.node, a.id, a.state, a.availability, a.battery_pct) == (
        "a", "gun-1", "ready", "online", 80.0
    )  # fmt: skip
    assert (b.node, b.state, b.availability, b.firmware) == ("b", "unknown", "offline", "1.4")


def test_payloads_of_other_clients_are_ignored() -> None:
    retained = {
        "tpdevice/x/bridge/devices": b"not json",
        "tpdevice/y/bridge/devices": b'{"id": "gun-1"}',
        "tpdevice/z/bridge/devices": b'[1, {"name": "no id"}, {"id": "g"}]',
        "tpdevice/z/g": b"[]",
    }
    assert [(g.node, g.id, g.state) for g in guns_of(retained)] == [("z", "g", "unknown")]


def test_a_bad_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "devices", "list", "--mqtt", "http://broker")
    assert (code, out) == (2, "")
    assert err == "tpdevice: error: --mqtt: http://broker: the scheme must be mqtt:// or mqtts://\n"


def test_mqtt_and_socket_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("devices", "list", "--mqtt", "mqtt://h", "--socket", "/tmp/s")
    code, _, err = run_main(capsys, *argv)
    assert code == 2 and "--mqtt and --socket" in err


def test_an_unreachable_broker_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"mqtt://operator:pw-x@127.0.0.1:{free_port()}"
    code, out, err = run_main(capsys, "devices", "list", "--mqtt", url)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "127.0.0.1" in err and "pw-x" not in err


def test_a_refused_login_is_one_line(broker: Broker, capsys: pytest.CaptureFixture[str]) -> None:
    require_mosquitto()
    url = f"mqtt://reader:wrong-secret@127.0.0.1:{broker.port}"
    code, out, err = run_main(capsys, "devices", "list", "--mqtt", url)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "reader@127.0.0.1" in err and "wrong-secret" not in err


def test_a_broker_without_daemons_lists_nothing(
    broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(capsys, "devices", "list", "--mqtt", broker.url("reader"), "--json")
    assert (code, out, err) == (0, "[]\n", "")
    code, out, err = run_main(capsys, "devices", "list", "--mqtt", broker.url("reader"))
    assert (code, out) == (0, "")
    assert err.startswith("tpdevice devices: no daemon publishes guns on mqtt://")


def test_the_table_has_a_row_per_gun_of_every_node(
    broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(publish(broker, retain=True, messages={
        "tpdevice/room-2/bridge/state": ONLINE,
        "tpdevice/room-2/bridge/devices": DEVICES,
        "tpdevice/room-2/gun-1": b'{"state":"running","session":null}',
        "tpdevice/room-2/gun-1/availability": ONLINE,
        "tpdevice/room-3/bridge/state": ONLINE,
        "tpdevice/room-3/bridge/devices": DEVICES,
    }))  # fmt: skip
    code, out, err = run_main(capsys, "devices", "list", "--mqtt", broker.url("reader"))
    assert (code, err) == (0, "")
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines()]
    assert [row for row in rows if row and row[1] == "gun-1"] == [
        ["room-2", "gun-1", "Room 2", "native", "running", "online"],
        ["room-3", "gun-1", "Room 2", "native", "unknown", "offline"],
    ]
