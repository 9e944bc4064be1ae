"""Where a run shows itself: JSON lines here; the rich live view and summary in run_live.

rich is imported only when the live view is wanted: a JSON run starts without it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from tpdevice.cli.run_data import Reading, RunHeader
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.events import Event
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.summary import Summary

if TYPE_CHECKING:
    from tpdevice.cli.run_live import LiveRunOutput, PipeConsole

__all__ = [
    "JsonRunOutput",
    "LiveRunOutput",
    "OutputError",
    "PipeConsole",
    "RunOutput",
    "check_stdout",
    "output_error",
    "safety_dict",
    "silence_stdout",
    "stdout_reader_gone",
    "summary_json",
    "telemetry_json",
]

FORCE_FIELDS = ("time_in_band_s", "peak_force_n")
SESSION_ENDS = frozenset({"session.completed", "session.aborted", "session.failed"})
TELEMETRY_GAP_S = 0.2  # at most 5 telemetry lines a second (the redraws give at least 2)


class OutputError(TpDeviceError):
    """stdout cannot be written (the reader of a pipe went away): nobody watches the run."""


def output_error(err: OSError) -> OutputError:
    """The one-line error for a failed write; after a broken pipe stdout goes to /dev/null."""
    if isinstance(err, BrokenPipeError):
        silence_stdout()
        return OutputError("stdout: broken pipe (its reader went away)")
    return OutputError(f"stdout: {err.strerror or err}")


def silence_stdout() -> None:
    """Point stdout's descriptor at /dev/null: the exit-time flush must not fail again."""
    with contextlib.suppress(OSError, ValueError):  # no real descriptor (captured output)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


def stdout_reader_gone() -> bool:
    """True when stdout is a pipe or socket whose reader went away (nothing written needed).

    Between events (a 45 s hold has none) a dead reader would otherwise go unnoticed.
    """
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # captured output: no descriptor to ask
        return False
    poller = select.poll()
    poller.register(fd, 0)  # errors and hang-ups are reported whatever the mask
    return any(flags & (select.POLLERR | select.POLLHUP) for _, flags in poller.poll(0))


def check_stdout() -> None:
    """OutputError (stdout silenced) when stdout's reader went away."""
    if stdout_reader_gone():
        raise output_error(BrokenPipeError())


def telemetry_json(reading: Reading, now_s: float, started: dict[str, Any]) -> dict[str, Any]:
    """One `telemetry` line: what the gun measures, null where it cannot measure."""
    sensing = bool(started.get("force_sensing", True))
    return {
        "type": "telemetry", "session_id": started.get("session_id"), "mono_s": now_s,
        "freq_hz": round(reading.freq_hz, 2),
        "force_n": round(reading.force_n, 2) if sensing else None,
        "contact": reading.contact if sensing else None,
        "battery_pct": reading.battery_pct, "motor_temp_c": reading.motor_temp_c,
    }  # fmt: skip


def summary_json(summary: Summary) -> dict[str, Any]:
    """The summary as JSON; force figures are null when the gun measures no force."""
    data = summary.model_dump(mode="json")
    if not summary.force_sensing:
        for row in (data, *data["steps"]):
            row.update(dict.fromkeys(FORCE_FIELDS))
    return data


def safety_dict(profile: Profile) -> dict[str, Any]:
    """The JSON line shown before the first step: where not to work, whom not to treat."""
    return {
        "type": "profile.safety", "profile_id": profile.id, "title": profile.title,
        "region": profile.region, "attachment": profile.attachment.value,
        "avoid_zones": list(profile.avoid_zones),
        "contraindications": list(profile.contraindications),
        "min_recovery_h": profile.caps.min_recovery_h,
    }  # fmt: skip


class RunOutput(Protocol):
    """Where a run shows itself: the live view or JSON lines."""

    def safety(self, profile: Profile) -> None:
        """Before the first step."""

    def live(self, header: RunHeader) -> contextlib.AbstractContextManager[Any]:
        """Entered for the length of the run."""

    def event(self, event: Event) -> None:
        """One session event."""

    def refresh(self, now_s: float, reading: Reading | None) -> None:
        """Redraw (the countdown and telemetry move between events)."""

    def summary(self, summary: Summary) -> None:
        """After the run, whatever its outcome."""


class JsonRunOutput:
    """One JSON object a line on stdout, flushed at once; telemetry lines 2 to 5 a second.

    The run redraws every 0.25 s and after each event; a telemetry line goes out at most
    every TELEMETRY_GAP_S of wall time (`wall_s`, injectable), between session.started and
    the session's end, so a script can plot the session without a second connection.
    """

    def __init__(self, wall_s: Callable[[], float] = time.monotonic) -> None:
        self._wall_s = wall_s
        self._last_line_s = -math.inf
        self._started: dict[str, Any] | None = None  # session.started, until the session ends

    def _line(self, obj: dict[str, Any]) -> None:
        try:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()
        except OSError as err:
            raise output_error(err) from None

    def safety(self, profile: Profile) -> None:
        """A profile.safety line."""
        self._line(safety_dict(profile))

    def live(self, header: RunHeader) -> contextlib.AbstractContextManager[Any]:
        """Nothing to set up."""
        return contextlib.nullcontext()

    def event(self, event: Event) -> None:
        """The event as model_dump(mode='json')."""
        data = event.model_dump(mode="json")
        if data["type"] == "session.started":
            self._started = data
        elif data["type"] in SESSION_ENDS:
            self._started = None
        self._line(data)

    def refresh(self, now_s: float, reading: Reading | None) -> None:
        """A telemetry line when one is due; else only check that someone still reads."""
        wall_s = self._wall_s()
        started = self._started
        if reading is None or started is None or wall_s - self._last_line_s < TELEMETRY_GAP_S:
            check_stdout()
            return
        self._last_line_s = wall_s
        self._line(telemetry_json(reading, now_s, started))

    def summary(self, summary: Summary) -> None:
        """The final line: type summary."""
        self._line({"type": "summary", **summary_json(summary)})


def __getattr__(name: str) -> Any:
    """LiveRunOutput and PipeConsole, imported from run_live when first asked for."""
    if name in ("LiveRunOutput", "PipeConsole"):
        from tpdevice.cli import run_live

        return getattr(run_live, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
