"""TCP transport: asyncio.create_connection with a thin Protocol, TCP_NODELAY on."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

from tpdevice.transport.base import Transport
from tpdevice.transport.errors import TransportOpenError

__all__ = ["TcpTransport"]

_LOGGER = logging.getLogger(__name__)

_DRAIN_TIMEOUT_S = 1.0

_CONNECT_CAUSES = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connection timed out",
    errno.ECONNRESET: "connection reset",
    errno.EADDRNOTAVAIL: "address not available",
}


class _TcpProtocol(asyncio.Protocol):
    """Forwards asyncio's callbacks to the owning TcpTransport without a task hop."""

    def __init__(self, owner: TcpTransport) -> None:
        self._owner = owner
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._owner._deliver(data)

    def eof_received(self) -> bool:
        return False  # half-open makes no sense for a device link: close fully

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self._owner._connection_lost(None if exc is None else self._owner._lost_error(exc))


class TcpTransport(Transport):
    """A TCP byte stream to `host:port` (a simulator link server or a serial-over-IP bridge)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout_s: float = 3.0,
        address: str | None = None,
    ) -> None:
        super().__init__(address or f"tcp://{_host_text(host)}:{port}")
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self._transport: asyncio.Transport | None = None
        self._protocol: _TcpProtocol | None = None

    @property
    def write_buffer_bytes(self) -> int:
        """Bytes asyncio holds because the socket would block."""
        transport = self._transport
        return 0 if transport is None else transport.get_write_buffer_size()

    async def _open(self) -> None:
        """Connect within connect_timeout_s, trying each resolved address in turn."""
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await self._connect_any()
            self._set_nodelay()
        except TimeoutError as exc:
            self._release()  # the timeout may fire just after a connection was made
            raise TransportOpenError(
                f"{self.address}: connection timed out after {self.connect_timeout_s:g} s"
            ) from exc
        except BaseException:
            self._release()
            raise

    def _set_nodelay(self) -> None:
        """Send small frames at once (no Nagle delay): latency is what matters here."""
        transport = self._transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def _connect_any(self) -> None:
        """Resolve the host and connect to the first address that accepts."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise TransportOpenError(f"{self.address}: cannot resolve host {self.host!r}") from exc
        first_error: OSError | None = None
        for family, _type, proto, _name, sockaddr in infos:
            try:
                await self._connect_one(family, proto, str(sockaddr[0]), int(sockaddr[1]))
            except OSError as exc:
                first_error = first_error or exc
                continue
            return
        cause = _connect_cause(first_error) if first_error else "no address to connect to"
        raise TransportOpenError(f"{self.address}: {cause}") from first_error

    async def _connect_one(self, family: int, proto: int, host: str, port: int) -> None:
        """Connect to one resolved address; raise OSError if it does not accept."""
        protocol = _TcpProtocol(self)
        transport, _ = await asyncio.get_running_loop().create_connection(
            lambda: protocol, host, port, family=family, proto=proto
        )
        self._transport, self._protocol = transport, protocol

    def write(self, data: bytes) -> None:
        """Queue bytes on the socket; asyncio sends now or buffers without blocking."""
        self._check_writable()
        assert self._transport is not None
        self._transport.write(data)

    async def _drain(self) -> None:
        """Close gracefully, waiting up to _DRAIN_TIMEOUT_S for buffered bytes to go out."""
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None:
            return
        transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(protocol.closed), _DRAIN_TIMEOUT_S)
        except TimeoutError:
            _LOGGER.warning("%s: peer did not take pending bytes; aborting", self.address)

    def _release(self) -> None:
        """Drop the socket at once (after _drain, or after the peer went away)."""
        transport, protocol = self._transport, self._protocol
        self._transport = self._protocol = None
        # abort() after asyncio's own connection_lost can crash (its loop is gone): skip it.
        if transport is not None and protocol is not None and not protocol.closed.done():
            transport.abort()


def _connect_cause(exc: OSError) -> str:
    """A short cause text for a failed connect."""
    if exc.errno in _CONNECT_CAUSES:
        return _CONNECT_CAUSES[exc.errno]
    return exc.strerror.lower() if exc.strerror else str(exc)


def _host_text(host: str) -> str:
    """Bracket IPv6 literals so `host:port` stays unambiguous."""
    return f"[{host}]" if ":" in host else host
