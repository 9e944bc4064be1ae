"""Serial transport: pyserial sets up the tty, asyncio drives its file descriptor."""

from __future__ import annotations

import asyncio
import errno
import logging
import os

import serial

from tpdevice.transport.base import Transport
from tpdevice.transport.errors import TransportOpenError

__all__ = ["SerialTransport"]

_LOGGER = logging.getLogger(__name__)

_READ_CHUNK_BYTES = 65536
_DRAIN_TIMEOUT_S = 1.0

_OPEN_CAUSES = {
    errno.ENOENT: "no such device",
    errno.ENODEV: "no such device",
    errno.ENXIO: "no such device",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EBUSY: "device busy",
    errno.EAGAIN: "in use by another process (exclusive lock held)",
    errno.EISDIR: "is a directory, not a serial device",
    errno.ENOTTY: "not a serial device (not a tty)",
}


class SerialTransport(Transport):
    """A serial port (or pty) opened with pyserial, read/written via loop.add_reader/add_writer."""

    def __init__(self, path: str, baud: int = 115200, *, address: str | None = None) -> None:
        super().__init__(address or f"serial://{path}")
        self.path = path
        self.baud = baud
        self._serial: serial.Serial | None = None
        self._fd = -1
        self._write_buffer = bytearray()
        self._drained: asyncio.Future[None] | None = None

    @property
    def write_buffer_bytes(self) -> int:
        """Bytes accepted by `write()` and still waiting for the OS to take them."""
        return len(self._write_buffer)

    async def _open(self) -> None:
        """Open and configure the port, then watch its fd for input."""
        try:
            port = serial.Serial(self.path, self.baud, timeout=0, write_timeout=0, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportOpenError(f"{self.address}: {_open_cause(exc)}") from exc
        self._serial, self._fd = port, port.fileno()
        try:
            # Frames the device sent while nobody had the port open are stale, not news.
            port.reset_input_buffer()
            os.set_blocking(self._fd, False)
            asyncio.get_running_loop().add_reader(self._fd, self._on_readable)
        except BaseException:
            self._serial, self._fd = None, -1
            port.close()
            raise

    def write(self, data: bytes) -> None:
        """Write now if the OS takes it; buffer the rest and flush when the fd is writable."""
        self._check_writable()
        if not data:
            return
        if self._write_buffer:
            self._write_buffer += data
            return
        try:
            written = os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError as exc:
            self._connection_lost(self._lost_error(exc))
            return
        if written < len(data):
            self._write_buffer += memoryview(data)[written:]
            asyncio.get_running_loop().add_writer(self._fd, self._on_writable)

    def _on_readable(self) -> None:
        """Read whatever is there in one call and hand it on at once."""
        try:
            data = os.read(self._fd, _READ_CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # EIO is how Linux reports an unplugged USB adapter or a hung-up tty.
            self._connection_lost(self._lost_error(exc))
            return
        if data:
            self._deliver(data)
        else:
            self._connection_lost(self._lost_error("device closed (end of file)"))

    def _on_writable(self) -> None:
        """Flush as much of the write buffer as the OS takes now."""
        try:
            written = os.write(self._fd, self._write_buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._write_buffer.clear()
            self._finish_drain()
            self._connection_lost(self._lost_error(exc))
            return
        del self._write_buffer[:written]
        if not self._write_buffer:
            asyncio.get_running_loop().remove_writer(self._fd)
            self._finish_drain()

    async def _drain(self) -> None:
        """Wait up to _DRAIN_TIMEOUT_S for buffered bytes to reach the OS."""
        if not self._write_buffer:
            return
        self._drained = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._drained, _DRAIN_TIMEOUT_S)
        except TimeoutError:
            _LOGGER.warning(
                "%s: dropped %d unsent bytes on close", self.address, len(self._write_buffer)
            )

    def _finish_drain(self) -> None:
        """Wake a close() waiting for the write buffer to empty."""
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _release(self) -> None:
        """Stop watching the fd and close the port."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._fd)
        loop.remove_writer(self._fd)
        self._write_buffer.clear()
        self._finish_drain()
        port, self._serial, self._fd = self._serial, None, -1
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                _LOGGER.debug("%s: error while closing: %s", self.address, exc)


def _open_cause(exc: BaseException) -> str:
    """Turn a pyserial/OS open failure into a short cause text."""
    code = _errno_of(exc)
    if code in _OPEN_CAUSES:
        return _OPEN_CAUSES[code]
    if code is not None:
        return os.strerror(code).lower()
    if isinstance(exc, ValueError):
        return f"bad setting: {exc}"
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _errno_of(exc: BaseException) -> int | None:
    """The errno behind a failure; pyserial sometimes keeps it only on the wrapped error."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        if candidate is None:
            continue
        code = getattr(candidate, "errno", None)
        if isinstance(code, int):
            return code
        # termios.error is not an OSError: it carries (errno, text) in args.
        if candidate.args and isinstance(candidate.args[0], int):
            return candidate.args[0]
    return None
