"""The test broker's own rules: passwords required, and only the operator may publish."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest
from mqtt_broker import USERS, Broker, Subscriber, require_mosquitto


async def _publish_as(broker: Broker, user: str, topic: str) -> None:
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username=user, password=USERS[user]
    ) as client:
        await client.publish(topic, b"{}", qos=1)


async def test_only_the_operator_may_publish_requests(broker: Broker) -> None:
    require_mosquitto()
    subscriber = Subscriber(broker, "tpdevice/#")
    await subscriber.start()
    await _publish_as(broker, "reader", "tpdevice/n/bridge/request/stop_all")
    await _publish_as(broker, "operator", "tpdevice/n/bridge/request/status")
    await subscriber.wait_for(1, "/request/")
    await asyncio.sleep(0.1)  # a denied publish is dropped silently: give it time to show up
    await subscriber.stop()
    assert [t for t, _, _ in subscriber.messages] == ["tpdevice/n/bridge/request/status"]


async def test_a_client_without_a_password_is_refused(broker: Broker) -> None:
    require_mosquitto()
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", broker.port):
            pass
