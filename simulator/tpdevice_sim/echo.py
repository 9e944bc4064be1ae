"""A raw echo server, the floor of `tpdevice bench link`: bytes back as they come, no protocol.

`python -m simulator.echo --transport serial|tcp` prints its address on stdout
(`serial:///dev/pts/N` or `tcp://127.0.0.1:PORT`) and echoes with plain blocking
os.read/os.write (pty) or recv/sendall (socket) until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import tty
from types import FrameType

__all__ = ["main", "serve_pty", "serve_tcp"]

_CHUNK_BYTES = 65536


def _announce(address: str) -> None:
    """Print the address for the parent process, flushed at once."""
    sys.stdout.write(address + "\n")
    sys.stdout.flush()


def serve_pty() -> None:
    """Echo on a new pty: the host opens the slave path as a serial port."""
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)  # we keep the slave open too, so a host closing it is no EIO
    _announce(f"serial://{os.ttyname(slave_fd)}")
    try:
        while True:
            data = os.read(master_fd, _CHUNK_BYTES)
            while data:
                data = data[os.write(master_fd, data) :]
    finally:
        os.close(master_fd)
        os.close(slave_fd)


def _echo_connection(conn: socket.socket) -> None:
    """Echo one client until it closes."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn:
        while data := conn.recv(_CHUNK_BYTES):
            conn.sendall(data)


def serve_tcp(host: str = "127.0.0.1", port: int = 0) -> None:
    """Echo on a TCP port, one client at a time."""
    with socket.create_server((host, port)) as server:
        _announce(f"tcp://{host}:{server.getsockname()[1]}")
        while True:
            conn, _ = server.accept()
            with contextlib.suppress(ConnectionError):
                _echo_connection(conn)


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the blocking loop like Ctrl-C does."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Parse the options and echo until stopped; exit 0 on SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m simulator.echo", description=__doc__)
    parser.add_argument("--transport", choices=("serial", "tcp"), default="serial")
    parser.add_argument("--port", type=int, default=0, help="tcp port (0 = any free port)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    try:
        if args.transport == "serial":
            serve_pty()
        else:
            serve_tcp(port=args.port)
    except KeyboardInterrupt:
        pass
    except OSError as err:
        sys.stderr.write(f"tpdevice_sim.echo: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
