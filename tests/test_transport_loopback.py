"""LoopbackTransport against EchoPeer and the null-modem pair; base state machine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from fakes import ByteSink

from tpdevice.transport import (
    EchoPeer,
    LoopbackTransport,
    TransportError,
    TransportOpenError,
    TransportState,
    null_modem,
)
from tpdevice.transport.base import Transport


async def test_echo_round_trip_is_deferred_not_reentrant() -> None:
    peer, sink = EchoPeer(), ByteSink()
    transport = LoopbackTransport(peer)
    await transport.open(sink.on_bytes, sink.on_lost)
    assert transport.is_open and transport.state is TransportState.OPEN
    assert transport.address == "sim"
    transport.write(b"ab")
    transport.write(b"")
    transport.write(b"cd")
    assert peer.received == b"" and transport.write_buffer_bytes == 4
    assert await sink.wait_for(4) == b"abcd"
    assert peer.received == b"abcd" and transport.write_buffer_bytes == 0
    await transport.close()
    assert not peer.attached


async def test_peer_hang_up_reports_lost_once() -> None:
    peer, sink = EchoPeer(), ByteSink()
    transport = LoopbackTransport(peer, address="sim?driver=native")
    await transport.open(sink.on_bytes, sink.on_lost)
    peer.hang_up()
    assert transport.state is TransportState.LOST
    assert await sink.lost is None
    with pytest.raises(
        TransportError, match=r"^sim\?driver=native: cannot write, transport is lost$"
    ):
        transport.write(b"x")
    await transport.close()
    await transport.close()
    assert transport.state is TransportState.CLOSED and sink.lost_calls == 1  # type: ignore[comparison-overlap]


async def test_close_is_idempotent_and_silent_but_flushes_last_write() -> None:
    peer, sink = EchoPeer(), ByteSink()
    transport = LoopbackTransport(peer)
    await transport.open(sink.on_bytes, sink.on_lost)
    transport.write(b"STOP")
    await transport.close()
    await transport.close()
    assert peer.received == b"STOP"
    await asyncio.sleep(0)
    assert not sink.lost.done() and sink.data == b""
    with pytest.raises(TransportError, match="cannot write, transport is closed"):
        transport.write(b"x")


async def test_reopen_after_close_and_double_open_rejected() -> None:
    peer, sink = EchoPeer(), ByteSink()
    transport = LoopbackTransport(peer)
    await transport.open(sink.on_bytes, sink.on_lost)
    with pytest.raises(TransportError, match=r"^sim: already open$"):
        await transport.open(sink.on_bytes, sink.on_lost)
    await transport.close()
    await transport.open(sink.on_bytes, sink.on_lost)
    transport.write(b"again")
    assert await sink.wait_for(5) == b"again"
    await transport.close()


async def test_null_modem_pair_talks_both_ways_and_drops_together() -> None:
    left_peer, right_peer = null_modem()
    left, right = LoopbackTransport(left_peer, "left"), LoopbackTransport(right_peer, "right")
    left_sink, right_sink = ByteSink(), ByteSink()
    await left.open(left_sink.on_bytes, left_sink.on_lost)
    await right.open(right_sink.on_bytes, right_sink.on_lost)
    left.write(b"ping")
    right.write(b"pong")
    assert await right_sink.wait_for(4) == b"ping"
    assert await left_sink.wait_for(4) == b"pong"
    await left.close()
    assert await right_sink.lost is None
    assert not right.is_open and not left_sink.lost.done()


class _SlowTransport(Transport):
    """A transport whose open waits for a gate, to test close() during opening."""

    def __init__(self) -> None:
        super().__init__("slow://")
        self.gate = asyncio.Event()
        self.released = 0

    async def _open(self) -> None:
        await self.gate.wait()

    def _release(self) -> None:
        self.released += 1

    def write(self, data: bytes) -> None:
        self._check_writable()


async def test_close_while_opening_fails_the_open_and_releases() -> None:
    transport, sink = _SlowTransport(), ByteSink()
    opening = asyncio.create_task(transport.open(sink.on_bytes, sink.on_lost))
    await asyncio.sleep(0)
    assert transport.state is TransportState.OPENING
    await transport.close()
    transport.gate.set()
    with pytest.raises(TransportOpenError, match=r"^slow://: closed while opening$"):
        await opening
    assert transport.state is TransportState.CLOSED and transport.released == 1  # type: ignore[comparison-overlap]


async def test_failed_open_leaves_transport_closed() -> None:
    class Broken(_SlowTransport):
        async def _open(self) -> None:
            raise TransportOpenError("slow://: nope")

    transport, sink = Broken(), ByteSink()
    with pytest.raises(TransportOpenError):
        await transport.open(sink.on_bytes, sink.on_lost)
    assert transport.state is TransportState.CLOSED and transport.released == 0
    await transport.close()
    assert "slow://" in repr(transport)


class _GreetingPeer(EchoPeer):
    """Speaks first, inside attach(), like firmware that sends HELLO on connect."""

    def attach(self, deliver: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        super().attach(deliver, on_close)
        deliver(b"HELLO")


class _RefusingPeer(EchoPeer):
    """Hangs up inside attach()."""

    def attach(self, deliver: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        super().attach(deliver, on_close)
        self.hang_up()


async def test_bytes_sent_during_open_are_not_dropped() -> None:
    transport, sink = LoopbackTransport(_GreetingPeer()), ByteSink()
    await transport.open(sink.on_bytes, sink.on_lost)
    assert sink.data == b"HELLO"
    await transport.close()


async def test_loss_during_open_fails_the_open_without_on_lost() -> None:
    peer, sink = _RefusingPeer(), ByteSink()
    transport = LoopbackTransport(peer)
    with pytest.raises(TransportOpenError, match=r"^sim: connection lost while opening$"):
        await transport.open(sink.on_bytes, sink.on_lost)
    await asyncio.sleep(0)
    assert not sink.lost.done() and not peer.attached
    await transport.close()
    assert transport.state is TransportState.CLOSED
