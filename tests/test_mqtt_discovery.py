"""Home Assistant discovery over a real broker: the documented shape, re-announce, removal."""

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

from tpdevice.daemon.journal import Journal
from tpdevice.mqtt.bridge import MqttBridge
from tpdevice.mqtt.discovery import SESSION_EVENT_TYPES
from tpdevice.mqtt.settings import MqttSettings

CONFIG = "homeassistant/device/tpdevice_node_h_gun_1/config"
BASE = "tpdevice/node-h"


@pytest.fixture
async def bridged(broker: Broker, tmp_path: Path) -> AsyncIterator[tuple[FakeDaemon, MqttBridge]]:
    daemon = FakeDaemon()
    journal = Journal.open(tmp_path / "j.sqlite3", now_wall=time.time())
    url = broker.url() + ("&" if "?" in broker.url() else "?") + "node=node-h"
    bridge = MqttBridge(daemon, MqttSettings.from_url(url), journal,
                        discovery_prefix="homeassistant")  # fmt: skip
    await bridge.start()
    await asyncio.wait_for(bridge.announced.wait(), 10)
    yield daemon, bridge
    await bridge.close()
    journal.close()


async def _publish(broker: Broker, topic: str, payload: bytes, retain: bool = False) -> None:
    settings = MqttSettings.from_url(broker.url())
    async with aiomqtt.Client(
        settings.host, settings.port, username=settings.username, password=settings.password,
        protocol=aiomqtt.ProtocolVersion.V311,
    ) as client:  # fmt: skip
        await client.publish(topic, payload, qos=1, retain=retain)


def _configs(subscriber: Subscriber) -> list[bytes]:
    return [p for t, p, _ in subscriber.messages if t == CONFIG]


async def test_each_gun_is_announced_in_the_documented_shape(
    broker: Broker, bridged: tuple[FakeDaemon, MqttBridge]
) -> None:
    subscriber = Subscriber(broker, "homeassistant/#")
    await subscriber.start()
    await subscriber.wait_for(1, "/config")
    await subscriber.stop()
    (raw,) = _configs(subscriber)
    config: dict[str, Any] = json.loads(raw)
    assert config["dev"]["ids"] == ["tpdevice_node_h_gun_1"]
    assert config["state_topic"] == f"{BASE}/gun-1"
    assert [a["topic"] for a in config["availability"]] == [
        f"{BASE}/bridge/state", f"{BASE}/gun-1/availability",
    ]  # fmt: skip
    assert config["availability_mode"] == "all"
    components = config["cmps"]
    platforms = {name: c["p"] for name, c in components.items()}
    assert platforms == {
        "battery": "sensor", "rate": "sensor", "force": "sensor", "motor_temperature": "sensor",
        "session_state": "sensor", "current_profile": "sensor", "elapsed": "sensor",
        "remaining": "sensor", "profile": "select", "start": "button", "stop": "button",
        "session_event": "event",
    }  # fmt: skip
    assert components["profile"]["options"] == ["piriformis"]
    assert components["session_event"]["event_types"] == list(SESSION_EVENT_TYPES)
    assert len({c["unique_id"] for c in components.values()}) == len(components)


async def test_home_assistant_coming_online_gets_the_config_again(
    broker: Broker, bridged: tuple[FakeDaemon, MqttBridge]
) -> None:
    subscriber = Subscriber(broker, CONFIG)
    await subscriber.start()
    await subscriber.wait_for(1, "/config")
    await _publish(broker, "homeassistant/status", b"online")
    await subscriber.wait_for(2, "/config")
    await subscriber.stop()


async def test_select_then_start_runs_the_selected_profile(
    broker: Broker, bridged: tuple[FakeDaemon, MqttBridge]
) -> None:
    daemon, _ = bridged
    subscriber = Subscriber(broker, f"{BASE}/gun-1/response/+")
    await subscriber.start()
    await _publish(broker, f"{BASE}/gun-1/request/start", b"{}")
    await subscriber.wait_for(1, "/start")
    refusal = json.loads(subscriber.messages[-1][1])
    assert (refusal["code"], refusal["error"]) == (
        "invalid_field", "profile: give one, or choose one with select_profile first",
    )  # fmt: skip
    await _publish(broker, f"{BASE}/gun-1/request/select_profile", b'{"profile": "piriformis"}')
    await subscriber.wait_for(1, "/select_profile")
    await _publish(broker, f"{BASE}/gun-1/request/start", b"{}")  # what the Start button sends
    await subscriber.wait_for(2, "/start")
    await subscriber.stop()
    assert [request.profile for request in daemon.started] == ["piriformis"]


async def test_a_removed_gun_clears_its_discovery(
    broker: Broker, bridged: tuple[FakeDaemon, MqttBridge]
) -> None:
    daemon, _ = bridged
    daemon.update_gun(state="removed")
    await asyncio.sleep(0.2)
    subscriber = Subscriber(broker, CONFIG, f"{BASE}/bridge/devices")
    await subscriber.start()
    await subscriber.wait_for(1, "/devices")
    await asyncio.sleep(0.1)
    await subscriber.stop()
    assert _configs(subscriber) == []  # no retained config any more
    devices = [json.loads(p) for t, p, _ in subscriber.messages if t.endswith("/devices")]
    assert devices[-1] == []
