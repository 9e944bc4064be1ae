"""What a bench reads about processes: CPU seconds and resident memory (Linux /proc)."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CpuWindow", "pin_to_one_cpu", "process_cpu_s", "rss_kib"]


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far; None where /proc cannot tell."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3
    ticks_s = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks_s  # utime, stime: fields 14, 15


def rss_kib() -> int | None:
    """This process's resident memory now (KiB); None where /proc cannot tell."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def pin_to_one_cpu(helper_pid: int | None = None) -> set[int] | None:
    """Run this process (every thread) on the first CPU it may use, and the helper process
    (if any) on the others; the CPUs this process had before, or None where affinity cannot
    be set."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    others = before - {min(before)}
    if helper_pid is not None and others:
        with contextlib.suppress(OSError):  # it may have ended; the bench says so later
            os.sched_setaffinity(helper_pid, others)
    return before


@dataclass(slots=True)
class CpuWindow:
    """CPU seconds of this process (all threads) and of a helper process over one window."""

    helper_pid: int | None = None
    wall_s: float = 0.0
    own_cpu_s: float = 0.0
    helper_cpu_s: float | None = None
    telemetry_samples: int = 0  # taken in by the daemon during the window
    _marks: tuple[float, float, float | None] = field(default=(0.0, 0.0, None))

    def start(self) -> None:
        """Open the window."""
        helper = process_cpu_s(self.helper_pid) if self.helper_pid else None
        self._marks = (time.monotonic(), time.process_time(), helper)

    def stop(self) -> None:
        """Close the window and keep what it saw."""
        wall0, own0, helper0 = self._marks
        self.wall_s = time.monotonic() - wall0
        self.own_cpu_s = time.process_time() - own0
        helper = process_cpu_s(self.helper_pid) if self.helper_pid else None
        self.helper_cpu_s = None if helper is None or helper0 is None else helper - helper0
