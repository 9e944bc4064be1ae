"""In-process transport to a peer object (the simulator, an echo, or a null-modem pair)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from tpdevice.transport.base import Transport

__all__ = ["EchoPeer", "LoopbackPeer", "LoopbackTransport", "NullModemPeer", "null_modem"]

_LOGGER = logging.getLogger(__name__)

Deliver = Callable[[bytes], None]
OnClose = Callable[[], None]


class LoopbackPeer(Protocol):
    """The far end of a LoopbackTransport, e.g. an in-process simulated gun."""

    def attach(self, deliver: Deliver, on_close: OnClose) -> None:
        """Start talking: send bytes to the host with `deliver`, call `on_close` to hang up."""

    def receive(self, data: bytes) -> None:
        """Take bytes written by the host."""

    def detach(self) -> None:
        """The host closed; forget `deliver`/`on_close`. Must tolerate being called twice."""


class LoopbackTransport(Transport):
    """A Transport whose writes reach `peer.receive` on the next loop iteration."""

    def __init__(self, peer: LoopbackPeer, address: str = "sim") -> None:
        super().__init__(address)
        self.peer = peer
        self._outgoing: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None

    @property
    def write_buffer_bytes(self) -> int:
        """Bytes written but not yet handed to the peer."""
        return sum(len(chunk) for chunk in self._outgoing)

    async def _open(self) -> None:
        """Attach to the peer; from now on it may deliver bytes at any time."""
        self.peer.attach(self._deliver, self._on_peer_close)

    def write(self, data: bytes) -> None:
        """Queue bytes for the peer; delivered via call_soon so the peer never re-enters us."""
        self._check_writable()
        if not data:
            return
        self._outgoing.append(bytes(data))
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Hand every queued chunk to the peer, in write order."""
        self._flush_handle = None
        chunks, self._outgoing = self._outgoing, []
        for chunk in chunks:
            self.peer.receive(chunk)

    def _on_peer_close(self) -> None:
        """The peer hung up: a clean end of stream."""
        self._connection_lost(None)

    async def _drain(self) -> None:
        """Deliver what is queued now, so a last write before close() is not lost."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush()

    def _release(self) -> None:
        """Drop queued bytes and detach from the peer."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._outgoing.clear()
        self.peer.detach()


class EchoPeer:
    """A LoopbackPeer that sends every chunk straight back; `hang_up()` simulates a drop."""

    def __init__(self) -> None:
        self.received = bytearray()
        self._deliver: Deliver | None = None
        self._on_close: OnClose | None = None

    @property
    def attached(self) -> bool:
        """True while a host transport is attached."""
        return self._deliver is not None

    def attach(self, deliver: Deliver, on_close: OnClose) -> None:
        """Remember the host's callbacks."""
        self._deliver, self._on_close = deliver, on_close

    def receive(self, data: bytes) -> None:
        """Record and echo the chunk."""
        self.received += data
        if self._deliver is not None:
            self._deliver(data)

    def detach(self) -> None:
        """Forget the host."""
        self._deliver = self._on_close = None

    def hang_up(self) -> None:
        """Close from the peer side: the host transport reports the link lost."""
        on_close = self._on_close
        self.detach()
        if on_close is not None:
            on_close()


class NullModemPeer:
    """One end of an in-memory null modem: what its host writes, the other host receives."""

    def __init__(self) -> None:
        self.other: NullModemPeer | None = None
        self._deliver: Deliver | None = None
        self._on_close: OnClose | None = None

    def attach(self, deliver: Deliver, on_close: OnClose) -> None:
        """Remember the host's callbacks."""
        self._deliver, self._on_close = deliver, on_close

    def receive(self, data: bytes) -> None:
        """Pass bytes to the other end's host (dropped if nobody is attached there)."""
        other = self.other
        if other is not None and other._deliver is not None:
            other._deliver(data)

    def detach(self) -> None:
        """This host closed: the other host sees its link lost, like a pulled cable."""
        if self._deliver is None:
            return
        self._deliver = self._on_close = None
        if self.other is not None:
            self.other.hang_up()

    def hang_up(self) -> None:
        """Close from the wire side: this end's host transport reports the link lost."""
        on_close = self._on_close
        self._deliver = self._on_close = None
        if on_close is not None:
            on_close()


def null_modem() -> tuple[NullModemPeer, NullModemPeer]:
    """Two connected peers: give each to a LoopbackTransport and they talk to each other."""
    left, right = NullModemPeer(), NullModemPeer()
    left.other, right.other = right, left
    return left, right
