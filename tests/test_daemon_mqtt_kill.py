"""`kill -9` of a daemon bridged to MQTT mid-session: its last will says offline (retained) and
the gun, in its own process, stops its motor by watchdog."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from mqtt_broker import Broker, Subscriber
from test_daemon_kill import (  # noqa: F401 - tcp_gun is a fixture
    _setup,
    _spawn,
    start_into_the_hold,
    tcp_gun,
    until_the_watchdog_stops,
)

STATE = "tpdevice/kill/bridge/state"


async def _daemon(tmp_path: Path, url: str, address: str) -> asyncio.subprocess.Process:
    config, env = _setup(tmp_path, address)
    process = await _spawn(
        "daemon", "--config", str(config), "--socket", str(tmp_path / "run" / "api.sock"),
        "--journal", str(tmp_path / "journal.sqlite3"), "--mqtt", url, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    line = await asyncio.wait_for(process.stderr.readline(), 20)
    assert b"control API on" in line, line
    return process


def _states(subscriber: Subscriber) -> list[str]:
    return [json.loads(p)["state"] for t, p, _ in subscriber.messages if t == STATE and p]


async def test_a_killed_daemon_says_offline_by_its_will_and_the_motor_stops(
    broker: Broker,
    tmp_path: Path,
    tcp_gun: tuple[str, asyncio.subprocess.Process],  # noqa: F811 - the imported fixture
) -> None:
    address, gun = tcp_gun
    subscriber = Subscriber(broker, STATE, "tpdevice/kill/gun-1/events")
    await subscriber.start()
    sep = "&" if "?" in broker.url() else "?"
    daemon = await _daemon(tmp_path, broker.url() + f"{sep}node=kill", address)
    await start_into_the_hold(tmp_path)
    await subscriber.wait_for(1, "/events")  # the session is on the broker: the bridge is live
    assert _states(subscriber)[-1] == "online"
    daemon.send_signal(signal.SIGKILL)
    await daemon.wait()
    await until_the_watchdog_stops(gun)
    for _ in range(500):
        if _states(subscriber)[-1] == "offline":
            break
        await asyncio.sleep(0.01)
    await subscriber.stop()
    assert _states(subscriber)[-1] == "offline"
    late = Subscriber(broker, STATE)  # a subscriber coming later gets the retained will
    await late.start()
    await late.wait_for(1)
    await late.stop()
    assert [json.loads(p)["state"] for _, p, retained in late.messages if retained] == ["offline"]
