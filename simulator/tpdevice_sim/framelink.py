"""A gun's end of any link: SLIP framing, fault injection per frame both ways, disconnects."""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Sequence

from tpdevice.protocol import (
    Frame,
    FrameError,
    StreamDecoder,
    decode_frame,
    encode_frame,
    slip_encode,
)
from tpdevice_sim.faults import FaultInjector, FaultSpec

__all__ = ["LINE_DOWN_S", "ConnectHandler", "FrameHandler", "FrameLink"]

_LOGGER = logging.getLogger(__name__)

FrameHandler = Callable[[Frame], None]
ConnectHandler = Callable[[], None]
LINE_DOWN_S = 1.0


def _ignore_frame(frame: Frame) -> None:
    """Placeholder handler until the link is started."""


def _ignore_connect() -> None:
    """Placeholder until the link is started (and on links that cannot tell hosts apart)."""


class _DelayLine:
    """Delivers items after their delay, strictly in push order (timer ties are not FIFO)."""

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self._sink = sink
        self._queue: deque[tuple[float, bytes]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def push(self, delay_s: float, data: bytes) -> None:
        """Deliver data after delay_s (now if nothing is queued and the delay is 0)."""
        if delay_s <= 0.0 and not self._queue:
            self._sink(data)
            return
        loop = asyncio.get_running_loop()
        self._queue.append((loop.time() + delay_s, data))
        if self._timer is None:
            self._timer = loop.call_at(self._queue[0][0], self._release)

    def clear(self) -> None:
        """Drop everything queued."""
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release(self) -> None:
        """Deliver the head (its timer fired) and everything else due."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now_s = loop.time()
        self._sink(self._queue.popleft()[1])
        while self._queue and self._queue[0][0] <= now_s:
            self._sink(self._queue.popleft()[1])
        if self._queue:
            self._timer = loop.call_at(self._queue[0][0], self._release)


class FrameLink:
    """A gun's end of a link: SLIP framing, and fault injection per frame in both directions."""

    address = ""

    def __init__(
        self,
        faults: FaultSpec | None = None,
        *,
        rng: random.Random | None = None,
        line_down_s: float = LINE_DOWN_S,
    ) -> None:
        self.faults = faults or FaultSpec()
        self._faulty = self.faults.active  # asked on every frame; the spec is frozen
        rng = rng or random.Random(0)
        self.rx_faults = FaultInjector(self.faults, random.Random(rng.getrandbits(64)))
        self.tx_faults = FaultInjector(self.faults, random.Random(rng.getrandbits(64)))
        self.line_down_s = line_down_s
        self.decoder = StreamDecoder()
        self.rx_corrupted = 0
        self._on_frame: FrameHandler = _ignore_frame
        self._on_connect: ConnectHandler = _ignore_connect
        self._rx_line = _DelayLine(self._deliver_rx)
        self._tx_line = _DelayLine(self._write)
        self._down_until_s = -math.inf
        self._poll: asyncio.TimerHandle | None = None
        self._init_link()

    def _init_link(self) -> None:
        """Set up the link kind's own state (a hook, so kinds need not repeat the signature)."""

    async def start(self, on_frame: FrameHandler, on_connect: ConnectHandler | None = None) -> None:
        """Open the link; every valid frame from the host goes to on_frame as it arrives, and
        on_connect runs when a new host connection begins (links that know connections)."""
        self._on_frame = on_frame
        self._on_connect = on_connect or _ignore_connect
        await self._open()
        every_s = self.faults.disconnect_every_s
        if every_s is not None:
            self.tx_faults.disconnect_due(self._now_s())
            self._poll_disconnect(min(every_s / 4.0, 0.25))

    async def stop(self) -> None:
        """Close the link and drop anything still delayed."""
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        self._rx_line.clear()
        self._tx_line.clear()
        self._on_frame = _ignore_frame
        self._on_connect = _ignore_connect
        await self._close()

    def send(self, frames: Sequence[bytes]) -> None:
        """Send raw frames to the host (SLIP-encoded, faults applied, order kept)."""
        if self.line_down:
            return
        if not self._faulty:
            self._write(b"".join(map(slip_encode, frames)))
            return
        now_s = self._now_s()
        for frame in frames:
            for delay_s, data in self.tx_faults.deliveries(frame, now_s):
                self._tx_line.push(delay_s, slip_encode(data))

    def _received(self, data: bytes) -> None:
        """Bytes from the host: decode frames, apply faults, hand them on."""
        if self.line_down:
            return
        frames = self.decoder.feed(data)
        if not self._faulty:
            for frame in frames:
                self._on_frame(frame)
            return
        now_s = self._now_s()
        for frame in frames:
            raw = encode_frame(frame.msg_type, frame.seq, frame.flags, frame.payload)
            for delay_s, delivered in self.rx_faults.deliveries(raw, now_s):
                self._rx_line.push(delay_s, delivered)

    def _connected(self) -> None:
        """Subclass: a new host connection began (TCP accept, BLE connect, loopback attach)."""
        self._on_connect()

    def _deliver_rx(self, raw: bytes) -> None:
        """A frame that survived the inbound faults (a corrupted one fails its CRC here)."""
        try:
            frame = decode_frame(raw)
        except FrameError:
            self.rx_corrupted += 1
            return
        self._on_frame(frame)

    def _poll_disconnect(self, period_s: float) -> None:
        """Drop the connection whenever the fault spec says one is due."""
        if self.tx_faults.disconnect_due(self._now_s()):
            _LOGGER.info("%s: fault injection drops the connection", self.address)
            self._rx_line.clear()
            self._tx_line.clear()
            self.decoder = StreamDecoder()
            self._drop()
        loop = asyncio.get_running_loop()
        self._poll = loop.call_later(period_s, self._poll_disconnect, period_s)

    @property
    def line_down(self) -> bool:
        """True while injected faults hold the line down (every byte dropped both ways)."""
        return self._down_until_s > -math.inf and self._now_s() < self._down_until_s

    @staticmethod
    def _now_s() -> float:
        # Link faults act in real time, whatever the device's time scale.
        return asyncio.get_running_loop().time()

    async def _open(self) -> None:
        """Subclass: acquire the OS resource, set `address`, feed `_received` with bytes."""
        raise NotImplementedError

    async def _close(self) -> None:
        """Subclass: release the OS resource; idempotent."""
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        """Subclass: put SLIP bytes on the wire without blocking (dropped if nobody listens)."""
        raise NotImplementedError

    def _drop(self) -> None:
        """Drop the connection (fault injection); by default the line goes down for a while."""
        self._down_until_s = self._now_s() + self.line_down_s
