"""The parrot driver's client: speed frames out, echoed frames back as telemetry."""

from __future__ import annotations

import asyncio
from typing import Any

from parrot_driver.codec import decode_speeds, encode_speed
from tpdevice.device.connect import OpenRequest
from tpdevice.device.errors import DeviceConnectionError, HandshakeError
from tpdevice.device.feed import DeviceEvent
from tpdevice.device.heartbeat import Heartbeat
from tpdevice.device.state import SetpointResult
from tpdevice.device.stream import LatestStream
from tpdevice.device.supervised import SupervisedClient
from tpdevice.device.supervisor import LinkSupervisor
from tpdevice.protocol import Capabilities, Feature, Message, MotorState, StopReason, Telemetry
from tpdevice.protocol import Heartbeat as HeartbeatMessage
from tpdevice.transport import Transport


class ParrotClient(SupervisedClient):
    """One parrot gun: the supervisor runs its life cycle; this supplies the handshake step."""

    DRIVER = "parrot"

    def __init__(self, request: OpenRequest) -> None:
        self.address = request.address.text
        self.device_id = request.address.device_id
        self._request = request
        self.heartbeat = Heartbeat(self.address, self._keepalive, lambda error: None)
        self.link = LinkSupervisor(
            self.address, self, reconnect=request.options.reconnect, on_close=request.on_close
        )
        self.last_telemetry: Telemetry | None = None
        self._transport: Transport | None = None
        self._capabilities: Capabilities | None = None
        self._freq_hz = 0.0
        self._running = False
        self._echoed: asyncio.Future[None] | None = None
        self._telemetry: list[LatestStream[Telemetry]] = []
        self._events: list[LatestStream[DeviceEvent]] = []

    # --- LinkDriver -------------------------------------------------------------------------

    async def establish(self) -> None:
        """Open, send a speed-0 frame and wait for the parrot to answer it."""
        transport = self._request.transport_factory()
        await transport.open(self._on_bytes, lambda exc: self._lost(transport, exc))
        self._echoed = asyncio.get_running_loop().create_future()
        transport.write(encode_speed(0.0))
        try:
            await asyncio.wait_for(self._echoed, self._request.options.handshake_timeout_s)
        except TimeoutError:
            await transport.close()
            raise HandshakeError(f"{self.address}: the parrot did not answer") from None
        self._transport = transport
        self._capabilities = Capabilities(
            protocol_version=0, features=int(Feature.NONE), freq_min_hz=10.0, freq_max_hz=50.0,
            force_max_n=0.0, telemetry_hz=0, telemetry_max_hz=0, max_program_steps=0,
            watchdog_ms=1000, watchdog_min_ms=1000, watchdog_max_ms=1000,
            model=self._request.hints.get("model", "parrot-1"), serial="", firmware="parrot",
        )  # fmt: skip
        self.link.link_ready()

    async def stop_on_close(self) -> None:
        """Speed 0 before closing."""
        await self.stop(StopReason.HOST)

    async def release(self) -> None:
        """Close the transport, end the streams."""
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.close()
        for telemetry in self._telemetry:
            telemetry.close()
        for events in self._events:
            events.close()

    # --- GunClient --------------------------------------------------------------------------

    @property
    def motor_may_run(self) -> bool:
        return self._running

    def stats(self) -> dict[str, Any]:
        return self.link.stats(self.DRIVER, self.heartbeat, self._running, {})

    async def set_output(self, freq_hz: float, **cues: float) -> SetpointResult:
        self._freq_hz = freq_hz
        if self._running:
            self._write(freq_hz)
        return SetpointResult.APPLIED

    async def start(self) -> None:
        self._running = True
        self._write(self._freq_hz)

    async def stop(self, reason: StopReason = StopReason.USER) -> None:
        self._running = False
        self._write(0.0)

    def telemetry(self) -> LatestStream[Telemetry]:
        stream: LatestStream[Telemetry] = LatestStream(16, self._telemetry.remove)
        self._telemetry.append(stream)
        return stream

    def events(self) -> LatestStream[DeviceEvent]:
        stream: LatestStream[DeviceEvent] = LatestStream(16, self._events.remove)
        self._events.append(stream)
        return stream

    # --- internals --------------------------------------------------------------------------

    def _write(self, freq_hz: float) -> bool:
        if self._transport is None or not self._transport.is_open:
            return False
        self._transport.write(encode_speed(freq_hz))
        return True

    def _keepalive(self, timeout_s: float) -> asyncio.Future[Message] | None:
        if not self._write(self._freq_hz if self._running else 0.0):
            return None
        written: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        written.set_result(HeartbeatMessage(0))
        return written

    def _on_bytes(self, data: bytes) -> None:
        for freq_hz in decode_speeds(data):
            if self._echoed is not None and not self._echoed.done():
                self._echoed.set_result(None)
            state = MotorState.RUNNING if freq_hz else MotorState.IDLE
            sample = Telemetry(0, freq_hz, 0.0, False, 0, 0.0, state)
            self.last_telemetry = sample
            for stream in self._telemetry:
                stream.put(sample)

    def _lost(self, transport: Transport, exc: BaseException | None) -> None:
        if transport is self._transport:
            self._transport = None
            self.link.link_lost(DeviceConnectionError(f"{self.address}: the parrot hung up"))


def build_client(request: OpenRequest) -> ParrotClient:
    """An unconnected ParrotClient."""
    return ParrotClient(request)
