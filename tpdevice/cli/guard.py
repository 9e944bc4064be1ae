"""How every `tpdevice` command ends: exit codes, and failures as one line on stderr."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from tpdevice.errors import TpDeviceError

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "QUIET_LOGGERS",
    "exit_code",
    "fail",
    "finish",
    "guarded",
    "quiet_library_logs",
]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

QUIET_LOGGERS = ("tpdevice", "tpdevice_sim", "bumble", "bleak", "bleak_retry_connector", "asyncio")


def quiet_library_logs() -> None:
    """Without -v, library log records must not reach stderr: failures are one line.

    asyncio is among them: its "Exception in callback ... Traceback" is not for the user.
    TPDEVICE_DEBUG=1 leaves every logger alone (warnings and errors reach stderr).
    """
    if os.environ.get("TPDEVICE_DEBUG"):
        return
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())


def fail(message: str, code: int) -> NoReturn:
    """Print one line to stderr and exit with the code."""
    sys.stderr.write(f"tpdevice: {message}\n")
    raise SystemExit(code)


def exit_code(err: TpDeviceError) -> int:
    """2 for usage mistakes (a mistyped address among them), else the error's code or 1."""
    from tpdevice.transport.errors import AddressError  # not at import: startup stays fast

    if isinstance(err, AddressError):
        return EXIT_USAGE
    code: int = getattr(err, "exit_code", EXIT_ERROR)
    return code


def guarded(command: Callable[[], object]) -> object:
    """Run a command; never lets a traceback reach the user (TPDEVICE_DEBUG=1 shows one)."""
    try:
        return command()
    except TpDeviceError as err:
        if not getattr(err, "is_error", True):  # SIGTERM, a cancel: said plainly
            fail(str(err), exit_code(err))
        fail(f"error: {err}", exit_code(err))
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    except EOFError:  # as typer ends it: a blank line, then the one line
        sys.stderr.write("\n")
        fail("interrupted", EXIT_INTERRUPTED)
    except Exception as err:
        if isinstance(err, OSError) and err.errno == errno.EPIPE:
            _silence_stdout()  # as typer ends it: quietly, exit 1
            raise SystemExit(EXIT_ERROR) from None
        if os.environ.get("TPDEVICE_DEBUG"):
            raise
        fail(
            f"internal error: {type(err).__name__}: {err} (TPDEVICE_DEBUG=1 shows more)",
            EXIT_INTERNAL,
        )


def _silence_stdout() -> None:
    """stdout's reader went away: later writes and the exit-time flush go to /dev/null."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


def finish(code: object) -> None:
    """Exit with a command's integer code unless it is 0 (130 reported as interrupted)."""
    if isinstance(code, int) and code == EXIT_INTERRUPTED:  # typer's answer to Ctrl-C
        fail("interrupted", code)
    if isinstance(code, int) and code != 0:
        raise SystemExit(code)
