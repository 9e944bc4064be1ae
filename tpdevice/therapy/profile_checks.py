"""Cross-field checks of a profile: every step against the region's safety caps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpdevice.therapy.profile import FieldProblem, HoldStep, RestStep, SweepStep, fmt_num

if TYPE_CHECKING:
    from tpdevice.therapy.profile import Profile, SafetyCaps, Step

__all__ = ["LOW_FORCE_FRACTION", "advice", "cross_field_problems"]

# A closing sweep counts as low-force when its band top is at most this share of the force cap.
LOW_FORCE_FRACTION = 0.5


def cross_field_problems(profile: Profile) -> list[FieldProblem]:
    """Every problem between fields: frequencies, bands, holds and work against the caps."""
    caps = profile.caps
    problems: list[FieldProblem] = []
    caps_consistent = caps.freq_min_hz <= caps.freq_max_hz
    if not caps_consistent:
        problems.append(
            FieldProblem(
                ("caps", "freq_min_hz"),
                f"caps.freq_min_hz = {fmt_num(caps.freq_min_hz)} is above caps.freq_max_hz = "
                f"{fmt_num(caps.freq_max_hz)} (contradictory caps)",
            )
        )
    for index, step in enumerate(profile.steps):
        if caps_consistent:
            problems.extend(_freq_problems(index, step, caps))
        problems.extend(_band_problems(index, step, caps))
        if isinstance(step, HoldStep):
            problems.extend(_hold_time_problems(index, step, caps))
    work_s = profile.motor_on_s_per_side()
    if work_s > caps.max_work_s:
        problems.append(
            FieldProblem(
                ("steps",),
                f"steps: motor-on time per side = {fmt_num(work_s)} s is above caps.max_work_s "
                f"(allowed up to {fmt_num(caps.max_work_s)} s)",
            )
        )
    if profile.contact_threshold_n > caps.max_force_n:
        problems.append(
            _above_force_cap(("contact_threshold_n",), profile.contact_threshold_n, caps)
        )
    return problems


def advice(profile: Profile) -> list[FieldProblem]:
    """Non-fatal advice: a profile should end with a low-force sweep."""
    last_index = len(profile.steps) - 1
    last = profile.steps[last_index]
    band = last.band()
    light = band is not None and band.high_n <= LOW_FORCE_FRACTION * profile.caps.max_force_n
    if isinstance(last, SweepStep) and light:
        return []
    return [
        FieldProblem(
            ("steps", last_index),
            f"steps[{last_index}]: the last step is a {last.kind}, not a low-force sweep "
            "(advice: end with a light 20-30 s sweep)",
        )
    ]


def _path(loc: tuple[str | int, ...]) -> str:
    """('steps', 1, 'hold_s') -> 'steps[1].hold_s'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _above_force_cap(loc: tuple[str | int, ...], value: float, caps: SafetyCaps) -> FieldProblem:
    return FieldProblem(
        loc,
        f"{_path(loc)} = {fmt_num(value)} is above caps.max_force_n "
        f"(allowed up to {fmt_num(caps.max_force_n)} N)",
    )


def _freq_problems(index: int, step: Step, caps: SafetyCaps) -> list[FieldProblem]:
    if isinstance(step, RestStep):
        return []  # a rest's freq_hz is checked to be 0 by the model itself
    names = ("freq_hz", "release_freq_hz") if isinstance(step, HoldStep) else ("freq_hz",)
    problems = []
    for name in names:
        value: float = getattr(step, name)
        if not caps.freq_allowed(value):
            loc = ("steps", index, name)
            problems.append(
                FieldProblem(
                    loc,
                    f"{_path(loc)} = {fmt_num(value)} is outside the caps range "
                    f"(allowed {caps.freq_text()})",
                )
            )
    return problems


def _band_problems(index: int, step: Step, caps: SafetyCaps) -> list[FieldProblem]:
    if not isinstance(step, HoldStep):
        band = step.band()
        if band is None or band.high_n <= caps.max_force_n:
            return []
        return [_band_top_problem(index, step, caps, band.target_n)]
    progression = step.progression
    if progression is not None and progression.force_max_n > caps.max_force_n:
        loc: tuple[str | int, ...] = ("steps", index, "progression", "force_max_n")
        return [_above_force_cap(loc, progression.force_max_n, caps)]
    problems = []
    if progression is not None and progression.force_max_n < step.force_target_n:
        loc = ("steps", index, "progression", "force_max_n")
        problems.append(
            FieldProblem(
                loc,
                f"{_path(loc)} = {fmt_num(progression.force_max_n)} is below force_target_n = "
                f"{fmt_num(step.force_target_n)} (a progression may not lower the pressure)",
            )
        )
    for cycle in range(step.cycles):
        target_n = step.force_target_for_cycle(cycle)
        if target_n + step.force_tolerance_n > caps.max_force_n:
            problems.append(_band_top_problem(index, step, caps, target_n, cycle))
            break
    return problems


def _band_top_problem(
    index: int, step: Step, caps: SafetyCaps, target_n: float, cycle: int = 0
) -> FieldProblem:
    tolerance_n: float = getattr(step, "force_tolerance_n", 0.0)
    top = fmt_num(target_n + tolerance_n)
    limit = f"is above caps.max_force_n (allowed up to {fmt_num(caps.max_force_n)} N)"
    if cycle == 0:
        loc: tuple[str | int, ...] = ("steps", index, "force_target_n")
        return FieldProblem(
            loc,
            f"{_path(loc)} = {fmt_num(target_n)}: band top {fmt_num(target_n)} + "
            f"{fmt_num(tolerance_n)} = {top} N {limit}",
        )
    loc = ("steps", index, "progression")
    return FieldProblem(
        loc,
        f"{_path(loc)}: cycle {cycle + 1} band top {fmt_num(target_n)} + "
        f"{fmt_num(tolerance_n)} = {top} N {limit}",
    )


def _hold_time_problems(index: int, step: HoldStep, caps: SafetyCaps) -> list[FieldProblem]:
    problems = []
    max_hold = fmt_num(caps.max_hold_s)
    if step.hold_s > caps.max_hold_s:
        loc: tuple[str | int, ...] = ("steps", index, "hold_s")
        problems.append(
            FieldProblem(
                loc,
                f"{_path(loc)} = {fmt_num(step.hold_s)} is above caps.max_hold_s "
                f"(allowed 1..{max_hold} s)",
            )
        )
    cap_s = step.hold_timer.cap_s
    if problems or cap_s is None:
        return problems  # a cap range starting above max_hold_s would only confuse
    if not step.hold_s <= cap_s <= caps.max_hold_s:
        loc = ("steps", index, "hold_timer", "cap_s")
        where = (
            f"below hold_s = {fmt_num(step.hold_s)}"
            if cap_s < step.hold_s
            else ("above caps.max_hold_s")
        )
        problems.append(
            FieldProblem(
                loc,
                f"{_path(loc)} = {fmt_num(cap_s)} is {where} "
                f"(allowed {fmt_num(step.hold_s)}..{max_hold} s)",
            )
        )
    return problems
