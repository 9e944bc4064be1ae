"""Choosing and running the event loop: uvloop when installed (faster timers, I/O), else asyncio."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
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


def run_on_loop(main: Coroutine[Any, Any, T], name: str) -> T:
    """Run a coroutine to completion on a fresh loop of the named kind."""
    with asyncio.Runner(loop_factory=_factory(name)) as runner:
        return runner.run(main)
