"""Single keys from a terminal during a run: space pauses/resumes, s skips, q or Ctrl-C stops."""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import sys
import termios
import tty
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["KeyAction", "KeyReader", "action_for_key"]

_LOGGER = logging.getLogger(__name__)

_READ_BYTES = 64
_CTRL_C = "\x03"


class KeyAction(enum.Enum):
    """What a key asks the running session to do."""

    TOGGLE_PAUSE = "toggle_pause"
    SKIP = "skip"
    STOP = "stop"


_KEYS = {" ": KeyAction.TOGGLE_PAUSE, "s": KeyAction.SKIP, "q": KeyAction.STOP}


def action_for_key(char: str) -> KeyAction | None:
    """The action of one typed character (case-insensitive), None for any other key."""
    if char == _CTRL_C:
        return KeyAction.STOP
    return _KEYS.get(char.lower())


class KeyReader:
    """While entered, reads keys from `fd` in cbreak mode and calls on_action(action).

    A no-op when `fd` is not a terminal (piped input, tests, --json in a pipeline). The
    terminal's settings are restored on exit whatever happened. Ctrl-C keeps its signal (cbreak
    leaves ISIG on): the CLI's SIGINT path stops the motor; a literal ^C byte also means stop.
    """

    def __init__(self, on_action: Callable[[KeyAction], None], fd: int | None = None) -> None:
        self._on_action = on_action
        self._fd = fd
        self._saved: list[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def active(self) -> bool:
        """True while the terminal is in cbreak mode and keys are being read."""
        return self._saved is not None

    def start(self) -> None:
        """Switch the terminal to cbreak (no echo, no line buffering) and watch it for keys."""
        fd = self._fd_or_stdin()
        if fd is None or not os.isatty(fd):
            return
        self._saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd, termios.TCSANOW)
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(fd, self._on_readable, fd)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop watching and restore the terminal exactly as it was; idempotent."""
        saved, self._saved = self._saved, None
        fd = self._fd_or_stdin()
        if saved is None or fd is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(fd)
        self._loop = None
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        except termios.error as err:  # the terminal went away: nothing left to restore
            _LOGGER.debug("cannot restore the terminal: %s", err)

    def _fd_or_stdin(self) -> int | None:
        if self._fd is not None:
            return self._fd
        try:
            return sys.stdin.fileno()
        except (AttributeError, ValueError, OSError):
            return None

    def _on_readable(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ_BYTES)
        except OSError:
            data = b""
        if not data:  # end of input (the terminal closed): stop reading, keep running
            self.close()
            return
        for char in data.decode(errors="ignore"):
            action = action_for_key(char)
            if action is not None:
                self._on_action(action)

    def __enter__(self) -> KeyReader:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
