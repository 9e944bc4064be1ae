"""Choosing and running the event loop: uvloop when installed (faster timers, I/O), else asyncio."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import signal
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


def run_on_loop(main: Coroutine[Any, Any, T], name: str) -> T:
    """Run a coroutine on a fresh loop; Ctrl-C and SIGTERM cancel it so its cleanup runs."""
    with asyncio.Runner(loop_factory=_factory(name)) as runner:
        return runner.run(_cancelled_by_sigterm(main))


async def _cancelled_by_sigterm(main: Coroutine[Any, Any, T]) -> T:
    """Await main; SIGTERM cancels it (like Ctrl-C) and raises TerminatedError afterwards."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = asyncio.Event()

    def on_sigterm() -> None:
        terminated.set()
        if task is not None:
            task.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        return await main
    except asyncio.CancelledError:
        if terminated.is_set():
            raise TerminatedError("terminated") from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
