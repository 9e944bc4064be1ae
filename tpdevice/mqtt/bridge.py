"""The daemon on MQTT: retained bridge and device state, availability, telemetry, requests, events.

Events travel through the outbox (journaled first, never lost); everything retained is
republished after each reconnect, so a broker restart loses nothing an integrator reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import Any

import aiomqtt

from tpdevice import __version__
from tpdevice.daemon.control import DaemonControl, DeviceInfo, TelemetrySample
from tpdevice.daemon.journal import Journal
from tpdevice.mqtt.commands import run_command
from tpdevice.mqtt.discovery import discovery_payload, discovery_topic
from tpdevice.mqtt.link import MqttLink, MqttUnavailableError
from tpdevice.mqtt.outbox import EventOutbox
from tpdevice.mqtt.requests import Request
from tpdevice.mqtt.router import RequestRouter
from tpdevice.mqtt.settings import MqttSettings
from tpdevice.mqtt.topics import Topics

__all__ = ["MqttBridge", "TelemetryPacer"]

_LOGGER = logging.getLogger(__name__)
REMOVED = "removed"  # the state a watched gun reports once it left the configuration
ONLINE_STATES = frozenset({"ready", "running", "faulted"})  # a gun's link states with a live link


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class TelemetryPacer:
    """Lets one sample a key through per period on average, on a schedule rather than gaps.

    A gun sending at exactly the configured rate has jitter: requiring a full period since the
    last sample would drop every sample that comes a little early, about half of them.
    """

    def __init__(self, period_s: float) -> None:
        self._period_s = period_s
        self._due_s: dict[str, float] = {}

    def due(self, key: str, now_s: float) -> bool:
        """True if a sample of `key` at `now_s` goes out (early by under a quarter period is ok)."""
        due_s = self._due_s.get(key, now_s)
        if now_s < due_s - self._period_s / 4:
            return False
        # Never more than a quarter period of credit: after a pause, no burst of old slots.
        self._due_s[key] = max(due_s, now_s - self._period_s / 4) + self._period_s
        return True


class MqttBridge:
    """Owns the link, the outbox and the request router of one daemon."""

    def __init__(
        self,
        control: DaemonControl,
        settings: MqttSettings,
        journal: Journal,
        *,
        telemetry_hz: float = 2.0,
        discovery_prefix: str | None = None,
    ) -> None:
        self.topics = Topics(settings.node)
        self._control = control
        self._period_s = 1.0 / telemetry_hz
        self._pacer = TelemetryPacer(self._period_s)
        self._devices: dict[str, DeviceInfo] = {}
        self._discovery_prefix = discovery_prefix  # None: no Home Assistant discovery
        subscriptions = self.topics.request_filters()
        if discovery_prefix is not None:
            subscriptions.append(f"{discovery_prefix}/status")
        self.link = MqttLink(
            settings, self.topics, on_connected=self._announce, on_message=self._on_message,
            subscriptions=subscriptions,
        )  # fmt: skip
        self.outbox = EventOutbox(self.link, journal)
        self._journal = journal
        self.router = RequestRouter(self.link, self._handle)
        self._tasks: list[asyncio.Task[None]] = []
        self.announced = asyncio.Event()  # set once every retained message is out after a connect

    async def start(self) -> None:
        """Connect (in the background: the daemon never waits for a broker) and serve."""
        self._devices = {device.id: device for device in self._control.devices()}
        for work in (self.link.run(), self.outbox.run(), self._follow_devices(),
                     self._follow_telemetry(), self._follow_events()):  # fmt: skip
            self._tasks.append(asyncio.create_task(work))

    async def close(self) -> None:
        """Say offline and disconnect (cleanly: the last will is for a daemon that dies)."""
        await self.link.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _announce(self) -> None:
        """After each (re)connect: every retained message, fresh."""
        self.announced.clear()
        await self._retain(self.topics.bridge("info"), self._info())
        await self._retain(self.topics.bridge("devices"), self._device_list())
        for device in list(self._devices.values()):
            await self._publish_device(device)
        await self._announce_discovery()
        self.announced.set()

    async def _announce_discovery(self) -> None:
        if self._discovery_prefix is None:
            return
        profiles = self._control.profiles()
        for device in list(self._devices.values()):
            payload = discovery_payload(self.topics, device, profiles)
            await self._retain(self._config_topic(device.id), payload)

    def _config_topic(self, device_id: str) -> str:
        assert self._discovery_prefix is not None
        return discovery_topic(self.topics, device_id, self._discovery_prefix)

    async def _on_message(self, message: aiomqtt.Message) -> None:
        if self._discovery_prefix and str(message.topic) == f"{self._discovery_prefix}/status":
            if message.payload == b"online":  # Home Assistant (re)started: tell it again
                await asyncio.sleep(random.uniform(0.0, 0.5))
                with contextlib.suppress(MqttUnavailableError):
                    await self._announce_discovery()
            return
        await self.router.on_message(message)

    async def _handle(self, request: Request) -> Any:
        return await run_command(self._control, request)

    async def _follow_devices(self) -> None:
        async for device in self._control.watch_devices():
            with contextlib.suppress(MqttUnavailableError):
                if device.state == REMOVED:
                    await self._forget(device)
                    continue
                known = device.id in self._devices
                self._devices[device.id] = device
                if not known:
                    await self._retain(self.topics.bridge("devices"), self._device_list())
                    await self._announce_discovery()
                await self._publish_device(device)

    async def _forget(self, device: DeviceInfo) -> None:
        """A gun left the configuration: clear its retained messages (and its discovery)."""
        self._devices.pop(device.id, None)
        await self._retain(self.topics.bridge("devices"), self._device_list())
        topics = [self.topics.device(device.id), self.topics.device(device.id, "availability")]
        if self._discovery_prefix is not None:
            topics.append(self._config_topic(device.id))
        for topic in topics:
            await self.link.publish(topic, b"", qos=1, retain=True)

    async def _follow_events(self) -> None:
        """Live events into the outbox (what the journal held before, the outbox replays)."""
        async for envelope in self._control.events(self._journal.last_seqs()):
            self.outbox.offer(envelope.device_id, envelope.device_seq, envelope.event)

    async def _follow_telemetry(self) -> None:
        async for sample in self._control.telemetry():
            if self._due(sample):
                with contextlib.suppress(MqttUnavailableError):
                    await self.link.publish(
                        self.topics.device(sample.device_id, "telemetry"),
                        _json(sample.model_dump(mode="json")),
                    )

    def _due(self, sample: TelemetrySample) -> bool:
        """At most telemetry_hz per gun (QoS 0: a late sample is worth less than a fresh one)."""
        return self._pacer.due(sample.device_id, asyncio.get_running_loop().time())

    async def _publish_device(self, device: DeviceInfo) -> None:
        online = device.state in ONLINE_STATES
        await self._retain(
            self.topics.device(device.id, "availability"),
            {"state": "online" if online else "offline"},
        )
        await self._retain(self.topics.device(device.id), self._device_state(device))

    def _device_state(self, device: DeviceInfo) -> dict[str, Any]:
        session = None
        if device.session_id is not None:
            with contextlib.suppress(Exception):
                session = self._control.session(device.session_id).model_dump(mode="json")
        state = device.model_dump(mode="json", exclude={"id", "name", "address", "driver"})
        return {**state, "session": session}

    def _info(self) -> dict[str, Any]:
        settings = self.link.settings
        return {
            "version": __version__,
            "node": self.topics.node,
            "config": {"broker": settings.safe_url, "protocol": settings.protocol,
                       "telemetry_hz": round(1 / self._period_s, 3),
                       "devices": len(self._devices)},
        }  # fmt: skip

    def _device_list(self) -> list[dict[str, Any]]:
        keys = {"id", "name", "address", "driver", "model", "firmware"}
        return [device.model_dump(mode="json", include=keys) for device in self._devices.values()]

    async def _retain(self, topic: str, value: Any) -> None:
        await self.link.publish(topic, _json(value), qos=1, retain=True)
