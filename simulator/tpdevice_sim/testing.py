"""A minimal protocol host that drives a Firmware directly on manual time, for tests."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from tpdevice.protocol import (
    Ack,
    Capabilities,
    Fault,
    Frame,
    FrameFlag,
    Heartbeat,
    Hello,
    Message,
    MsgType,
    StepEvent,
    decode_frame,
    decode_message,
    encode_frame,
    encode_message,
)
from tpdevice_sim.clock import ManualClock
from tpdevice_sim.config import FirmwareConfig
from tpdevice_sim.firmware import Firmware
from tpdevice_sim.invariants import InvariantMonitor
from tpdevice_sim.physics import ContactScenario, GunPhysics

__all__ = ["FirmwareHarness", "Received"]

_RELIABLE = (MsgType.FAULT, MsgType.STEP_EVENT)


@dataclass(frozen=True, slots=True)
class Received:
    """One frame the device sent, decoded, with the device time it was sent at."""

    time_s: float
    frame: Frame
    message: Message


class FirmwareHarness:
    """Host side of a test: numbers requests, decodes everything, ACKs FAULT/STEP_EVENT."""

    def __init__(
        self,
        config: FirmwareConfig | None = None,
        *,
        seed: int = 1,
        scenario: ContactScenario = ContactScenario.NONE,
        auto_ack: bool = True,
        firmware_class: type[Firmware] = Firmware,
    ) -> None:
        self.clock = ManualClock()
        self.config = config or FirmwareConfig()
        spec = self.config.spec
        self.physics = GunPhysics.from_spec(spec, random.Random(seed), scenario)
        self.monitor = InvariantMonitor.for_config(self.config)
        self.firmware = firmware_class(self.config, self.physics, self.monitor)
        self.auto_ack = auto_ack
        self.seq = 0
        self.received: list[Received] = []

    def send_raw(self, raw: bytes) -> list[Received]:
        """Hand one raw frame to the firmware now; return what it sent back, decoded."""
        return self._take(self._deliver(decode_frame(raw)))

    def send(self, message: Message, *, seq: int | None = None, flags: int = 0) -> list[Received]:
        """Send a request (the next sequence number unless given); return everything sent back."""
        if seq is None:
            self.seq = (self.seq + 1) & 0xFFFF
            seq = self.seq
        return self.send_raw(encode_message(message, seq, flags))

    def request(self, message: Message, *, seq: int | None = None, flags: int = 0) -> Message:
        """Send a request and return its response message (exactly one is expected)."""
        out = self.send(message, seq=seq, flags=flags)
        responses = [r.message for r in out if r.frame.flags & FrameFlag.RESPONSE]
        assert len(responses) == 1, f"expected one response, got {responses}"
        return responses[0]

    def ack(self, message: Message, **kwargs: int) -> Ack:
        """Send a request that is answered by ACK; return the ACK."""
        response = self.request(message, **kwargs)
        assert isinstance(response, Ack), response
        return response

    def hello(self, watchdog_ms: int = 1000, telemetry_hz: int = 20) -> Capabilities:
        """Open a session; return the capabilities."""
        response = self.request(Hello(1, watchdog_ms, telemetry_hz))
        assert isinstance(response, Capabilities), response
        return response

    def connect(self) -> list[Received]:
        """A new host connection begins (as a TCP accept or a BLE connect tells the firmware)."""
        now_s = self.clock.now_s()
        self.monitor.on_connection(now_s)
        return self._take(self.firmware.new_connection(now_s))

    def ack_device(self, seq: int) -> list[Received]:
        """Acknowledge a device FAULT / STEP_EVENT by its sequence number."""
        flags = FrameFlag.RESPONSE | FrameFlag.FROM_DEVICE
        raw = encode_frame(MsgType.ACK, seq, flags, Ack(MsgType.FAULT).encode_payload())
        return self.send_raw(raw)

    def run(
        self, duration_s: float, *, step_s: float = 0.01, heartbeat_s: float | None = None
    ) -> list[Received]:
        """Tick for duration_s in steps of step_s, sending heartbeats every heartbeat_s."""
        out: list[Received] = []
        start_s = self.clock.now_s()
        steps = max(1, math.ceil(duration_s / step_s - 1e-9))
        beats = 1
        for i in range(1, steps + 1):
            # Times computed from the start, not summed, so 0.01 s steps land on whole ms.
            now_s = start_s + min(i * step_s, duration_s)
            self.clock.advance(max(0.0, now_s - self.clock.now_s()))
            out += self._take(self.firmware.tick(now_s))
            if heartbeat_s is not None and now_s >= start_s + beats * heartbeat_s - 1e-9:
                out += self.send(Heartbeat(round(now_s * 1000)))
                beats += 1
        return out

    def messages(self, kind: type[Message], since: int = 0) -> list[Message]:
        """Every message of this class received (from index `since` of `received`)."""
        return [r.message for r in self.received[since:] if isinstance(r.message, kind)]

    def step_events(self) -> list[StepEvent]:
        """Every distinct STEP_EVENT (retransmissions dropped by sequence number)."""
        return [m for m in self._distinct() if isinstance(m, StepEvent)]

    def faults(self) -> list[Fault]:
        """Every distinct FAULT (retransmissions dropped by sequence number)."""
        return [m for m in self._distinct() if isinstance(m, Fault)]

    def _distinct(self) -> list[Message]:
        seen: set[int] = set()
        out: list[Message] = []
        for r in self.received:
            if r.frame.flags & FrameFlag.RESPONSE or r.frame.seq in seen:
                continue
            seen.add(r.frame.seq)
            out.append(r.message)
        return out

    def _take(self, raw_frames: list[bytes]) -> list[Received]:
        """Decode the device's frames, record them, ACK the reliable ones if auto_ack."""
        now_s = self.clock.now_s()
        out = []
        for raw in raw_frames:
            frame = decode_frame(raw)
            out.append(Received(now_s, frame, decode_message(frame)))
        self.received += out
        if self.auto_ack:
            for r in out:
                if r.frame.msg_type in _RELIABLE and not r.frame.flags & FrameFlag.RESPONSE:
                    self._deliver(self._ack_frame(r.frame.seq))
        return out

    def _deliver(self, frame: Frame) -> list[bytes]:
        """What a link does: the monitor sees the frame on the wire, then the firmware."""
        now_s = self.clock.now_s()
        self.monitor.on_inbound(frame, now_s)
        return self.firmware.handle_frame(frame, now_s)

    @staticmethod
    def _ack_frame(seq: int) -> Frame:
        flags = FrameFlag.RESPONSE | FrameFlag.FROM_DEVICE
        return Frame(MsgType.ACK, seq, flags, Ack(MsgType.FAULT).encode_payload())
