"""The floor of `tpdevice bench sim`: N ptys or TCP ports answering like guns, with no firmware.

`python -m tpdevice.cli.bench_sim_floor --transport serial|tcp --count N` prints one address a
line. Each link, from its first frame on, answers every frame with a fixed ACK and writes a
fixed TELEMETRY frame at 20 Hz on its own timer: the simulator's byte traffic, nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import sys
import tty
from collections.abc import Callable
from typing import cast

from tpdevice.cli.bench_loop import resolve_loop_name
from tpdevice.protocol.codec import encode_stream
from tpdevice.protocol.enums import MotorState, MsgType
from tpdevice.protocol.frame import FrameFlag
from tpdevice.protocol.messages import Ack, Telemetry
from tpdevice.protocol.slip import END

__all__ = ["main"]

_PERIOD_S = 1 / 20
_CHUNK_BYTES = 65536
_ACK = encode_stream(Ack(MsgType.HEARTBEAT), 1, FrameFlag.RESPONSE)
_TELEMETRY = encode_stream(
    Telemetry(1000, 30.0, 20.0, True, 90, 31.0, MotorState.RUNNING),
    1,
    FrameFlag.FROM_DEVICE,
)


class _Responder:
    """One link: an ACK for each frame received, TELEMETRY every period once a frame came."""

    def __init__(self, send: Callable[[bytes], object]) -> None:
        self._send = send
        self._tail = b""
        self._timer: asyncio.TimerHandle | None = None

    def receive(self, data: bytes) -> None:
        """Answer each complete frame; start the telemetry timer on the first."""
        chunks = (self._tail + data).split(END)
        self._tail = chunks.pop()
        frames = sum(1 for chunk in chunks if chunk)
        if frames:
            self._send(_ACK * frames)
            if self._timer is None:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_at(loop.time() + _PERIOD_S, self._tick, loop.time())

    def _tick(self, due_s: float) -> None:
        self._send(_TELEMETRY)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(due_s + _PERIOD_S, self._tick, due_s + _PERIOD_S)

    def stop(self) -> None:
        """Cancel the telemetry timer."""
        if self._timer is not None:
            self._timer.cancel()


class _TcpResponder(asyncio.Protocol):
    """A responder on one TCP connection."""

    def __init__(self) -> None:
        self._responder: _Responder | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._responder = _Responder(cast(asyncio.Transport, transport).write)

    def data_received(self, data: bytes) -> None:
        assert self._responder is not None
        self._responder.receive(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._responder is not None:
            self._responder.stop()


def _open_pty(loop: asyncio.AbstractEventLoop) -> str:
    """A pty answering as a gun; its slave stays open so a host closing it is no EIO."""
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)
    os.set_blocking(master_fd, False)
    responder = _Responder(lambda data: os.write(master_fd, data))

    def on_readable() -> None:
        with contextlib.suppress(BlockingIOError):
            responder.receive(os.read(master_fd, _CHUNK_BYTES))

    loop.add_reader(master_fd, on_readable)
    return f"serial://{os.ttyname(slave_fd)}"


async def _serve(transport: str, count: int) -> None:
    """Open the links, print their addresses, run until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    servers = []  # kept: a loop need not keep its servers alive
    for _ in range(count):
        if transport == "serial":
            address = _open_pty(loop)
        else:
            server = await loop.create_server(_TcpResponder, "127.0.0.1", 0)
            servers.append(server)
            address = f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        sys.stdout.write(address + "\n")
    sys.stdout.flush()
    await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Parse the options and answer until stopped."""
    parser = argparse.ArgumentParser(prog="python -m tpdevice.cli.bench_sim_floor")
    parser.add_argument("--transport", choices=("serial", "tcp"), default="serial")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--loop", default="auto")
    args = parser.parse_args(argv)
    uvloop = resolve_loop_name(args.loop) == "uvloop"
    factory = importlib.import_module("uvloop").new_event_loop if uvloop else None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_serve(args.transport, args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
