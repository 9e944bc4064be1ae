"""The broker killed for 10 s mid-session and restarted: through the whole daemon, an integrator
gets every event exactly once and in order, and the retained state comes back."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from daemon_run import running_daemon, until_session
from mqtt_broker import Broker, Subscriber
from paho.mqtt.enums import CallbackAPIVersion

from tpdevice.mqtt.extension import mqtt_extension
from tpdevice.mqtt.settings import MqttSettings

OUTAGE_S = 10.0
TIME_SCALE = 25.0  # the session outlasts the outage; its holds do not take real minutes
EVENTS = "tpdevice/outage/sim-1/events"


class Watcher:
    """A paho client in its own thread, so it can subscribe while the daemon's loop is held."""

    def __init__(self, broker: Broker) -> None:
        settings = MqttSettings.from_url(broker.url("reader"))
        self._address = (settings.host, settings.port)
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        if settings.username:
            self._client.username_pw_set(settings.username, settings.password)
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self.events: list[dict[str, object]] = []

    def connect(self) -> None:
        """Connect and subscribe, blocking until the broker acknowledged the subscription."""
        self._subscribed.clear()
        self._client.connect(*self._address)
        self._client.loop_start()
        self._client.subscribe(EVENTS, qos=1)
        assert self._subscribed.wait(10)

    def disconnect(self) -> None:
        """Stop the network thread (the broker may already be gone)."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _client: object, _data: object, message: paho.MQTTMessage) -> None:
        self.events.append(json.loads(message.payload))


async def _until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.timeout(90)  # 10 s of outage, then the bridge's reconnect backoff (up to 10 s)
async def test_a_broker_outage_mid_session_loses_and_repeats_nothing(
    broker: Broker, tmp_path: Path
) -> None:
    watcher = Watcher(broker)
    watcher.connect()
    url = broker.url() + ("&" if "?" in broker.url() else "?") + "node=outage"
    extensions = [mqtt_extension(url)]
    async with running_daemon(tmp_path, 1, TIME_SCALE, extensions) as (_, http):
        reply = await http.post(
            "/v1/sessions", json={"device": "sim-1", "profile": "upper-trapezius", "side": "left"}
        )
        session_id = reply.json()["id"]
        await _until(lambda: len(watcher.events) >= 2, 10)
        broker.kill()
        watcher.disconnect()
        await asyncio.sleep(OUTAGE_S)  # real downtime: the session goes on, events are journaled
        during = (await http.get(f"/v1/sessions/{session_id}")).json()
        # Blocking calls hold the daemon's loop: the watcher subscribes before the bridge is back.
        broker.start()
        watcher.connect()
        await until_session(http, session_id, "completed", timeout_s=60)
        await _until(lambda: watcher.events[-1]["type"] == "session.completed", 30)
        retained = Subscriber(broker, "tpdevice/outage/bridge/state", "tpdevice/outage/sim-1")
        await retained.start()
        await retained.wait_for(2)
        await retained.stop()
    watcher.disconnect()
    assert during["state"] == "running"  # the outage fell inside the session
    seqs = [int(event["device_seq"]) for event in watcher.events]  # type: ignore[call-overload]
    unique = list(dict.fromkeys(seqs))  # QoS 1 may deliver one twice, never out of order
    assert unique == sorted(unique) == list(range(1, len(unique) + 1))
    states = {t: json.loads(p) for t, p, retained in retained.messages if retained}
    assert states["tpdevice/outage/bridge/state"] == {"state": "online"}
    assert states["tpdevice/outage/sim-1"]["state"] == "ready"
