"""The end-of-run summary: per step planned vs actual, time in band, peak force, cues, faults."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tpdevice.therapy.summary import StepSummary, Summary

__all__ = ["shift_text", "step_status", "summary_renderable", "totals_text"]

_OUTCOME_STYLE = {"completed": "bold green", "aborted": "bold red", "failed": "bold red"}


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def step_status(step: StepSummary) -> str:
    """done, skipped, or not run."""
    if step.skipped:
        return "skipped"
    if step.completed:
        return "done"
    return "not run" if step.actual_start_s is None else "stopped"


def _cues(step: StepSummary) -> str:
    parts = []
    if step.pressure_low:
        parts.append(f"{step.pressure_low}x more pressure")
    if step.pressure_high:
        parts.append(f"{step.pressure_high}x less pressure")
    if step.contact_losses:
        parts.append(f"{step.contact_losses}x lost contact")
    parts.extend(f"fault {fault}" for fault in step.faults)
    return ", ".join(parts) or "-"


def _in_band(step: StepSummary, force_sensing: bool) -> str:
    if step.actual_duration_s is None or not force_sensing:
        return "-"
    return f"{step.time_in_band_s:.1f}"


def _peak(step: StepSummary, force_sensing: bool) -> str:
    return f"{step.peak_force_n:.1f}" if force_sensing else "-"


def _pair(planned: float, actual: float | None) -> str:
    return f"{planned:.1f}→{_s(actual)}"


def _notes(step: StepSummary) -> str:
    status = step_status(step)
    cues = _cues(step)
    if status == "done":
        return cues
    return status if cues == "-" else f"{status}; {cues}"


def steps_table(summary: Summary) -> Table:
    """One row a planned step."""
    table = Table(
        title="Steps: planned → actual", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1)
    )
    for name in ("#", "step", "start s", "duration s", "in band s", "peak N"):
        table.add_column(name, justify="left" if name == "step" else "right", no_wrap=True)
    table.add_column("notes", justify="left")
    both = summary.side == "both"
    for step in summary.steps:
        what = [step.kind, step.side if both else "", f"#{step.cycle}" if step.cycle else ""]
        table.add_row(
            str(step.index + 1), " ".join(x for x in what if x),
            _pair(step.planned_start_s, step.actual_start_s),
            _pair(step.planned_duration_s, step.actual_duration_s),
            _in_band(step, summary.force_sensing), _peak(step, summary.force_sensing),
            _notes(step),
        )  # fmt: skip
    return table


def totals_text(summary: Summary) -> Text:
    """The outcome and the session totals, one short line each (they fit 80 columns)."""
    outcome = summary.outcome + (f" ({summary.reason})" if summary.reason else "")
    text = Text("Session ")
    text.append(outcome, style=_OUTCOME_STYLE.get(summary.outcome, "bold"))
    text.append(
        f": {summary.steps_completed}/{summary.steps_planned} steps done, "
        f"{summary.steps_skipped} skipped\n"
        f"Time: {summary.actual_duration_s:.1f} s of {summary.planned_duration_s:.1f} s "
        f"planned, {summary.paused_s:.1f} s paused\n"
        f"Pressure: {_pressure_totals(summary)}"
    )
    if summary.outcome == "failed" and summary.cause:
        text.append(f"\nCause: {summary.cause}", style="red")
    if summary.faults:
        text.append(f"\nFaults: {', '.join(summary.faults)}", style="red")
    if summary.shift_max_s is not None:
        text.append(f"\n{shift_text(summary.shift_max_s)}")
    if summary.lateness_p50_ms is not None:
        text.append(
            f"\nScheduling lateness (issued after due): {summary.lateness_p50_ms:.1f} ms at p50, "
            f"{_s(summary.lateness_max_ms)} ms at worst",
            style="dim",
        )
    return text


def shift_text(shift_max_s: float) -> str:
    """How far pauses, contact waits and reconnects moved the steps from the plan."""
    if shift_max_s < 0.05:
        return "Shift from the plan: none (no pause, contact wait or reconnect moved a step)"
    return f"Shift from the plan: up to {shift_max_s:.1f} s (pauses, contact waits, reconnects)"


def _pressure_totals(summary: Summary) -> str:
    if not summary.force_sensing:
        return "not measured (the gun has no force sensor)"
    return (
        f"{summary.time_in_band_s:.1f} s in band, peak {summary.peak_force_n:.1f} N\n"
        f"Cues: {summary.pressure_low} 'more pressure', {summary.pressure_high} 'less pressure'"
    )


def summary_renderable(summary: Summary) -> RenderableType:
    """The table of steps and the totals under it."""
    return Group(steps_table(summary), totals_text(summary))
