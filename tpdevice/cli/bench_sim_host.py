"""The cheap host of `tpdevice bench sim`: opens every gun, heartbeats it, counts its telemetry.

Frames are packed by hand from pre-built payloads and telemetry is counted by its type byte,
never decoded, so the bench process costs little next to the simulator it drives.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import tty
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tpdevice.protocol.codec import encode_stream
from tpdevice.protocol.enums import MsgType
from tpdevice.protocol.frame import encode_frame
from tpdevice.protocol.messages import Hello, SetOutput, Start
from tpdevice.protocol.slip import END, slip_encode

__all__ = ["HEARTBEAT_S", "TELEMETRY_HZ", "WATCHDOG_MS", "Host", "open_fd"]

TELEMETRY_HZ = 20
WATCHDOG_MS = 1000
HEARTBEAT_S = 0.25
_HEARTBEAT_SLOTS = 25  # heartbeats go out in this many groups a period, not all at once
_CHUNK_BYTES = 65536
_TELEMETRY = bytes([MsgType.TELEMETRY])
_HEARTBEAT_PAYLOAD = bytes(4)


def open_fd(address: str) -> int:
    """A non-blocking file descriptor on a gun's `serial://` pty or `tcp://` port."""
    parts = urlsplit(address)
    if parts.scheme == "serial":
        fd = os.open(parts.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        return fd
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock.detach()


@dataclass(slots=True)
class _Gun:
    """One gun's descriptor, its next host sequence number and its unfinished bytes."""

    fd: int
    seq: int
    tail: bytes = b""


@dataclass(slots=True)
class Host:
    """Every gun driven at once: HELLO, SET_OUTPUT and START, then heartbeats; counts frames."""

    addresses: list[str]
    telemetry_frames: int = 0
    heartbeats_sent: int = 0
    write_stalls: int = 0
    links_lost: int = 0
    _guns: list[_Gun] = field(default_factory=list)

    def open(self) -> None:
        """Open every gun and start each one's motor under a watchdog."""
        loop = asyncio.get_running_loop()
        for address in self.addresses:
            gun = _Gun(open_fd(address), random.randrange(1 << 16))
            self._guns.append(gun)
            loop.add_reader(gun.fd, self._on_readable, gun)
            hello = Hello(watchdog_ms=WATCHDOG_MS, telemetry_hz=TELEMETRY_HZ)
            output = SetOutput(freq_hz=30.0, force_target_n=20.0, force_tolerance_n=5.0,
                               force_cap_n=60.0)  # fmt: skip
            for message in (hello, output, Start()):
                self._write(gun, encode_stream(message, self._next_seq(gun)))

    def close(self) -> None:
        """Stop reading and close every descriptor."""
        loop = asyncio.get_running_loop()
        for gun in self._guns:
            loop.remove_reader(gun.fd)
            os.close(gun.fd)
        self._guns.clear()

    async def heartbeat(self) -> None:
        """Heartbeat every gun each HEARTBEAT_S, spread over the period, until cancelled."""
        loop = asyncio.get_running_loop()
        slot_s = HEARTBEAT_S / _HEARTBEAT_SLOTS
        due_s = loop.time()
        slot = 0
        while True:
            for gun in self._guns[slot::_HEARTBEAT_SLOTS]:
                frame = encode_frame(MsgType.HEARTBEAT, self._next_seq(gun), 0, _HEARTBEAT_PAYLOAD)
                self._write(gun, slip_encode(frame))
                self.heartbeats_sent += 1
            slot = (slot + 1) % _HEARTBEAT_SLOTS
            due_s += slot_s
            await asyncio.sleep(max(0.0, due_s - loop.time()))

    @staticmethod
    def _next_seq(gun: _Gun) -> int:
        gun.seq = (gun.seq + 1) & 0xFFFF
        return gun.seq

    def _write(self, gun: _Gun, data: bytes) -> None:
        """One small write; a full buffer is counted, not retried (the figures then say so)."""
        try:
            os.write(gun.fd, data)
        except BlockingIOError:
            self.write_stalls += 1
        except OSError:
            pass  # a lost link: counted by the reader

    def _on_readable(self, gun: _Gun) -> None:
        """Count the TELEMETRY frames among the complete ones read (by their type byte)."""
        try:
            data = os.read(gun.fd, _CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the child closed the link: stop reading it, and say so in the figures
            asyncio.get_running_loop().remove_reader(gun.fd)
            self.links_lost += 1
            return
        chunks = (gun.tail + data).split(END)
        gun.tail = chunks.pop()
        self.telemetry_frames += sum(chunk[1:2] == _TELEMETRY for chunk in chunks)
