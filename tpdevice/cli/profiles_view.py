"""Rich tables and JSON for `tpdevice profiles list` and `show`."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tpdevice.cli.listing_view import catalogue_rows, mmss, print_rows, rows_json
from tpdevice.therapy.loader import Catalogue, LoadedProfile, display_path
from tpdevice.therapy.profile import (
    HoldStep,
    HoldTimerPolicy,
    Laterality,
    Profile,
    RestStep,
    SafetyCaps,
    Step,
    fmt_num,
)
from tpdevice.therapy.profile_text import escape_controls

__all__ = ["catalogue_json", "mmss", "print_catalogue", "print_profile"]

_NONE = "-"


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def catalogue_json(catalogue: Catalogue) -> str:
    """One JSON array: a summary object per profile."""
    return rows_json(catalogue_rows(catalogue))


def print_catalogue(catalogue: Catalogue, console: Console | None = None) -> None:
    """A table of every profile that fits 80 columns: one side and the whole run in m:ss."""
    print_rows(catalogue_rows(catalogue), console)


def _text(value: str) -> str:
    """Text from a profile file, safe for the terminal and for rich markup."""
    return escape(escape_controls(value))


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
    path = escape_controls(str(display_path(entry.path)))
    rows = [
        f"[bold]{_text(profile.title)}[/bold] ({profile.id}, {entry.source.value}: {escape(path)})",
        f"region: {_text(profile.region)}; muscles: {_text(', '.join(profile.muscles))}",
        f"laterality: {profile.laterality.value}; attachment: {profile.attachment.value}",
        f"referral: {_long(profile.referral or _NONE)}",
        f"caps: {caps_text(profile.caps)}",
        f"duration: {_durations(profile)}; motor-on at most "
        f"{mmss(profile.motor_on_s_per_side())} per side; contact from "
        f"{fmt_num(profile.contact_threshold_n)} N",
    ]
    if profile.description:
        rows.append(_long(profile.description))
    return rows


def _durations(profile: Profile) -> str:
    """'6:35 per side, 13:10 both sides' or '9:50 (midline)'."""
    if profile.laterality is Laterality.MIDLINE:
        return f"{mmss(profile.duration_s())} (midline)"
    return f"{mmss(profile.pass_duration_s())} per side, {mmss(profile.duration_s())} both sides"


def _long(value: str) -> str:
    """Long text from a profile file: newlines kept, other controls escaped."""
    return escape(escape_controls(value, allow_newline=True))


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
            console.print(f"  {index}. {_long(step.cue)}")
    avoid = "; ".join(profile.avoid_zones) or "none listed"
    never = "; ".join(profile.contraindications) or "none listed"
    console.print(f"[bold red]AVOID:[/bold red] {_text(avoid)}")
    console.print(f"[bold red]DO NOT USE WITH:[/bold red] {_text(never)}")
    if profile.sources:
        console.print(f"sources: {_text('; '.join(profile.sources))}", style="dim")
