"""Permissions through a running daemon: a read-only integrator's command never reaches a gun,
the operator's does."""

from __future__ import annotations

import json
from pathlib import Path

import aiomqtt
from daemon_run import running_daemon, until_session
from mqtt_broker import Broker, Subscriber, require_mosquitto

from tpdevice.mqtt.extension import mqtt_extension
from tpdevice.mqtt.settings import MqttSettings

START = "tpdevice/acl/sim-1/request/start"


async def _publish_as(broker: Broker, user: str, payload: dict[str, str]) -> None:
    """Publish one QoS 1 request as `user`; returns once the broker acknowledged it."""
    settings = MqttSettings.from_url(broker.url(user))
    async with aiomqtt.Client(
        settings.host, settings.port, username=settings.username, password=settings.password,
        protocol=aiomqtt.ProtocolVersion.V311,
    ) as client:  # fmt: skip
        await client.publish(START, json.dumps(payload).encode(), qos=1)


async def test_a_reader_s_start_is_not_executed_and_the_operator_s_is(
    broker: Broker, tmp_path: Path
) -> None:
    require_mosquitto()
    subscriber = Subscriber(broker, "tpdevice/acl/sim-1/response/+")
    await subscriber.start()
    extensions = [mqtt_extension(broker.url() + "?node=acl")]
    async with running_daemon(tmp_path, guns=1, extensions=extensions) as (_, http):
        request = {"profile": "upper-trapezius", "side": "left"}
        # The broker drops a denied publish before acknowledging it: once the reader's PUBACK
        # is in, that request can no longer reach the daemon, whatever comes after it.
        await _publish_as(broker, "reader", {**request, "transaction": "reader"})
        await _publish_as(broker, "operator", {**request, "transaction": "operator"})
        await subscriber.wait_for(1, "/response/start")
        sessions = (await http.get("/v1/sessions")).json()
        assert len(sessions) == 1
        await until_session(http, sessions[0]["id"], "completed")
    await subscriber.stop()
    replies = [json.loads(payload) for _, payload, _ in subscriber.messages]
    assert [(r["transaction"], r["status"]) for r in replies] == [("operator", "ok")]
    assert replies[0]["data"]["id"] == sessions[0]["id"]
