"""Requests over a real broker: valid ones answered with the transaction, bad ones coded."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest
from mqtt_broker import USERS, Broker
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tpdevice.daemon.control import ControlError, ErrorCode
from tpdevice.mqtt.link import MqttLink
from tpdevice.mqtt.requests import Request
from tpdevice.mqtt.router import RequestRouter
from tpdevice.mqtt.settings import MqttSettings
from tpdevice.mqtt.topics import Topics

BASE = "tpdevice/node-a"


class Daemon:
    """Stands in for the daemon: knows one gun, records what it was asked."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def handle(self, request: Request) -> Any:
        if request.device_id not in (None, "gun-1"):
            raise ControlError(ErrorCode.UNKNOWN_DEVICE, f"no device {request.device_id!r}")
        self.requests.append(request)
        return {"command": request.command.value}


@contextlib.asynccontextmanager
async def _serving(broker: Broker, **limits: Any) -> AsyncIterator[Daemon]:
    daemon = Daemon()
    holder: list[RequestRouter] = []

    async def on_message(message: aiomqtt.Message) -> None:
        await holder[0].on_message(message)

    topics = Topics("node-a")
    link = MqttLink(
        MqttSettings.from_url(broker.url()), topics, on_message=on_message,
        subscriptions=topics.request_filters(),
    )  # fmt: skip
    holder.append(RequestRouter(link, daemon.handle, **limits))
    task = asyncio.create_task(link.run())
    await asyncio.wait_for(link.connected.wait(), 10)
    try:
        yield daemon
    finally:
        await link.close()
        await task


@contextlib.asynccontextmanager
async def _integrator(broker: Broker, protocol: int = 4) -> AsyncIterator[aiomqtt.Client]:
    version = aiomqtt.ProtocolVersion.V5 if protocol == 5 else aiomqtt.ProtocolVersion.V311
    user = "operator" if broker.authenticated else None
    password = USERS["operator"] if broker.authenticated else None
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, protocol=version, username=user, password=password
    ) as client:
        await client.subscribe(f"{BASE}/+/response/+", qos=1)
        yield client


async def _ask(client: aiomqtt.Client, target: str, command: str, payload: bytes) -> Any:
    await client.publish(f"{BASE}/{target}/request/{command}", payload, qos=1)
    async with asyncio.timeout(5):
        async for message in client.messages:
            if str(message.topic) == f"{BASE}/{target}/response/{command}":
                assert isinstance(message.payload, bytes)
                return json.loads(message.payload)
    raise AssertionError("no reply")


async def test_a_request_is_answered_with_its_transaction(broker: Broker) -> None:
    async with _serving(broker) as daemon, _integrator(broker) as client:
        reply = await _ask(client, "gun-1", "start", b'{"profile": "piriformis", "transaction": 7}')
        assert reply == {
            "status": "ok", "data": {"command": "start"}, "error": None, "code": None,
            "transaction": 7,
        }  # fmt: skip
        reply = await _ask(client, "bridge", "stop_all", b"")
        assert (reply["status"], reply["transaction"]) == ("ok", None)
    assert [r.command.value for r in daemon.requests] == ["start", "stop_all"]


MALFORMED = [
    ("gun-1", "start", b"{", ErrorCode.INVALID_JSON),
    ("gun-1", "start", b"[1, 2]", ErrorCode.INVALID_PAYLOAD),
    ("gun-1", "start", b"\xff\xfe\x00binary", ErrorCode.INVALID_PAYLOAD),
    ("gun-1", "start", b'{"profile": "' + b"x" * 5000 + b'"}', ErrorCode.PAYLOAD_TOO_LARGE),
    ("gun-1", "start", b"[" * 2000, ErrorCode.INVALID_JSON),
    ("gun-1", "dance", b"{}", ErrorCode.UNKNOWN_COMMAND),
    ("gun-1", "stop_all", b"{}", ErrorCode.UNKNOWN_COMMAND),
    ("bridge", "start", b'{"profile": "piriformis"}', ErrorCode.UNKNOWN_COMMAND),
    ("gun-1", "start", b'{"profile": ""}', ErrorCode.INVALID_FIELD),
    ("gun-1", "start", b'{"profile": 5}', ErrorCode.INVALID_FIELD),
    ("gun-1", "start", b'{"profile": "p", "side": "up"}', ErrorCode.INVALID_FIELD),
    (
        "gun-1",
        "start",
        b'{"profile": "p", "client": "' + b"c" * 65 + b'"}',
        ErrorCode.INVALID_FIELD,
    ),
    ("gun-1", "pause", b'{"sesion": "s-1"}', ErrorCode.INVALID_FIELD),
    ("gun-1", "pause", b'{"transaction": [1]}', ErrorCode.INVALID_FIELD),
    ("ghost", "pause", b"{}", ErrorCode.UNKNOWN_DEVICE),
]


async def test_every_malformed_request_gets_its_code_and_serving_goes_on(broker: Broker) -> None:
    async with _serving(broker) as daemon, _integrator(broker) as client:
        for target, command, payload, code in MALFORMED:
            reply = await _ask(client, target, command, payload)
            assert (reply["status"], reply["code"]) == ("error", code.value), (command, payload)
            assert reply["error"] and "\n" not in reply["error"]
        assert daemon.requests == []
        reply = await _ask(client, "gun-1", "stop", b'{"transaction": "after"}')
        assert (reply["status"], reply["transaction"]) == ("ok", "after")


async def test_a_refusal_echoes_the_transaction(broker: Broker) -> None:
    async with _serving(broker), _integrator(broker) as client:
        reply = await _ask(client, "gun-1", "start", b'{"transaction": "t-9", "side": "up"}')
    assert (reply["code"], reply["transaction"]) == ("invalid_field", "t-9")


async def test_a_burst_of_requests_is_rate_limited(broker: Broker) -> None:
    async with _serving(broker, rate_per_s=0.001, burst=2), _integrator(broker) as client:
        codes = [(await _ask(client, "gun-1", "status", b""))["code"] for _ in range(3)]
    assert codes == [None, None, "rate_limited"]


async def test_mqtt5_replies_go_to_the_response_topic_with_the_correlation(
    broker: Broker,
) -> None:
    if not broker.authenticated:
        pytest.skip("the amqtt fallback broker speaks MQTT 3.1.1 only")
    async with _serving(broker), _integrator(broker, protocol=5) as client:
        await client.subscribe("clinic/replies/#", qos=1)
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ResponseTopic = "clinic/replies/42"
        properties.CorrelationData = b"corr-42"
        await client.publish(f"{BASE}/gun-1/request/status", b"{}", qos=1, properties=properties)
        async with asyncio.timeout(5):
            async for message in client.messages:
                if str(message.topic) == "clinic/replies/42":
                    assert message.properties is not None
                    assert getattr(message.properties, "CorrelationData", None) == b"corr-42"
                    break
