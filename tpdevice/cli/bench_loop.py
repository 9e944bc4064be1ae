"""Choosing and running the event loop: uvloop when installed (faster timers, I/O), else asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from tpdevice.cli.errors import CliError

__all__ = ["LOOP_NAMES", "default_loop_name", "resolve_loop_name", "run_on_loop"]

T = TypeVar("T")
LOOP_NAMES = ("asyncio", "uvloop")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def default_loop_name() -> str:
    """'uvloop' if it can be imported, else 'asyncio'."""
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def resolve_loop_name(name: str | None) -> str:
    """The loop to use for a --loop value (None or 'auto' = the default); CliError if unknown."""
    if name is None or name == "auto":
        return default_loop_name()
    if name not in LOOP_NAMES:
        raise CliError(
            f"--loop: unknown event loop {name!r} (one of auto, {', '.join(LOOP_NAMES)})"
        )
    if name == "uvloop" and default_loop_name() != "uvloop":
        raise CliError("--loop: uvloop is not installed (pip install 'tpdevice[fast]')")
    return name


def _factory(name: str) -> LoopFactory | None:
    """The loop factory for asyncio.Runner (None = asyncio's default)."""
    if name != "uvloop":
        return None
    factory: LoopFactory = importlib.import_module("uvloop").new_event_loop
    return factory


class TerminatedError(CliError):
    """SIGTERM arrived: the command was cancelled and cleaned up (motors stopped, children gone)."""

    exit_code = 128 + signal.SIGTERM
    is_error = False  # the user's choice, reported as "terminated", not as an error


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STILL_STOPPING = "tpdevice: already stopping: cleaning up first (signal ignored)\n"


class _StopSignals:
    """The first SIGINT or SIGTERM cancels the main task; later ones are ignored until exit.

    Cleanup (STOP the motor, the summary) must finish: a second Ctrl-C, or the SIGINT that
    GNU timeout forwards right after the terminal's own, only earns a note on stderr.
    """

    def __init__(self) -> None:
        self.first: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._noted = False
        self._previous: dict[int, Any] = {}

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take SIGINT and SIGTERM (main thread only; asyncio.Runner then leaves SIGINT alone)."""
        self._loop = loop
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:  # e.g. nohup: stays ignored
                self._previous[signum] = signal.signal(signum, self._on_signal)

    def settle(self) -> None:
        """Give the signals back; after a stop signal they stay ignored: the process is ending."""
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if self.first is not None else previous)
        self._previous.clear()

    async def guard(self, main: Coroutine[Any, Any, T]) -> T:
        """Await main as the task the first signal cancels."""
        self._task = asyncio.current_task()
        if self.first is not None:  # the signal came before the task ran
            main.close()
            raise asyncio.CancelledError
        return await main

    def _on_signal(self, signum: int, frame: object) -> None:
        """Runs between two bytecodes of the main thread: no I/O here, only flags and wake-ups."""
        if self.first is not None:
            self._later(self._note)
            return
        self.first = signum
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._later(_nothing)  # wake a loop blocked in select()

    def _later(self, callback: Callable[[], None]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile: nothing to wake
                self._loop.call_soon_threadsafe(callback)

    def _note(self) -> None:
        if not self._noted:
            self._noted = True
            sys.stderr.write(STILL_STOPPING)


def _nothing() -> None:
    """A callback that only wakes the loop."""


def run_on_loop(main: Coroutine[Any, Any, T], name: str) -> T:
    """Run a coroutine on a fresh loop; Ctrl-C and SIGTERM cancel it so its cleanup runs.

    After cleanup, Ctrl-C raises KeyboardInterrupt (exit 130) and SIGTERM TerminatedError.
    """
    stops = _StopSignals()
    try:
        with asyncio.Runner(loop_factory=_factory(name)) as runner:
            stops.install(runner.get_loop())
            return runner.run(stops.guard(main))
    except asyncio.CancelledError:
        if stops.first == signal.SIGTERM:
            raise TerminatedError("terminated") from None
        if stops.first == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise
    finally:
        stops.settle()
