"""TcpTransport against a real asyncio server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakes import ByteSink, assert_lost

from tpdevice.transport import TransportOpenError, TransportState
from tpdevice.transport.tcp import TcpTransport

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Server:
    """A one-client-at-a-time asyncio server; `accepted` yields each connection."""

    def __init__(self) -> None:
        self.accepted: asyncio.Queue[Conn] = asyncio.Queue()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.accepted.put((reader, writer))

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        while not self.accepted.empty():
            self.accepted.get_nowait()[1].close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    await srv.start()
    yield srv
    await srv.stop()


async def connect(server: Server, **kwargs: Any) -> tuple[TcpTransport, ByteSink, Conn]:
    transport, sink = TcpTransport("127.0.0.1", server.port, **kwargs), ByteSink()
    await transport.open(sink.on_bytes, sink.on_lost)
    return transport, sink, await server.accepted.get()


async def test_bytes_flow_both_ways_with_nodelay(server: Server) -> None:
    transport, sink, (reader, writer) = await connect(server)
    assert transport.is_open and transport.address == f"tcp://127.0.0.1:{server.port}"
    assert transport._transport is not None
    sock = transport._transport.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    transport.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    writer.write(b"pong")
    assert await sink.wait_for(4) == b"pong"
    await transport.close()
    assert await reader.read() == b""  # our close reached the server as EOF
    assert not sink.lost.done()
    writer.close()


async def test_server_close_reports_lost_with_none(server: Server) -> None:
    transport, sink, (_reader, writer) = await connect(server)
    writer.close()
    assert_lost(transport, await sink.lost, None)  # a clean end of stream
    await transport.close()
    await transport.close()
    assert transport.state is TransportState.CLOSED


async def test_large_write_buffers_then_flushes_on_close(server: Server) -> None:
    transport, _sink, (reader, writer) = await connect(server)
    payload = bytes(range(256)) * 16384  # 4 MiB: more than the socket buffers hold
    transport.write(payload)
    assert transport.write_buffer_bytes > 0
    closing = asyncio.create_task(transport.close())
    assert await reader.readexactly(len(payload)) == payload
    await closing
    assert await reader.read() == b""
    writer.close()


async def test_refused_port_is_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = TcpTransport("127.0.0.1", port)
    with pytest.raises(TransportOpenError) as caught:
        await transport.open(ByteSink().on_bytes, ByteSink().on_lost)
    assert str(caught.value) == f"tcp://127.0.0.1:{port}: connection refused"
    assert transport.state is TransportState.CLOSED


async def test_connect_timeout_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def hang(*args: object) -> None:
        await asyncio.Event().wait()

    transport = TcpTransport("192.0.2.1", 9, connect_timeout_s=0.05)
    monkeypatch.setattr(transport, "_connect_one", hang)
    with pytest.raises(TransportOpenError) as caught:
        await transport.open(ByteSink().on_bytes, ByteSink().on_lost)
    assert str(caught.value) == "tcp://192.0.2.1:9: connection timed out after 0.05 s"


async def test_unresolvable_host_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fail)
    transport = TcpTransport("gun.invalid", 5555, address="tcp://gun.invalid:5555")
    with pytest.raises(TransportOpenError) as caught:
        await transport.open(ByteSink().on_bytes, ByteSink().on_lost)
    assert str(caught.value) == "tcp://gun.invalid:5555: cannot resolve host 'gun.invalid'"


def test_ipv6_address_text_is_bracketed() -> None:
    assert TcpTransport("::1", 80).address == "tcp://[::1]:80"


def test_works_under_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        server = Server()
        await server.start()
        transport, sink, (reader, writer) = await connect(server)
        transport.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        writer.write(b"pong")
        assert await sink.wait_for(4) == b"pong"
        writer.close()
        assert await sink.lost is None
        await transport.close()
        await server.stop()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())
