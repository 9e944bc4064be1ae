"""Link servers for simulated guns: a pty, a TCP server and an in-memory loopback peer."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
import socket
import struct
import termios
import tty
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from tpdevice.protocol import (
    Ack,
    FrameFlag,
    MsgType,
    ResultCode,
    StreamDecoder,
    encode_message,
    slip_encode,
)
from tpdevice_sim.faults import FaultSpec
from tpdevice_sim.framelink import LINE_DOWN_S, FrameHandler, FrameLink

if TYPE_CHECKING:
    from tpdevice_sim.ble.spec import BleSlot

__all__ = [
    "LINE_DOWN_S",
    "TRANSPORTS",
    "FrameHandler",
    "FrameLink",
    "LoopbackLink",
    "PtyLink",
    "TcpLink",
    "make_link",
]

_LOGGER = logging.getLogger(__name__)

TRANSPORTS = ("serial", "tcp", "loopback", "ble")
_READ_SIZE = 65536
_MAX_BACKLOG = 64 * 1024
# A host that reads never leaves this much unread; more means the port is closed.
_STALE_BYTES = 2048
_STALE_CHECK_S = 0.5
# A refused TCP client is closed after its HELLO is answered `busy`, or after this long.
_REFUSED_LINGER_S = 1.0


class PtyLink(FrameLink):
    """A pseudo-terminal: the host opens `path` as a serial port; 'disconnect' = line down."""

    def _init_link(self) -> None:
        self.path = ""
        self._master_fd = -1
        self._slave_fd = -1
        self._backlog = bytearray()
        self._stale_timer: asyncio.TimerHandle | None = None

    async def _open(self) -> None:
        master_fd, slave_fd = os.openpty()
        try:
            # Keep the slave open ourselves: when the host closes its end, reads do not fail (EIO).
            tty.setraw(slave_fd)
            os.set_blocking(master_fd, False)
            path = os.ttyname(slave_fd)
        except BaseException:
            os.close(master_fd)
            os.close(slave_fd)
            raise
        self._master_fd, self._slave_fd, self.path = master_fd, slave_fd, path
        self.address = f"serial://{path}"
        asyncio.get_running_loop().add_reader(self._master_fd, self._on_readable)
        self._check_stale()

    async def _close(self) -> None:
        if self._master_fd < 0:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master_fd)
        loop.remove_writer(self._master_fd)
        if self._stale_timer is not None:
            self._stale_timer.cancel()
        os.close(self._master_fd)
        os.close(self._slave_fd)
        self._master_fd = self._slave_fd = -1

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master_fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            _LOGGER.debug("%s: read failed: %s", self.address, err)
            return
        self._received(data)

    def _write(self, data: bytes) -> None:
        """Write now; what the pty cannot take waits for writability (bounded)."""
        if self._backlog:
            self._queue(data)
            return
        try:
            sent = os.write(self._master_fd, data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as err:
            _LOGGER.debug("%s: write failed: %s", self.address, err)
            return
        if sent < len(data):
            self._queue(data[sent:])
            asyncio.get_running_loop().add_writer(self._master_fd, self._on_writable)

    def _queue(self, data: bytes) -> None:
        self._backlog += data
        if len(self._backlog) > _MAX_BACKLOG:
            # No one reads the port: like a UART nobody listens to, the bytes are lost.
            _LOGGER.debug("%s: nobody reads; %d bytes dropped", self.address, len(self._backlog))
            self._discard_unread()
            self._backlog.clear()

    def _on_writable(self) -> None:
        try:
            sent = os.write(self._master_fd, self._backlog)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            _LOGGER.debug("%s: write failed: %s", self.address, err)
            sent = len(self._backlog)
        del self._backlog[:sent]
        if not self._backlog:
            asyncio.get_running_loop().remove_writer(self._master_fd)

    def _check_stale(self) -> None:
        """Discard output piling up while no host has the port open, so none reads it later."""
        raw = fcntl.ioctl(self._slave_fd, termios.FIONREAD, b"\0\0\0\0")
        if struct.unpack("i", raw)[0] > _STALE_BYTES:
            self._discard_unread()
        loop = asyncio.get_running_loop()
        self._stale_timer = loop.call_later(_STALE_CHECK_S, self._check_stale)

    def _discard_unread(self) -> None:
        termios.tcflush(self._slave_fd, termios.TCIFLUSH)


class TcpLink(FrameLink):
    """A TCP server on host:port (0 = any free port); one client at a time, others refused."""

    def __init__(
        self,
        faults: FaultSpec | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rng: random.Random | None = None,
        line_down_s: float = LINE_DOWN_S,
    ) -> None:
        super().__init__(faults, rng=rng, line_down_s=line_down_s)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._client: asyncio.Transport | None = None

    @property
    def connected(self) -> bool:
        """True while a client is connected (any other is refused meanwhile)."""
        return self._client is not None

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _TcpSession(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.address = f"tcp://{self.host}:{self.port}"

    async def _close(self) -> None:
        self._drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _attach(self, transport: asyncio.Transport) -> bool:
        """Take a new client, unless one is connected: then False (the caller closes it)."""
        if self._client is not None:
            _LOGGER.info("%s: a client is connected; another one is refused", self.address)
            return False
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = transport
        self.decoder = StreamDecoder()
        self._connected()
        return True

    def _detach(self, transport: asyncio.Transport) -> None:
        if self._client is transport:
            self._client = None

    def _is_current(self, transport: asyncio.Transport) -> bool:
        return self._client is transport

    def _write(self, data: bytes) -> None:
        if self._client is not None and not self._client.is_closing():
            self._client.write(data)

    def _drop(self) -> None:
        if self._client is not None:
            self._client.abort()
            self._client = None


class _TcpSession(asyncio.Protocol):
    """One accepted TCP connection, feeding its link while it is the current client.

    A connection made while another client is connected is refused: each request on it is
    answered ACK `busy`, and it is closed once its HELLO is answered (or after a short linger).
    """

    def __init__(self, link: TcpLink) -> None:
        self._link = link
        self._transport: asyncio.Transport | None = None
        self._refused: StreamDecoder | None = None
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if not self._link._attach(self._transport):
            self._refused = StreamDecoder()
            loop = asyncio.get_running_loop()
            self._linger = loop.call_later(_REFUSED_LINGER_S, self._transport.close)

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return
        if self._refused is not None:
            self._refuse(self._transport, self._refused, data)
        elif self._link._is_current(self._transport):
            self._link._received(data)

    def _refuse(self, transport: asyncio.Transport, decoder: StreamDecoder, data: bytes) -> None:
        """Answer each request `busy`; close once a HELLO has been answered."""
        for frame in decoder.feed(data):
            if frame.flags & FrameFlag.RESPONSE or transport.is_closing():
                continue
            busy = Ack(frame.msg_type, ResultCode.BUSY)
            transport.write(slip_encode(encode_message(busy, frame.seq, FrameFlag.RESPONSE)))
            if frame.msg_type == MsgType.HELLO:
                transport.close()  # after the answer is flushed

    def eof_received(self) -> bool:
        """The client closed its end: free the link at once for the next client."""
        if self._transport is not None:
            self._link._detach(self._transport)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        if self._transport is not None:
            self._link._detach(self._transport)


class LoopbackLink(FrameLink):
    """In memory, for tpdevice's LoopbackTransport (`attach` / `receive` / `detach`)."""

    address = "sim"

    def _init_link(self) -> None:
        self._deliver: Callable[[bytes], None] | None = None
        self._on_close: Callable[[], None] | None = None

    @property
    def attached(self) -> bool:
        """True while a host transport is attached."""
        return self._deliver is not None

    def attach(self, deliver: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        """A host connects (replacing any previous one); bytes go to it via loop.call_soon."""
        if self._deliver is not None:
            self._drop()
        self._deliver, self._on_close = deliver, on_close
        self.decoder = StreamDecoder()
        self._connected()

    def receive(self, data: bytes) -> None:
        """Bytes written by the host."""
        if self._deliver is not None:
            self._received(data)

    def detach(self) -> None:
        """The host closed; idempotent."""
        self._deliver = self._on_close = None

    async def _open(self) -> None:
        return

    async def _close(self) -> None:
        self._drop()

    def _write(self, data: bytes) -> None:
        if self._deliver is not None:
            asyncio.get_running_loop().call_soon(self._deliver, data)

    def _drop(self) -> None:
        on_close = self._on_close
        self.detach()
        if on_close is not None:
            asyncio.get_running_loop().call_soon(on_close)


def make_link(
    transport: str,
    faults: FaultSpec | None = None,
    *,
    rng: random.Random | None = None,
    ble: BleSlot | None = None,
) -> FrameLink:
    """A link server of the given kind: 'serial' (pty), 'tcp', 'loopback' or 'ble' (needs ble)."""
    if transport == "ble":
        if ble is None:
            raise ValueError("a 'ble' link needs its place on a radio (ble=BleSlot(...))")
        from tpdevice_sim.ble.peripheral import BlePeripheralLink  # bumble only when asked for

        return BlePeripheralLink(faults, rng=rng, slot=ble)
    if transport == "serial":
        return PtyLink(faults, rng=rng)
    if transport == "tcp":
        return TcpLink(faults, rng=rng)
    if transport == "loopback":
        return LoopbackLink(faults, rng=rng)
    raise ValueError(f"unknown simulator transport {transport!r} (one of {', '.join(TRANSPORTS)})")
