"""Link servers: SLIP round trips over a real pty, TCP and in memory, and fault injection."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import tty
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tpdevice.protocol import (
    Ack,
    Frame,
    FrameFlag,
    Heartbeat,
    Hello,
    MsgType,
    ResultCode,
    StreamDecoder,
    decode_message,
    encode_message,
    encode_stream,
)
from tpdevice_sim.faults import FaultSpec
from tpdevice_sim.links import FrameLink, LoopbackLink, PtyLink, TcpLink, make_link

Recv = Callable[[], Awaitable[bytes]]
Send = Callable[[bytes], Awaitable[None]]


class RawClient:
    """The host side with no protocol code: bytes in and out, frames counted by a decoder."""

    def __init__(self, recv: Recv, send: Send) -> None:
        self.recv, self.send = recv, send
        self.decoder = StreamDecoder()
        self.frames: list[Frame] = []
        self.eof = False

    async def collect(self, count: int, timeout_s: float = 2.0) -> list[Frame]:
        """Read until `count` frames arrived in total; return them."""
        async with asyncio.timeout(timeout_s):
            while len(self.frames) < count and not self.eof:
                await self._read_once()
        return self.frames

    async def quiet(self, idle_s: float = 0.2) -> list[Frame]:
        """Read until nothing arrives for idle_s."""
        while not self.eof:
            try:
                async with asyncio.timeout(idle_s):
                    await self._read_once()
            except TimeoutError:
                break
        return self.frames

    async def _read_once(self) -> None:
        try:
            data = await self.recv()
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
        self.frames += self.decoder.feed(data)


async def _fd_recv(fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    return os.read(fd, 65536)


def _pty_client(path: str) -> tuple[RawClient, int]:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)

    async def send(data: bytes) -> None:
        os.write(fd, data)

    return RawClient(lambda: _fd_recv(fd), send), fd


async def _tcp_client(port: int) -> tuple[RawClient, socket.socket]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    client = RawClient(lambda: loop.sock_recv(sock, 65536), lambda d: loop.sock_sendall(sock, d))
    return client, sock


def _echo_acks(link: FrameLink, got: list[Frame]) -> Callable[[Frame], None]:
    """A handler that records each frame and answers it with an ACK."""

    def on_frame(frame: Frame) -> None:
        got.append(frame)
        link.send([encode_message(Ack(frame.msg_type), frame.seq, FrameFlag.RESPONSE)])

    return on_frame


@pytest.fixture
async def pty_link() -> AsyncIterator[tuple[PtyLink, list[Frame]]]:
    link, got = PtyLink(), list[Frame]()
    await link.start(_echo_acks(link, got))
    yield link, got
    await link.stop()


async def _until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    """Poll a link's state (it offers no event for it)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _heartbeats(count: int) -> bytes:
    return b"".join(encode_stream(Heartbeat(i), i + 1) for i in range(count))


# --- round trips ------------------------------------------------------------------------------


async def test_pty_round_trip(pty_link: tuple[PtyLink, list[Frame]]) -> None:
    link, got = pty_link
    assert link.address == f"serial://{link.path}" and link.path.startswith("/dev/")
    client, fd = _pty_client(link.path)
    try:
        await client.send(b"line noise\xc0" + _heartbeats(3))
        frames = await client.collect(3)
    finally:
        os.close(fd)
    assert [f.seq for f in got] == [1, 2, 3]
    assert [f.seq for f in frames] == [1, 2, 3]
    assert all(f.flags == FrameFlag.RESPONSE for f in frames)
    assert decode_message(frames[0]) == Ack(MsgType.HEARTBEAT)
    assert link.decoder.stats.rejected == 1


async def test_pty_survives_the_client_closing_and_reopening(
    pty_link: tuple[PtyLink, list[Frame]],
) -> None:
    link, _ = pty_link
    for attempt in range(3):
        client, fd = _pty_client(link.path)
        try:
            await client.send(encode_stream(Heartbeat(0), 10 + attempt))
            (frame,) = await client.collect(1)
        finally:
            os.close(fd)
        assert frame.seq == 10 + attempt


async def test_tcp_round_trip_and_a_second_client_is_refused() -> None:
    link, got = TcpLink(), list[Frame]()
    await link.start(_echo_acks(link, got))
    first, first_sock = await _tcp_client(link.port)
    try:
        await _until(lambda: link.connected)
        second, second_sock = await _tcp_client(link.port)
        with second_sock:
            await second.send(_heartbeats(1) + encode_stream(Hello(1, 1000, 20), 7))
            await second.quiet()
            busy = [(f.seq, f.flags, decode_message(f)) for f in second.frames]
            assert busy == [  # each request answered busy, closed once its HELLO was answered
                (1, FrameFlag.RESPONSE, Ack(MsgType.HEARTBEAT, ResultCode.BUSY)),
                (7, FrameFlag.RESPONSE, Ack(MsgType.HELLO, ResultCode.BUSY)),
            ]
            assert second.eof
        assert link.address == f"tcp://127.0.0.1:{link.port}"
        await first.send(_heartbeats(2))
        assert [f.seq for f in await first.collect(2)] == [1, 2]  # the first one kept
        first_sock.close()
        await _until(lambda: not link.connected)
        third, third_sock = await _tcp_client(link.port)  # free again once the first left
        with third_sock:
            await third.send(encode_stream(Heartbeat(0), 9))
            assert [f.seq for f in await third.collect(1)] == [9]
    finally:
        first_sock.close()
        await link.stop()


@pytest.mark.parametrize("failing", ["setraw", "ttyname"])
async def test_pty_open_failure_closes_both_fds(
    monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    opened: list[int] = []
    real_openpty = os.openpty

    def openpty() -> tuple[int, int]:
        fds = real_openpty()
        opened.extend(fds)
        return fds

    def fail(fd: int) -> None:
        raise OSError(f"{failing} failed")

    monkeypatch.setattr(os, "openpty", openpty)
    monkeypatch.setattr(tty if failing == "setraw" else os, failing, fail)
    with pytest.raises(OSError, match=f"{failing} failed"):
        await PtyLink().start(lambda frame: None)
    assert len(opened) == 2
    for fd in opened:
        with pytest.raises(OSError):
            os.fstat(fd)


async def test_loopback_peer_delivers_via_the_loop() -> None:
    link, got = LoopbackLink(), list[Frame]()
    await link.start(_echo_acks(link, got))
    received: list[bytes] = []
    link.attach(received.append, lambda: None)
    link.receive(_heartbeats(2))
    assert received == []  # never re-entrant: delivered on a later loop iteration
    await asyncio.sleep(0)
    decoder = StreamDecoder()
    assert [f.seq for chunk in received for f in decoder.feed(chunk)] == [1, 2]
    link.detach()
    link.receive(_heartbeats(1))
    assert len(got) == 2
    await link.stop()


def test_make_link_rejects_unknown_transports() -> None:
    with pytest.raises(ValueError, match="unknown simulator transport 'usb'"):
        make_link("usb")


# --- fault injection --------------------------------------------------------------------------

FAULTY = FaultSpec(drop=0.1, corrupt=0.1, dup=0.1)


async def _faulty_exchange(seed: int, count: int = 400) -> tuple[TcpLink, list[Frame], RawClient]:
    link, got = TcpLink(FAULTY, rng=random.Random(seed)), list[Frame]()
    await link.start(_echo_acks(link, got))
    client, sock = await _tcp_client(link.port)
    try:
        for i in range(count):
            await client.send(encode_stream(Heartbeat(i), i + 1))
            await asyncio.sleep(0)
        await client.quiet()
    finally:
        sock.close()
        await link.stop()
    return link, got, client


async def test_faults_drop_corrupt_and_duplicate_both_ways() -> None:
    link, got, client = await _faulty_exchange(seed=7)
    rx, tx = link.rx_faults.counts, link.tx_faults.counts
    assert rx["frames"] == 400
    for counts in (rx, tx):
        assert all(15 <= counts[kind] <= 70 for kind in ("drop", "corrupt", "dup")), counts
    assert len(got) + link.rx_corrupted == rx["frames"] - rx["drop"] + rx["dup"]
    assert tx["frames"] == len(got)
    stats = client.decoder.stats
    assert stats.frames + stats.rejected == tx["frames"] - tx["drop"] + tx["dup"]
    assert stats.rejected >= tx["corrupt"]  # a corrupted frame may be duplicated too


async def test_faults_are_reproducible_with_a_seed() -> None:
    first = await _faulty_exchange(seed=3, count=100)
    second = await _faulty_exchange(seed=3, count=100)
    other = await _faulty_exchange(seed=4, count=100)
    assert [f.seq for f in first[1]] == [f.seq for f in second[1]]
    assert [f.seq for f in first[2].frames] == [f.seq for f in second[2].frames]
    assert [f.seq for f in first[1]] != [f.seq for f in other[1]]


async def test_delay_and_jitter_keep_frame_order() -> None:
    link, got = PtyLink(FaultSpec(delay_ms=20, jitter_ms=15)), list[Frame]()
    await link.start(_echo_acks(link, got))
    client, fd = _pty_client(link.path)
    loop = asyncio.get_running_loop()
    try:
        started_s = loop.time()
        await client.send(_heartbeats(50))
        frames = await client.collect(50)
        elapsed_s = loop.time() - started_s
    finally:
        os.close(fd)
        await link.stop()
    assert [f.seq for f in frames] == list(range(1, 51))
    assert elapsed_s >= 0.02


async def test_tcp_disconnect_every_drops_the_connection() -> None:
    link, got = TcpLink(FaultSpec(disconnect_every_s=0.2)), list[Frame]()
    await link.start(_echo_acks(link, got))
    client, sock = await _tcp_client(link.port)
    try:
        async with asyncio.timeout(2.0):
            await client.collect(1)  # reads until EOF
        assert client.eof
        again, again_sock = await _tcp_client(link.port)
        await again.send(_heartbeats(1))
        assert len(await again.collect(1)) == 1
        again_sock.close()
    finally:
        sock.close()
        await link.stop()
    assert link.tx_faults.counts["disconnect"] >= 1


async def test_loopback_disconnect_every_hangs_up() -> None:
    link = LoopbackLink(FaultSpec(disconnect_every_s=0.1))
    await link.start(lambda frame: None)
    closed = asyncio.Event()
    link.attach(lambda data: None, closed.set)
    async with asyncio.timeout(2.0):
        await closed.wait()
    assert not link.attached
    await link.stop()


async def test_pty_disconnect_takes_the_line_down_for_a_while() -> None:
    link, got = PtyLink(FaultSpec(disconnect_every_s=0.5), line_down_s=0.2), list[Frame]()
    await link.start(_echo_acks(link, got))
    client, fd = _pty_client(link.path)
    try:
        await _until(lambda: link.line_down)
        await client.send(_heartbeats(1))
        assert await client.quiet(0.1) == []
        await _until(lambda: not link.line_down)
        await client.send(encode_stream(Heartbeat(0), 99))
        assert [f.seq for f in await client.collect(1)] == [99]
    finally:
        os.close(fd)
        await link.stop()
