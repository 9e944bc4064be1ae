"""The daemon on MQTT against a real broker: retained state, availability, telemetry, commands."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from daemon_helpers import FakeDaemon
from mqtt_broker import Broker, Subscriber

from tpdevice.daemon.control import TelemetrySample
from tpdevice.daemon.journal import Journal
from tpdevice.mqtt.bridge import MqttBridge
from tpdevice.mqtt.settings import MqttSettings

BASE = "tpdevice/node-b"


@pytest.fixture
async def bridged(broker: Broker, tmp_path: Path) -> AsyncIterator[tuple[FakeDaemon, MqttBridge]]:
    daemon = FakeDaemon()
    journal = Journal.open(tmp_path / "j.sqlite3", now_wall=time.time())
    settings = MqttSettings.from_url(broker.url() + ("&" if "?" in broker.url() else "?")
                                     + "node=node-b")  # fmt: skip
    bridge = MqttBridge(daemon, settings, journal, telemetry_hz=2.0)
    await bridge.start()
    await asyncio.wait_for(bridge.link.connected.wait(), 10)
    yield daemon, bridge
    await bridge.close()
    journal.close()


def _last(subscriber: Subscriber, topic: str) -> Any:
    payloads = [p for t, p, _ in subscriber.messages if t == topic]
    return json.loads(payloads[-1]) if payloads else None


async def test_retained_state_is_there_for_a_late_subscriber(
    broker: Broker, bridged: tuple[FakeDaemon, MqttBridge]
) -> None:
    await asyncio.wait_for(bridged[1].announced.wait(), 10)
    subscriber = Subscriber(broker, f"{BASE}/#")
    await subscriber.start()
    await subscriber.wait_for(5)  # bridge state, info, devices; gun availability and state
    await subscriber.stop()
    assert all(retained for _, _, retained in subscriber.messages)
    assert _last(subscriber, f"{BASE}/bridge/state") == {"state": "online"}
    assert _last(subscriber, f"{BASE}/bridge/info")["node"] == "node-b"
    assert _last(subscriber, f"{BASE}/bridge/devices")[0]["id"] == "gun-1"
    assert _last(subscriber, f"{BASE}/gun-1/availability") == {"state": "online"}
    assert _last(subscriber, f"{BASE}/gun-1")["state"] == "ready"


async def test_a_gun_change_is_published_and_a_broker_restart_loses_no_state(
    broker: Broker, bridged: tuple[FakeDaemon, MqttBridge]
) -> None:
    daemon, bridge = bridged
    daemon.update_gun(state="disconnected", battery_pct=41.0)
    broker.kill()  # persistence is off: the broker forgets every retained message
    broker.start()
    await asyncio.wait_for(_until(lambda: bridge.link.reconnects == 1), 10)
    subscriber = Subscriber(broker, f"{BASE}/gun-1/#", f"{BASE}/gun-1")
    await subscriber.start()
    await subscriber.wait_for(2, "gun-1")
    await subscriber.stop()
    assert _last(subscriber, f"{BASE}/gun-1/availability") == {"state": "offline"}
    assert _last(subscriber, f"{BASE}/gun-1")["battery_pct"] == 41.0


async def test_telemetry_is_thinned_to_the_configured_rate(
    broker: Broker, bridged: tuple[FakeDaemon, MqttBridge]
) -> None:
    daemon, _ = bridged
    subscriber = Subscriber(broker, f"{BASE}/+/telemetry")
    await subscriber.start()
    for i in range(20):  # 20 samples within 0.1 s; 2 Hz lets the first through
        daemon.samples.put_nowait(TelemetrySample(
            device_id="gun-1", time="2026-12-04T10:00:00.000Z", freq_hz=33.0 + i,
            force_n=None, contact=False,
        ))  # fmt: skip
        await asyncio.sleep(0.005)
    await subscriber.wait_for(1, "telemetry")
    await asyncio.sleep(0.2)
    await subscriber.stop()
    telemetry = [json.loads(p) for t, p, r in subscriber.messages if not r]
    assert [s["freq_hz"] for s in telemetry] == [33.0]


async def test_requests_reach_the_daemon(
    broker: Broker, bridged: tuple[FakeDaemon, MqttBridge]
) -> None:
    daemon, _ = bridged
    subscriber = Subscriber(broker, f"{BASE}/+/response/+")
    await subscriber.start()

    settings = MqttSettings.from_url(broker.url())
    async with aiomqtt.Client(
        settings.host, settings.port, username=settings.username, password=settings.password,
        protocol=aiomqtt.ProtocolVersion.V311,
    ) as client:  # fmt: skip
        await client.publish(f"{BASE}/gun-1/request/start", b'{"profile":"piriformis"}', qos=1)
        await client.publish(f"{BASE}/bridge/request/list_profiles", b"{}", qos=1)
        await client.publish(f"{BASE}/gun-1/request/pause", b"{}", qos=1)
        await subscriber.wait_for(3, "/response/")
    await subscriber.stop()
    assert daemon.started[0].device == "gun-1"
    assert _last(subscriber, f"{BASE}/bridge/response/list_profiles")["data"][0]["id"] == (
        "piriformis"
    )
    pause = _last(subscriber, f"{BASE}/gun-1/response/pause")
    assert (pause["code"], pause["error"]) == ("bad_state", "gun-1: no session is running")


async def _until(condition: Any) -> None:
    while not condition():  # noqa: ASYNC110 - the link offers no event for its counter
        await asyncio.sleep(0.01)
