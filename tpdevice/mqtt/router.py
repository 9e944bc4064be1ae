"""Answers requests: parse, rate-limit, hand to the daemon, reply on response/<cmd> (and MQTT 5)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tpdevice.daemon.control import ControlError, ErrorCode
from tpdevice.mqtt.link import MqttLink, MqttUnavailableError
from tpdevice.mqtt.requests import (
    Reply,
    Request,
    parse_request,
    transaction_of,
)

__all__ = ["Handler", "RequestRouter"]

_LOGGER = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Any]]  # returns the reply's data or raises ControlError


class _TokenBucket:
    """At most `rate_per_s` on average, `burst` at once."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self._rate_per_s = rate_per_s
        self._burst = burst
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate_per_s)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class RequestRouter:
    """The link's message callback for `<base>/bridge/request/+` and `<base>/+/request/+`."""

    def __init__(
        self, link: MqttLink, handler: Handler, *, rate_per_s: float = 20.0, burst: int = 40
    ) -> None:
        self._link = link
        self._handler = handler
        self._limit = (rate_per_s, burst)
        self._buckets: dict[str, _TokenBucket] = {}
        self.answered = 0

    async def on_message(self, message: aiomqtt.Message) -> None:
        """Answer one request message; anything else on the filters is ignored."""
        topic = str(message.topic)
        response_topic = self._link.topics.response_for(topic)
        if response_topic is None:
            return
        payload = message.payload if isinstance(message.payload, bytes) else b""
        reply = await self._answer(topic, payload)
        await self._send(response_topic, reply, message.properties)

    async def _answer(self, topic: str, payload: bytes) -> Reply:
        target, _, command = topic[len(self._link.topics.base) + 1 :].partition("/request/")
        transaction = transaction_of(payload)
        try:
            if not self._bucket(target).take():
                raise ControlError(ErrorCode.RATE_LIMITED, "too many requests; try again soon")
            request = parse_request(None if target == "bridge" else target, command, payload)
            data = await self._handler(request)
        except ControlError as err:
            return Reply.failed(err, transaction)
        except Exception:
            _LOGGER.exception("request %s failed", topic)
            return Reply.failed(ControlError(ErrorCode.INTERNAL, "internal error"), transaction)
        return Reply("ok", data, transaction=request.transaction)

    def _bucket(self, target: str) -> _TokenBucket:
        bucket = self._buckets.get(target)
        if bucket is None:
            bucket = self._buckets[target] = _TokenBucket(*self._limit)
        return bucket

    async def _send(self, topic: str, reply: Reply, request: Properties | None) -> None:
        payload = reply.payload()
        try:
            await self._link.publish(topic, payload, qos=1)
            response_topic = getattr(request, "ResponseTopic", None)
            if response_topic:  # MQTT 5: also where the requester asked, with its correlation
                await self._link.publish(
                    response_topic, payload, qos=1, properties=_correlated(request)
                )
        except MqttUnavailableError as err:
            _LOGGER.warning("reply to %s not sent: %s", topic, err)
        self.answered += 1


def _correlated(request: Properties | None) -> Properties | None:
    correlation = getattr(request, "CorrelationData", None)
    if correlation is None:
        return None
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.CorrelationData = correlation
    return properties
