"""MqttLink.publish: queued for the socket in the caller's step, failing at once on a lost link."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiomqtt
import pytest

from tpdevice.mqtt.link import MqttLink, MqttUnavailableError
from tpdevice.mqtt.settings import MqttSettings
from tpdevice.mqtt.topics import Topics


class _Client:
    """Stands in for aiomqtt.Client: notes each publish, then waits for its acknowledgement."""

    def __init__(self) -> None:
        self.topics: list[str] = []
        self.acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def publish(self, topic: str, payload: bytes, **options: Any) -> None:
        self.topics.append(topic)  # paho queues the packet for the socket here
        await self.acked


def _connected_link() -> tuple[MqttLink, _Client, asyncio.Future[None]]:
    link = MqttLink(MqttSettings.from_url("mqtt://127.0.0.1:1883"), Topics("node-p"))
    client, lost = _Client(), asyncio.get_running_loop().create_future()
    link._client = cast(aiomqtt.Client, client)
    link._lost_future = lost
    link.connected.set()
    return link, client, lost


async def test_a_publish_is_handed_to_the_client_in_the_callers_own_step() -> None:
    link, client, _ = _connected_link()
    publishing = asyncio.create_task(link.publish("t/1", b"x", qos=1))
    await asyncio.sleep(0)  # one step of `publishing`: no further loop pass before the client
    assert client.topics == ["t/1"]
    client.acked.set_result(None)
    await publishing


async def test_a_publish_fails_at_once_when_the_link_drops() -> None:
    link, _, lost = _connected_link()
    publishing = asyncio.create_task(link.publish("t/1", b"x", qos=1))
    await asyncio.sleep(0)
    lost.set_result(None)
    with pytest.raises(MqttUnavailableError, match=r"^mqtt://127\.0\.0\.1:1883: connection lost$"):
        await publishing
    assert publishing.cancelling() == 0  # the link's own cancel was taken back


async def test_cancelling_the_publisher_still_cancels_it() -> None:
    link, _, lost = _connected_link()
    publishing = asyncio.create_task(link.publish("t/1", b"x", qos=1))
    await asyncio.sleep(0)
    publishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await publishing
    lost.set_result(None)  # after the publish ended: nothing left to cancel
    await asyncio.sleep(0)


async def test_a_link_lost_after_the_publish_leaves_the_publisher_alone() -> None:
    link, client, lost = _connected_link()
    client.acked.set_result(None)

    async def publish_then_wait() -> str:
        await link.publish("t/1", b"x", qos=1)
        lost.set_result(None)  # its callback runs after the publish returned
        await asyncio.sleep(0.01)
        return "done"

    assert await publish_then_wait() == "done"
