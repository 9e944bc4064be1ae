"""The therapist's live view of a run, built from session events (JSON dicts) and telemetry."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from tpdevice.cli.run_data import Reading, RunHeader
from tpdevice.units import range_with_unit, with_unit

__all__ = [
    "BandState",
    "Reading",
    "RunHeader",
    "RunView",
    "band_state",
    "format_mmss",
    "safety_renderable",
]

STEP_STARTS = frozenset({"step.started", "hold.started", "release.started"})
HOLD_TIMER = frozenset({"hold.paused", "hold.resumed"})
ENDINGS = {
    "session.completed": "completed",
    "session.aborted": "aborted",
    "session.failed": "failed",
}
NOTICES = frozenset({"device.fault", "cue"})
COACHING = frozenset({"pressure.low", "pressure.high"})
# A pressure cue holds while its condition does: these end it (the step or the contact is over).
COACHING_ENDS = frozenset({"pressure.in_band", "session.paused", "hold.paused", *ENDINGS})
STOPPED_ON_REQUEST = frozenset({"user", "host", "cancelled"})  # the reason says it all
KEYS_HINT = "space pause · s skip · q stop"
PROGRESS_WIDTH = 36  # the whole view fits 80 columns


class BandState(enum.Enum):
    """Where the measured pressure lies against the step's band."""

    NO_BAND = "no band"
    TOO_LIGHT = "too light"
    IN_BAND = "in band"
    TOO_HEAVY = "too heavy"


_BAND_STYLE = {
    BandState.NO_BAND: "dim",
    BandState.TOO_LIGHT: "bold yellow",
    BandState.IN_BAND: "bold green",
    BandState.TOO_HEAVY: "bold red",
}


def band_state(force_n: float, low_n: float | None, high_n: float | None) -> BandState:
    """Too light below the band, too heavy above it, in band within it (edges included)."""
    if low_n is None or high_n is None or high_n <= 0:
        return BandState.NO_BAND
    if force_n < low_n:
        return BandState.TOO_LIGHT
    if force_n > high_n:
        return BandState.TOO_HEAVY
    return BandState.IN_BAND


def format_mmss(seconds: float) -> str:
    """m:ss of a non-negative duration, rounded up (a countdown never shows 0:00 early)."""
    whole = max(0, int(-(-max(0.0, seconds) // 1)))
    return f"{whole // 60}:{whole % 60:02d}"


@dataclass(slots=True)
class _Step:
    """The step in progress, as its start event described it."""

    index: int = -1
    kind: str = ""
    side: str | None = None
    cycle: int | None = None
    freq_hz: float | None = None
    band_low_n: float | None = None
    band_high_n: float | None = None
    cue: str = ""
    duration_s: float = 0.0
    planned_start_s: float = 0.0
    deadline_s: float | None = None  # session clock time the countdown reaches zero
    remaining_s: float | None = None  # kept while paused


@dataclass(slots=True)
class RunView:
    """Folds session events into what the therapist sees; render() draws it at `now_s`."""

    header: RunHeader
    step: _Step = field(default_factory=_Step)
    status: str = "starting"
    notices: list[str] = field(default_factory=list)
    coaching: str = ""  # "More pressure" while the pressure is below the band, and so on
    events_seen: int = 0
    hold_waiting: bool = False  # a contact hold's timer waits for the head to touch

    def apply(self, event: Mapping[str, Any]) -> None:
        """Update the view with one event (as model_dump(mode='json') gives it)."""
        self.events_seen += 1
        kind = str(event.get("type", ""))
        now_s = _float(event.get("mono_s"), 0.0)
        if kind in STEP_STARTS:
            self._start_step(event, now_s)
        elif kind == "step.completed":
            self.step.deadline_s, self.step.remaining_s = None, 0.0
        elif kind == "session.paused":
            self.status = "paused"
            self._freeze(event, now_s)
        elif kind == "session.resumed":
            self.status = "running"
            self._thaw(event, now_s)
        elif kind in HOLD_TIMER:  # contact hold: the timer stops while the head is off
            self.hold_waiting = kind == "hold.paused"
            (self._freeze if self.hold_waiting else self._thaw)(event, now_s)
        elif kind == "session.started":
            self._started(event)
        elif kind in ENDINGS:
            self._end(event, ENDINGS[kind])
        self._notice(kind, event)

    def _start_step(self, event: Mapping[str, Any], now_s: float) -> None:
        index = int(event.get("step_index", self.step.index))
        same = index == self.step.index
        step = self.step if same else _Step(index=index)
        if not same:
            self.coaching = ""
        for name in ("kind", "side", "cycle", "cue"):
            if event.get(name) is not None:
                setattr(step, name, event[name])
        for name in ("freq_hz", "band_low_n", "band_high_n"):
            if event.get(name) is not None:
                setattr(step, name, float(event[name]))
        step.duration_s = _float(event.get("duration_s"), step.duration_s)
        step.planned_start_s = _float(event.get("planned_start_s"), step.planned_start_s)
        step.deadline_s, step.remaining_s = now_s + step.duration_s, None
        self.step, self.hold_waiting = step, False
        if self.status == "starting":
            self.status = "running"

    def _started(self, event: Mapping[str, Any]) -> None:
        self.status = "running"
        h = self.header
        h.total_s = _float(event.get("planned_duration_s"), h.total_s)
        h.step_count = int(event.get("step_count", h.step_count))
        h.mode = str(event.get("mode") or h.mode)
        h.force_sensing = bool(event.get("force_sensing", h.force_sensing))

    def _freeze(self, event: Mapping[str, Any], now_s: float) -> None:
        """Stop the countdown, keeping what is left of the step."""
        if self.step.deadline_s is not None:
            left = self.step.deadline_s - now_s
            self.step.remaining_s = _float(event.get("remaining_s"), left)
            self.step.deadline_s = None

    def _thaw(self, event: Mapping[str, Any], now_s: float) -> None:
        """Run the countdown again from what was left."""
        if self.step.remaining_s is not None and self.step.deadline_s is None:
            left = _float(event.get("remaining_s"), self.step.remaining_s)
            self.step.deadline_s, self.step.remaining_s = now_s + left, None

    def _end(self, event: Mapping[str, Any], status: str) -> None:
        reason = event.get("reason")
        self.status = f"{status} ({reason})" if reason else status
        self.step.deadline_s = None
        cause = event.get("error") or event.get("detail")
        if cause and reason not in STOPPED_ON_REQUEST:
            self.notices = [*self.notices[-2:], f"{status}: {cause}"]

    def _notice(self, kind: str, event: Mapping[str, Any]) -> None:
        """One-off notices pile up (the last three); a pressure cue lasts while its cause does."""
        if kind in COACHING:
            self.coaching = str(event.get("cue") or kind)
        elif kind in COACHING_ENDS:
            self.coaching = ""
        if kind not in NOTICES:
            return
        text = event.get("cue") or event.get("reason") or event.get("type")
        if event.get("type") == "device.fault":
            text = f"fault {event.get('code')} {'raised' if event.get('active') else 'cleared'}"
        self.notices = [*self.notices[-2:], str(text)]

    def remaining_step_s(self, now_s: float) -> float:
        """Seconds left of the step in progress (frozen while paused)."""
        if self.step.remaining_s is not None:
            return max(0.0, self.step.remaining_s)
        if self.step.deadline_s is None:
            return 0.0
        return max(0.0, min(self.step.duration_s, self.step.deadline_s - now_s))

    def elapsed_plan_s(self, now_s: float) -> float:
        """How far into the plan the run is: planned start of this step plus its progress."""
        if self.status.startswith("completed"):
            return self.header.total_s
        if self.step.index < 0:
            return 0.0
        done_s = self.step.duration_s - self.remaining_step_s(now_s)
        return min(self.header.total_s, self.step.planned_start_s + max(0.0, done_s))

    def render(self, now_s: float, reading: Reading | None = None) -> RenderableType:
        """The whole view at session time `now_s`, with the latest telemetry."""
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", min_width=10)
        grid.add_column()
        for name, value in self._rows(now_s, reading):
            grid.add_row(name, value)
        h = self.header
        title = f"{h.title} ({h.profile_id}) · {h.side}"
        return Panel(grid, title=title, title_align="left", subtitle=KEYS_HINT)

    def _rows(self, now_s: float, reading: Reading | None) -> list[tuple[str, RenderableType]]:
        h = self.header
        return [
            ("region", Text(h.region)),
            ("device", Text(f"{h.device}{' · ' + h.mode + ' mode' if h.mode else ''}")),
            ("status", self._status()),
            ("step", Text(self._step_text())),
            ("countdown", self._countdown(now_s)),
            ("progress", self._progress(now_s)),
            ("rate", Text(self._rate_text(reading))),
            ("pressure", self._pressure(reading)),
            ("cue", Text(self.step.cue or "-", style="italic")),
            ("notices", self._notices()),
        ]

    def _notices(self) -> Text:
        text = Text(self.coaching, style="bold yellow") if self.coaching else Text()
        if self.notices:
            text.append((" · " if self.coaching else "") + " · ".join(self.notices), style="dim")
        return text if text.plain else Text("-", style="dim")

    def _status(self) -> Text:
        text = Text(self.status, style=_status_style(self.status))
        if self.status == "running" and self.hold_waiting:
            text.append(" · hold timer waits for contact", style="yellow")
        return text

    def _step_text(self) -> str:
        s = self.step
        if s.index < 0:
            return "waiting for the first step"
        parts = [f"{s.index + 1}/{self.header.step_count}", s.kind or "?"]
        if s.cycle:
            parts.append(f"cycle {s.cycle}")
        if s.side:
            parts.append(s.side)
        return " · ".join(parts)

    def _countdown(self, now_s: float) -> Text:
        if self.step.index < 0:
            return Text("-")
        left = format_mmss(self.remaining_step_s(now_s))
        return Text(f"{self.step.kind or 'step'} {left} left", style="bold")

    def _progress(self, now_s: float) -> RenderableType:
        total = max(self.header.total_s, 1e-9)
        done = self.elapsed_plan_s(now_s)
        bar = ProgressBar(total=total, completed=done, width=PROGRESS_WIDTH)
        label = Text(f" {100 * done / total:3.0f}%  {format_mmss(total - done)} remaining")
        row = Table.grid()
        row.add_row(bar, label)
        return row

    def _rate_text(self, reading: Reading | None) -> str:
        target = self.step.freq_hz
        aim = ""
        if target is not None:
            aim = f" (target {with_unit(target, 'Hz')})" if target > 0 else " (motor off)"
        measured = "-" if reading is None else with_unit(reading.freq_hz, "Hz")
        return measured + aim

    def _pressure(self, reading: Reading | None) -> Text:
        low, high = self.step.band_low_n, self.step.band_high_n
        has_band = low is not None and high is not None and high > 0
        band = f"(band {range_with_unit(low or 0.0, high or 0.0, 'N')})"
        if not has_band:
            band = "(no target: pressure off)"
        if not self.header.force_sensing:
            return Text(f"not measured {band}", style="dim")
        if reading is None:
            return Text(f"- {band}")
        text = Text(f"{reading.force_n:.1f} N  {band}")
        if has_band:
            state = band_state(reading.force_n, low, high)
            text.append(f"  {state.value}", style=_BAND_STYLE[state])
        return text


def _status_style(status: str) -> str:
    if status.startswith(("aborted", "failed")):
        return "bold red"
    if status == "paused":
        return "bold yellow"
    return "bold green" if status.startswith(("running", "completed")) else ""


def _float(value: Any, default: float) -> float:
    return default if value is None else float(value)


def safety_renderable(
    avoid_zones: Sequence[str], contraindications: Sequence[str], recovery_h: float | None = None
) -> RenderableType:
    """What the therapist must check before the first step."""
    parts: list[RenderableType] = [
        Text("Avoid: ", style="bold red") + Text(", ".join(avoid_zones) or "-"),
        Text("Do not treat with: ", style="bold") + Text(", ".join(contraindications) or "-"),
    ]
    if recovery_h:
        parts.append(Text(f"Leave at least {recovery_h:g} h before treating this region again."))
    return Panel(Group(*parts), title="Before you start", title_align="left", border_style="red")
