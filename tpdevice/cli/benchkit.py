"""Shared pieces of the benchmarks: percentiles and the final JSON line."""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (fraction in 0..1)."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def summarize_ms(samples_s: Sequence[float], digits: int = 4) -> dict[str, float]:
    """p50/p99/max of durations given in seconds, reported in milliseconds."""
    ordered = sorted(samples_s)
    return {
        "p50_ms": round(percentile(ordered, 0.50) * 1000, digits),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, digits),
        "max_ms": round(ordered[-1] * 1000, digits),
    }


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return statistics.median(values)


def ratio(value: float, floor: float) -> float | None:
    """value / floor rounded, or None when the floor is zero."""
    return round(value / floor, 2) if floor > 0 else None


REPORT_NOTE = "a report: the bench exits 0 whatever the figures; scripts read `goal_met`"


def goal_text(goal: str, met: bool | None, applies_to: str) -> str:
    """What a goal means in plain words and whether this run met it (None: not judged)."""
    if met is None:
        return f"goal: {goal}, for {applies_to}; not judged on this run"
    verdict = "[green]met[/green]" if met else "[red]missed[/red]"
    return f"goal: {goal}, for {applies_to}: {verdict} ({REPORT_NOTE})"


def emit(result: dict[str, Any]) -> None:
    """Print the benchmark's last line: one JSON object."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
