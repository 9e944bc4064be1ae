"""systemd's notify protocol (Type=notify): READY, STATUS, WATCHDOG and STOPPING datagrams."""

from __future__ import annotations

import logging
import os
import socket

__all__ = ["Notifier"]

_LOGGER = logging.getLogger(__name__)


class Notifier:
    """Sends to $NOTIFY_SOCKET when systemd set it; does nothing otherwise."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        usec = env.get("WATCHDOG_USEC", "")
        # systemd wants a ping well within WatchdogSec: every half of it, as its docs advise.
        self.watchdog_interval_s = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None

    @property
    def enabled(self) -> bool:
        """True when running under systemd with Type=notify."""
        return self._address is not None

    def ready(self, status: str = "") -> None:
        """The daemon serves: systemd may start what depends on it."""
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> None:
        """A free-text status line for `systemctl status`."""
        self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        """The daemon's loop is alive."""
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        """Shutdown has begun."""
        self._send("STOPPING=1")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            try:
                sock.sendto(message.encode(), self._address)
            except OSError as err:  # systemd gone: the daemon keeps serving
                _LOGGER.warning("NOTIFY_SOCKET %r: %s", self._address, err)


def _socket_address(value: str) -> str | bytes | None:
    """The socket to send to: a path, or an abstract name (a leading '@' means a NUL byte)."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value
