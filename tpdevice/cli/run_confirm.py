"""The safety check before a session on a real gun: Enter starts the motor, Esc or q cancels."""

from __future__ import annotations

import asyncio
import os
import sys
import termios
import tty

from tpdevice.cli.errors import CliError
from tpdevice.errors import TpDeviceError
from tpdevice.transport import DeviceAddress

__all__ = [
    "BY_KEY",
    "BY_SIMULATOR",
    "BY_YES",
    "START_PROMPT",
    "StartCancelled",
    "check_can_confirm",
    "confirm_start",
    "start_key_answer",
]

START_PROMPT = "Read the notes above. Enter starts the motor; Esc or q cancels."
BY_KEY = "enter"  # the therapist pressed Enter after the safety notes
BY_YES = "--yes"  # the command line said so (scripts)
BY_SIMULATOR = "simulator"  # the built-in simulator: no motor, nothing to confirm
_READ_BYTES = 64


class StartCancelled(TpDeviceError):
    """The therapist cancelled at the safety check: the motor never ran."""

    is_error = False  # a choice, not a failure: said without "error:"


def needs_key(address: DeviceAddress, yes: bool) -> bool:
    """True when a real gun waits for Enter before its motor may run."""
    return address.scheme != "sim" and not yes


def check_can_confirm(address: DeviceAddress, yes: bool, fd: int | None = None) -> None:
    """CliError (exit 2) when a key is needed but stdin is no terminal to press it on."""
    if not needs_key(address, yes) or _is_terminal(fd):
        return
    raise CliError(
        f"--yes: {address.text} is a real gun and stdin is not a terminal, so no key can "
        "confirm the safety notes; pass --yes to start without the key press"
    )


def start_key_answer(data: bytes) -> bool | None:
    """True for Enter, False for Esc, q or Ctrl-C, None for anything else (arrow keys too)."""
    if data.startswith(b"\x1b"):
        return False if data == b"\x1b" else None  # a lone Esc; longer: an escape sequence
    for char in data.decode(errors="ignore"):
        if char in "\r\n":
            return True
        if char in "qQ\x03":
            return False
    return None


async def confirm_start(address: DeviceAddress, yes: bool, fd: int | None = None) -> str:
    """How the start was confirmed (BY_*); StartCancelled when the therapist cancelled."""
    if address.scheme == "sim":
        return BY_SIMULATOR
    if yes:
        return BY_YES
    sys.stderr.write(f"{START_PROMPT}\n")
    sys.stderr.flush()
    if not await _wait_for_answer(sys.stdin.fileno() if fd is None else fd):
        raise StartCancelled(f"{address.text}: not started, cancelled at the safety notes")
    return BY_KEY


async def _wait_for_answer(fd: int) -> bool:
    """Read keys in cbreak mode until Enter (True) or Esc/q/end of input (False)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bool] = loop.create_future()
    saved = termios.tcgetattr(fd)

    def on_readable() -> None:
        try:
            data = os.read(fd, _READ_BYTES)
        except OSError:
            data = b""
        said = start_key_answer(data) if data else False  # end of input: nobody to confirm
        if said is not None and not answer.done():
            answer.set_result(said)

    tty.setcbreak(fd, termios.TCSANOW)
    loop.add_reader(fd, on_readable)
    try:
        return await answer
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _is_terminal(fd: int | None) -> bool:
    try:
        return os.isatty(sys.stdin.fileno() if fd is None else fd)
    except (AttributeError, ValueError, OSError):
        return False
