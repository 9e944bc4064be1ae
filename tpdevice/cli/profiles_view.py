"""Rich tables and JSON for `tpdevice profiles list` and `show`."""

from __future__ import annotations

import json

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tpdevice.therapy.loader import Catalogue, LoadedProfile, display_path
from tpdevice.therapy.profile import (
    HoldStep,
    HoldTimerPolicy,
    Profile,
    RestStep,
    SafetyCaps,
    Step,
    fmt_num,
)

__all__ = ["catalogue_json", "mmss", "print_catalogue", "print_profile"]

_NONE = "-"


def mmss(seconds: float) -> str:
    """Seconds as m:ss (rounded to the second)."""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def catalogue_json(catalogue: Catalogue) -> str:
    """One JSON array: a summary object per profile."""
    rows = [
        {
            "id": entry.profile.id,
            "title": entry.profile.title,
            "region": entry.profile.region,
            "laterality": entry.profile.laterality.value,
            "duration_s": entry.profile.duration_s(),
            "source": entry.source.value,
            "path": str(entry.path),
        }
        for entry in catalogue
    ]
    return json.dumps(rows, indent=2, ensure_ascii=False)


def print_catalogue(catalogue: Catalogue) -> None:
    """A table of every profile; the duration is a full run (both sides when bilateral)."""
    table = Table(title=f"{len(catalogue)} profiles", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("id", no_wrap=True, style="bold")
    table.add_column("title")
    table.add_column("region")
    table.add_column("laterality", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("source", no_wrap=True)
    for entry in catalogue:
        profile = entry.profile
        table.add_row(
            profile.id,
            escape(profile.title),
            escape(profile.region),
            profile.laterality.value,
            mmss(profile.duration_s()),
            entry.source.value,
        )
    _console().print(table)


def caps_text(caps: SafetyCaps) -> str:
    """The caps on one line, with units."""
    return (
        f"force <= {fmt_num(caps.max_force_n)} N, motor {fmt_num(caps.freq_min_hz)}.."
        f"{fmt_num(caps.freq_max_hz)} Hz, hold <= {fmt_num(caps.max_hold_s)} s, "
        f"motor-on <= {fmt_num(caps.max_work_s)} s per side, "
        f"recovery >= {fmt_num(caps.min_recovery_h)} h"
    )


def _header(entry: LoadedProfile) -> list[str]:
    profile = entry.profile
    passes = len(profile.passes())
    sides = "both sides" if passes == 2 else "midline"
    rows = [
        f"[bold]{escape(profile.title)}[/bold] ({profile.id}, {entry.source.value}: "
        f"{escape(str(display_path(entry.path)))})",
        f"region: {escape(profile.region)}; muscles: {escape(', '.join(profile.muscles))}",
        f"laterality: {profile.laterality.value}; attachment: {profile.attachment.value}",
        f"referral: {escape(profile.referral or _NONE)}",
        f"caps: {caps_text(profile.caps)}",
        f"duration: {mmss(profile.duration_s())} ({sides}); motor-on at most "
        f"{mmss(profile.motor_on_s_per_side())} per side; contact from "
        f"{fmt_num(profile.contact_threshold_n)} N",
    ]
    if profile.description:
        rows.append(escape(profile.description))
    return rows


def _band(step: Step) -> str:
    band = step.band()
    if band is None:
        return _NONE
    text = f"{fmt_num(band.low_n)}-{fmt_num(band.high_n)}"
    if isinstance(step, HoldStep) and step.cycles > 1:
        last = step.band(step.cycles - 1)
        if last is not None and last != band:
            text += f" -> {fmt_num(last.low_n)}-{fmt_num(last.high_n)}"
    return text


def _step_row(index: int, step: Step) -> list[str]:
    ramp = getattr(step, "force_ramp_n_per_s", 0.0)
    row = [str(index), step.kind, fmt_num(step.freq_hz), _band(step)]
    row.append(fmt_num(ramp) if ramp else _NONE)
    if not isinstance(step, HoldStep):
        return [*row, fmt_num(step.duration_s), _NONE, _NONE, _NONE]
    row[2] += f" / {fmt_num(step.release_freq_hz)}"
    progression = step.progression
    return [
        *row,
        f"{fmt_num(step.hold_s)} / {fmt_num(step.release_s)}",
        str(step.cycles),
        _NONE
        if progression is None
        else f"+{fmt_num(progression.force_step_n)} to {fmt_num(progression.force_max_n)}",
        _timer(step),
    ]


def _timer(step: HoldStep) -> str:
    if step.hold_timer.policy is HoldTimerPolicy.CONTACT:
        return f"contact {fmt_num(step.timer_cap_s)}"
    return "wall"


def steps_table(profile: Profile) -> Table:
    """The steps with units: kind, Hz, band N, ramp N/s, seconds, cycles, progression, timer."""
    table = Table(title="steps", title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True)
    for name in _STEP_COLUMNS:
        table.add_column(name, no_wrap=name in ("#", "kind", "Hz"))
    for index, step in enumerate(profile.steps):
        if isinstance(step, RestStep):
            table.add_row(str(index), "rest", "0", _NONE, _NONE, fmt_num(step.duration_s),
                          _NONE, _NONE, _NONE)  # fmt: skip
        else:
            table.add_row(*_step_row(index, step))
    return table


# Hz and s of a hold read "hold / release"; timer: wall, or contact with its cap in s.
_STEP_COLUMNS = ("#", "kind", "Hz", "band N", "ramp N/s", "s", "cycles", "+N/cycle", "timer s")


def print_profile(entry: LoadedProfile) -> None:
    """Header, steps table, then avoid-zones and contraindications, prominently."""
    console = _console()
    profile = entry.profile
    for line in _header(entry):
        console.print(line)
    console.print(steps_table(profile))
    for index, step in enumerate(profile.steps):
        if step.cue:
            console.print(f"  {index}. {escape(step.cue)}")
    avoid = "; ".join(profile.avoid_zones) or "none listed"
    never = "; ".join(profile.contraindications) or "none listed"
    console.print(f"[bold red]AVOID:[/bold red] {escape(avoid)}")
    console.print(f"[bold red]DO NOT USE WITH:[/bold red] {escape(never)}")
    if profile.sources:
        console.print(f"sources: {escape('; '.join(profile.sources))}", style="dim")
