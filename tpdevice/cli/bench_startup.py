"""`tpdevice bench startup`: whole-process start-up of `profiles list` and of `run`.

`profiles list` is timed from spawn to exit. `run PROFILE --time-scale 1000 --json --mode host`
is timed from spawn to its first `step.started` line on stdout: in host mode the engine emits
that event only after the device ACKed the first step's SET_OUTPUT and START, so it marks the
first setpoint applied. The process is then terminated. `python -c pass` is the floor.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from tpdevice.cli.bench_child import BenchError
from tpdevice.cli.benchkit import emit, ratio, summarize_ms

__all__ = ["StartupSettings", "run", "tpdevice_argv"]

TARGET_MS = 150.0
FIRST_SETPOINT_EVENT = '"type": "step.started"'
CHILD_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class StartupSettings:
    """How many processes of each kind, and the profile `run` starts."""

    runs: int = 15
    profile: str = "upper-trapezius"


def tpdevice_argv(*args: str) -> list[str]:
    """The installed `tpdevice` script next to this interpreter, else `python -m tpdevice`."""
    script = Path(sys.executable).with_name("tpdevice")
    found = str(script) if script.exists() else shutil.which("tpdevice")
    head = [found] if found else [sys.executable, "-m", "tpdevice"]
    return [*head, *args]


def _child_env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "80", "TERM": "dumb"}


def _time_to_exit(argv: Sequence[str]) -> float:
    """Seconds from spawn to exit (output discarded); BenchError when it fails."""
    start = time.perf_counter()
    done = subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_child_env(),
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"{' '.join(argv[-2:])} exited {done.returncode}: {last}")
    return elapsed


def _time_to_first_setpoint(argv: Sequence[str], what: str) -> float:
    """Seconds from spawn to the first step.started line; the process is then terminated."""
    start = time.perf_counter()
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_child_env(), text=True
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if FIRST_SETPOINT_EVENT in line:
                return time.perf_counter() - start
        raise BenchError(f"{what}: ended (exit {child.wait()}) before its first step")
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        child.wait(CHILD_TIMEOUT_S)
        if child.stdout is not None:
            child.stdout.close()


def _measure(settings: StartupSettings) -> dict[str, list[float]]:
    """Interleaved rounds (floor, list, run) so that load spreads evenly over the three."""
    floor = [sys.executable, "-c", "pass"]
    listing = tpdevice_argv("profiles", "list")
    running = tpdevice_argv(
        "run", settings.profile, "--time-scale", "1000", "--json", "--mode", "host", "--no-journal"
    )
    jobs: dict[str, Callable[[], float]] = {
        "floor": lambda: _time_to_exit(floor),
        "list": lambda: _time_to_exit(listing),
        "run": lambda: _time_to_first_setpoint(running, f"run {settings.profile}"),
    }
    samples: dict[str, list[float]] = {name: [] for name in jobs}
    for job in jobs.values():
        job()  # warm the file cache; not counted
    for _ in range(settings.runs):
        for name, job in jobs.items():
            samples[name].append(job())
    return samples


def run(settings: StartupSettings) -> None:
    """Measure, print a summary on stderr, then the JSON line (`run` figures first)."""
    samples = _measure(settings)
    floor, listing, first = (summarize_ms(samples[name], 1) for name in ("floor", "list", "run"))
    floor_p50 = floor["p50_ms"]
    console = Console(stderr=True, highlight=False)
    console.print(
        f"median of {settings.runs} processes each: `profiles list` {listing['p50_ms']} ms, "
        f"`run {settings.profile}` to its first setpoint {first['p50_ms']} ms; "
        f"`python -c pass` {floor_p50} ms. Target: each median under {TARGET_MS:g} ms."
    )
    emit(
        {
            "bench": "startup",
            "n": settings.runs,
            "unit": "ms from process start to the first setpoint of `run`",
            **first,
            "floor_p50_ms": floor_p50,
            "ratio_p50": ratio(first["p50_ms"], floor_p50),
            "list_p50_ms": listing["p50_ms"],
            "list_p99_ms": listing["p99_ms"],
            "list_max_ms": listing["max_ms"],
            "list_ratio_p50": ratio(listing["p50_ms"], floor_p50),
            "target_ms": TARGET_MS,
            "target_met": max(first["p50_ms"], listing["p50_ms"]) < TARGET_MS,
        }
    )
