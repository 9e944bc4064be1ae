"""SerialTransport on a real pty opened through real pyserial."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import tty
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial
from fakes import ByteSink, assert_lost

from tpdevice.transport import TransportError, TransportOpenError, TransportState
from tpdevice.transport.serial import SerialTransport


class Master:
    """The far side of the pty, read without blocking through the event loop."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.sink = ByteSink()
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self._readable)

    def _readable(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self.sink.on_bytes(os.read(self.fd, 65536))

    def write(self, data: bytes) -> None:
        assert os.write(self.fd, data) == len(data)

    def close(self) -> None:
        if self.fd >= 0:
            asyncio.get_running_loop().remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """A raw pty: (master fd, slave path). The slave fd stays open so master reads see data."""
    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(slave)
    with contextlib.suppress(OSError):  # a test may have closed it to simulate a hang-up
        os.close(master)


async def open_pair(pty_pair: tuple[int, str]) -> tuple[SerialTransport, ByteSink, Master]:
    master_fd, path = pty_pair
    transport, sink = SerialTransport(path), ByteSink()
    await transport.open(sink.on_bytes, sink.on_lost)
    return transport, sink, Master(master_fd)


async def test_bytes_flow_both_ways(pty_pair: tuple[int, str]) -> None:
    transport, sink, master = await open_pair(pty_pair)
    assert transport.is_open and transport.address == f"serial://{pty_pair[1]}"
    transport.write(b"\x00hello\xff")
    assert await master.sink.wait_for(7) == b"\x00hello\xff"
    master.write(b"\x00world\n\r")
    assert await sink.wait_for(8) == b"\x00world\n\r"  # raw mode: no CR/LF mangling
    await transport.close()
    master.close()
    assert not sink.lost.done()


async def test_large_write_is_buffered_and_arrives_in_order(pty_pair: tuple[int, str]) -> None:
    transport, _sink, master = await open_pair(pty_pair)
    payload = os.urandom(300 * 1024)
    transport.write(payload[:200_000])
    assert transport.write_buffer_bytes > 0  # the pty took only part: the rest waits
    transport.write(payload[200_000:])
    assert await master.sink.wait_for(len(payload)) == payload
    assert transport.write_buffer_bytes == 0
    await transport.close()
    master.close()


async def test_close_flushes_pending_bytes(pty_pair: tuple[int, str]) -> None:
    transport, _sink, master = await open_pair(pty_pair)
    payload = os.urandom(128 * 1024)
    transport.write(payload)
    await transport.close()
    assert await master.sink.wait_for(len(payload)) == payload
    master.close()


async def test_device_going_away_reports_lost(pty_pair: tuple[int, str]) -> None:
    transport, sink, master = await open_pair(pty_pair)
    master.close()  # the slave then reads end-of-file (and writes fail with EIO)
    message = f"serial://{pty_pair[1]}: connection lost: device closed (end of file)"
    assert_lost(transport, await sink.lost, message)
    await transport.close()
    await transport.close()
    assert transport.state is TransportState.CLOSED


async def test_write_to_hung_up_pty_reports_eio(pty_pair: tuple[int, str]) -> None:
    transport, sink, master = await open_pair(pty_pair)
    master.close()
    transport.write(b"x")  # before the reader sees EOF: the write itself gets EIO
    exc = await sink.lost
    assert str(exc) == f"serial://{pty_pair[1]}: connection lost: input/output error"
    assert isinstance(exc, TransportError) and isinstance(exc.__cause__, OSError)
    await transport.close()


async def test_close_is_idempotent_and_does_not_report_lost(pty_pair: tuple[int, str]) -> None:
    transport, sink, master = await open_pair(pty_pair)
    await transport.close()
    await transport.close()
    master.close()
    await asyncio.sleep(0)
    assert not sink.lost.done()


async def test_second_open_of_same_port_is_refused(pty_pair: tuple[int, str]) -> None:
    transport, _sink, master = await open_pair(pty_pair)
    other = SerialTransport(pty_pair[1])
    with pytest.raises(TransportOpenError) as caught:
        await other.open(ByteSink().on_bytes, ByteSink().on_lost)
    assert str(caught.value) == (
        f"serial://{pty_pair[1]}: in use by another process (exclusive lock held)"
    )
    await transport.close()
    master.close()


def _regular_file(tmp_path: Path) -> str:
    path = tmp_path / "not-a-port"
    path.write_bytes(b"")
    return str(path)


@pytest.mark.parametrize(
    ("make_path", "cause"),
    [
        (lambda tmp: "/dev/ttyNOPE-tpdevice", "no such device"),
        (_regular_file, "not a serial device (not a tty)"),
        (str, "is a directory, not a serial device"),
    ],
)
async def test_open_errors_are_one_line(
    make_path: Callable[[Path], str], cause: str, tmp_path: Path
) -> None:
    path = make_path(tmp_path)
    transport = SerialTransport(path)
    with pytest.raises(TransportOpenError) as caught:
        await transport.open(ByteSink().on_bytes, ByteSink().on_lost)
    assert str(caught.value) == f"serial://{path}: {cause}"
    assert transport.state is TransportState.CLOSED


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
async def test_permission_denied_on_real_file(tmp_path: Path) -> None:
    path = tmp_path / "locked"
    path.write_bytes(b"")
    path.chmod(0)
    with pytest.raises(TransportOpenError, match=r": permission denied$"):
        await SerialTransport(str(path)).open(ByteSink().on_bytes, ByteSink().on_lost)


async def test_permission_denied_is_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(port: str, *args: object, **kwargs: object) -> None:
        raise serial.SerialException(errno.EACCES, f"could not open port {port}: denied")

    monkeypatch.setattr(serial, "Serial", refuse)
    transport = SerialTransport("/dev/ttyUSB7", address="serial:///dev/ttyUSB7?baud=9600")
    with pytest.raises(TransportOpenError) as caught:
        await transport.open(ByteSink().on_bytes, ByteSink().on_lost)
    assert str(caught.value) == "serial:///dev/ttyUSB7?baud=9600: permission denied"


def test_works_under_uvloop(pty_pair: tuple[int, str]) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        transport, sink, master = await open_pair(pty_pair)
        payload = os.urandom(100 * 1024)
        transport.write(payload)
        master.write(b"hi")
        assert await sink.wait_for(2) == b"hi"
        assert await master.sink.wait_for(len(payload)) == payload
        master.close()
        assert isinstance(await sink.lost, TransportError)
        await transport.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())
