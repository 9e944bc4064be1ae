"""A session's report as a PNG: rate and force over time, the pressure band, phases shaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tpdevice.daemon.journal_queries import SessionRecord, StepRecord, TelemetryRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["PHASE_COLOURS", "plot_session"]

# Colours a reader of the PNG (and its test) can find: one per phase, the band, the two traces.
PHASE_COLOURS = {"hold": "#f4c7c3", "release": "#c6e2c3", "rest": "#e3e3e3", "sweep": "#cfe0f5"}
BAND_COLOUR = "#7fb3e6"
RATE_COLOUR = "#1f4e9c"
FORCE_COLOUR = "#c0392b"


def plot_session(
    record: SessionRecord,
    steps: Sequence[StepRecord],
    telemetry: Sequence[TelemetryRecord],
    path: Path,
) -> None:
    """Write the report of one session to `path` (PNG, Agg backend; no display needed)."""
    # Imported here: plotting is the one place that needs matplotlib, and it is slow to import.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    rate_axes, force_axes = figure.subplots(2, 1, sharex=True)
    for axes in (rate_axes, force_axes):
        _shade_phases(axes, steps)
    _phase_legend(rate_axes, steps)
    _plot_rate(rate_axes, steps, telemetry)
    _plot_force(force_axes, steps, telemetry)
    figure.suptitle(
        f"{record.profile_id} ({record.side or 'both'}) on {record.device_id} — {record.outcome}"
        f" — session {record.session_id}"
    )
    figure.savefig(path, format="png")


def _span(step: StepRecord) -> tuple[float, float]:
    duration_s = step.actual_duration_s
    if duration_s is None:
        duration_s = step.planned_duration_s
    return step.actual_start_s, step.actual_start_s + duration_s


def _shade_phases(axes: Axes, steps: Sequence[StepRecord]) -> None:
    for step in steps:
        start_s, end_s = _span(step)
        axes.axvspan(start_s, end_s, color=PHASE_COLOURS.get(step.kind, "#ffffff"), lw=0)


def _phase_legend(axes: Axes, steps: Sequence[StepRecord]) -> None:
    from matplotlib.patches import Patch

    kinds = [kind for kind in PHASE_COLOURS if any(step.kind == kind for step in steps)]
    handles = [Patch(color=PHASE_COLOURS[kind], label=kind) for kind in kinds]
    if handles:
        axes.legend(handles=handles, loc="upper right", ncols=len(handles), fontsize="small")


def _plot_rate(
    axes: Axes, steps: Sequence[StepRecord], telemetry: Sequence[TelemetryRecord]
) -> None:
    for step in steps:
        axes.hlines(step.freq_hz, *_span(step), colors="#555555", linestyles="dashed", lw=1)
    axes.plot([s.t_s for s in telemetry], [s.freq_hz for s in telemetry], color=RATE_COLOUR)
    axes.set_ylabel("rate (Hz)")


def _plot_force(
    axes: Axes, steps: Sequence[StepRecord], telemetry: Sequence[TelemetryRecord]
) -> None:
    for step in steps:
        if step.band_high_n > 0:
            start_s, end_s = _span(step)
            axes.fill_between(
                [start_s, end_s], step.band_low_n, step.band_high_n, color=BAND_COLOUR, lw=0
            )
    measured = [(s.t_s, s.force_n) for s in telemetry if s.force_n is not None]
    if measured:
        axes.plot([t for t, _ in measured], [f for _, f in measured], color=FORCE_COLOUR)
    else:
        axes.text(0.5, 0.5, "force not measured", transform=axes.transAxes, ha="center")
    axes.set_ylabel("force (N)")
    axes.set_xlabel("time from session start (s)")
