"""TheragunLink: one packet transport to a Theragun gun; Fanout: the client's streams."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Generic, TypeVar

from tpdevice.device.errors import DeviceConnectionError, HandshakeError
from tpdevice.device.stream import LatestStream
from tpdevice.drivers.theragun.codec import (
    VERSION_REQUEST,
    StatusInfo,
    UnknownNotification,
    VersionInfo,
    encode_speed,
    parse_notification,
)
from tpdevice.transport import BleTransport, Transport, TransportError

__all__ = ["Fanout", "TheragunLink", "TheragunStats"]

_LOGGER = logging.getLogger(__name__)

OnStatus = Callable[[StatusInfo], None]
OnLost = Callable[[DeviceConnectionError], None]
T = TypeVar("T")


@dataclass(slots=True)
class TheragunStats:
    """Frames written and notifications received, by kind (kept across links)."""

    speed_frames: int = 0
    requests: int = 0
    notifications: int = 0
    unknown_notifications: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _ignore_lost(error: DeviceConnectionError) -> None:
    """Placeholder until the owner listens."""


class TheragunLink:
    """Writes one frame per call, parses each notification; `on_lost` once if the link dies.

    Status answers go to `on_status`; version answers to a pending request_version().
    """

    def __init__(
        self, address: str, transport: Transport, stats: TheragunStats, on_status: OnStatus
    ) -> None:
        self.address = address
        self.transport = transport
        self.stats = stats
        self.on_lost: OnLost = _ignore_lost
        self._on_status = on_status
        self._version_waiter: asyncio.Future[VersionInfo] | None = None

    @property
    def is_open(self) -> bool:
        """True while frames can be written."""
        return self.transport.is_open

    async def open(self) -> None:
        """Open the transport (TransportOpenError on failure)."""
        await self.transport.open(self._on_packet, self._on_transport_lost)

    async def close(self) -> None:
        """Close the transport after writing what is queued; idempotent, no on_lost."""
        await self.transport.close()

    async def peer_names(self, timeout_s: float) -> list[str]:
        """The names the gun gives itself over BLE (advertised, GAP, DIS); [] elsewhere."""
        if isinstance(self.transport, BleTransport):
            return await self.transport.read_peer_names(timeout_s)
        return []

    async def request_version(self, timeout_s: float, attempts: int) -> VersionInfo:
        """Write the version request until answered; HandshakeError after `attempts`."""
        for _ in range(attempts):
            waiter: asyncio.Future[VersionInfo] = asyncio.get_running_loop().create_future()
            self._version_waiter = waiter
            try:
                self.transport.write(VERSION_REQUEST)
                self.stats.requests += 1
                async with asyncio.timeout(timeout_s):
                    return await waiter
            except TimeoutError:
                continue
            finally:
                self._version_waiter = None
        raise HandshakeError(
            f"{self.address}: no Theragun version answer to {attempts} requests "
            f"({attempts * timeout_s:.2f} s)"
        )

    def write_speed(self, rpm: int) -> bool:
        """Write one speed frame (replacing one still queued); False when the link is down."""
        written = self.write(encode_speed(rpm), slot="speed")
        if written:
            self.stats.speed_frames += 1
        return written

    def write(self, frame: bytes, slot: str | None = None) -> bool:
        """Hand one frame to the transport; False when it is not open or the write failed.

        Over BLE a frame with a `slot` replaces the frame of that slot still queued (newest
        wins: each speed or status request makes the waiting one stale).
        """
        transport = self.transport
        if not transport.is_open:
            return False
        try:
            if isinstance(transport, BleTransport) and slot is not None:
                transport.write(frame, slot=slot)
            else:
                transport.write(frame)
        except TransportError as err:
            _LOGGER.info("%s: write failed: %s", self.address, err)
            return False
        return True

    def _on_packet(self, data: bytes) -> None:
        """One notification: a version answer, a status, or counted as unknown."""
        self.stats.notifications += 1
        notification = parse_notification(data)
        if isinstance(notification, VersionInfo):
            waiter = self._version_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(notification)
        elif isinstance(notification, StatusInfo):
            self._on_status(notification)
        elif isinstance(notification, UnknownNotification):
            self.stats.unknown_notifications += 1
            shown, reason = notification.data.hex(" "), notification.reason
            _LOGGER.debug("%s: ignored notification %s (%s)", self.address, shown, reason)

    def _on_transport_lost(self, exc: BaseException | None) -> None:
        """The transport died: fail a pending version request, tell the owner."""
        cause = f"link lost: {exc}" if exc is not None else "link closed by the gun"
        error = DeviceConnectionError(f"{self.address}: {cause}")
        waiter = self._version_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.on_lost(error)


class Fanout(Generic[T]):
    """One LatestStream per consumer, each given every item, all ended by close()."""

    def __init__(self, name: str, maxsize: int) -> None:
        self._name, self._maxsize = name, maxsize
        self._streams: list[LatestStream[T]] = []
        self._closed = False

    def new(self) -> LatestStream[T]:
        """A stream that unregisters itself when closed."""
        stream: LatestStream[T] = LatestStream(self._maxsize, self._forget, name=self._name)
        self._streams.append(stream)
        if self._closed:
            stream.close()
        return stream

    def put(self, item: T) -> None:
        """Hand `item` to every stream."""
        for stream in tuple(self._streams):
            stream.put(item)

    def close(self) -> None:
        """End every stream, now and for streams asked for later."""
        self._closed = True
        for stream in tuple(self._streams):
            stream.close()

    def _forget(self, stream: LatestStream[T]) -> None:
        if stream in self._streams:
            self._streams.remove(stream)
