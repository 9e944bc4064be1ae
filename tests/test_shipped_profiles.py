"""The shipped profiles in profiles/: they load with the real loader and obey the dosing rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from repo_paths import PROFILES_DIR, ROOT, shipped_profiles

from tpdevice.therapy.loader import check_file, load_catalogue, shipped_profiles_dir
from tpdevice.therapy.profile import (
    HoldStep,
    HoldTimerPolicy,
    Laterality,
    Profile,
    ReleaseStep,
    RestStep,
    SweepStep,
)

DOCS = ROOT / "docs" / "profiles.md"
FILES = shipped_profiles()

REQUIRED_IDS = {
    "upper-trapezius",
    "levator-scapulae",
    "rhomboids",
    "infraspinatus",
    "pectoralis-major",
    "forearm-extensors",
    "quadratus-lumborum",
    "gluteus-medius",
    "piriformis",
    "hamstrings",
    "gastrocnemius-soleus",
    "plantar-fascia",
    "quadriceps",
    "whole-back-flush",
}
MIDLINE_IDS = {"whole-back-flush"}
# 35 % of the smallest stall force among common guns (a mini: 20 lbf, 89 N).
SENSITIVE_IDS = {
    "upper-trapezius",
    "levator-scapulae",
    "pectoralis-major",
    "forearm-extensors",
    "plantar-fascia",
}
SENSITIVE_MAX_FORCE_N = 0.35 * 89
# tp-sim-mini: 29-40 Hz, 60 N. Every profile must run on it.
DEVICE_FREQ_HZ = (29.0, 40.0)
DEVICE_MAX_FORCE_N = 60.0
# Avoid zones each region must name (lower-case substrings).
REGION_AVOID = {
    "upper-trapezius": ["front and side of the neck"],
    "levator-scapulae": ["front and side of the neck"],
    "hamstrings": ["popliteal fossa"],
    "quadratus-lumborum": ["kidneys", "flank", "12th rib"],
    "gluteus-medius": ["greater trochanter"],
    "piriformis": ["greater trochanter"],
    "gastrocnemius-soleus": ["achilles", "varicose"],
    "pectoralis-major": ["armpit", "breast"],
    "quadriceps": ["kneecap", "groin"],
    "whole-back-flush": ["spine", "kidneys"],
    "plantar-fascia": ["heel bone"],
}


# Valid profiles only; a file that fails to load fails test_profile_loads_with_id_equal_...
PROFILES = {
    path.stem: result.profile for path in FILES if (result := check_file(path)).profile is not None
}


def holds(profile: Profile) -> list[HoldStep]:
    return [step for step in profile.steps if isinstance(step, HoldStep)]


def band_top_n(step: SweepStep) -> float:
    return step.force_target_n + step.force_tolerance_n


def dosing_problems(profile: Profile) -> list[str]:
    """Every breach of the issue's dosing rules (empty when the profile follows them)."""
    problems: list[str] = []
    for index, step in enumerate(profile.steps):
        where = f"steps[{index}]"
        if not step.cue.strip():
            problems.append(f"{where}: no cue")
        if isinstance(step, HoldStep):
            problems += hold_problems(where, step)
        if isinstance(step, RestStep | ReleaseStep) and not 15 <= step.duration_s <= 30:
            problems.append(f"{where}: {step.kind} {step.duration_s} s not in 15..30 s")
        if isinstance(step, SweepStep) and not 0 < step.force_ramp_n_per_s <= 10:
            problems.append(f"{where}: sweep ramp {step.force_ramp_n_per_s} not in (0, 10] N/s")
        freqs = [step.freq_hz] + ([step.release_freq_hz] if isinstance(step, HoldStep) else [])
        low, high = DEVICE_FREQ_HZ
        problems += [f"{where}: {f} Hz off the device" for f in freqs if f and not low <= f <= high]
    return problems + shape_problems(profile)


def hold_problems(where: str, step: HoldStep) -> list[str]:
    """Hold 30-90 s, 2-4 cycles, release 15-30 s, ramp about 10 N/s, +5 N a cycle."""
    problems = []
    if not 30 <= step.hold_s <= 90:
        problems.append(f"{where}: hold {step.hold_s} s not in 30..90 s")
    if not 2 <= step.cycles <= 4:
        problems.append(f"{where}: {step.cycles} cycles not in 2..4")
    if not 15 <= step.release_s <= 30:
        problems.append(f"{where}: release {step.release_s} s not in 15..30 s")
    if not 8 <= step.force_ramp_n_per_s <= 12:
        problems.append(f"{where}: ramp {step.force_ramp_n_per_s} N/s is not about 10")
    if step.progression is None or step.progression.force_step_n != 5:
        problems.append(f"{where}: progression is not +5 N a cycle")
    elif step.force_target_for_cycle(step.cycles - 1) != step.progression.force_max_n:
        problems.append(f"{where}: progression cap {step.progression.force_max_n} N never reached")
    if step.hold_timer.policy is HoldTimerPolicy.CONTACT and step.hold_timer.cap_s is None:
        problems.append(f"{where}: contact hold without cap_s")
    return problems


def shape_problems(profile: Profile) -> list[str]:
    """A gentle opening sweep and a light 20-30 s closing sweep."""
    first, last = profile.steps[0], profile.steps[-1]
    if not isinstance(first, SweepStep) or not isinstance(last, SweepStep):
        return ["does not start and end with a sweep"]
    problems = []
    half_cap_n = profile.caps.max_force_n / 2
    first_hold = holds(profile)[0] if holds(profile) else None
    if band_top_n(first) > half_cap_n or (
        first_hold is not None and first.force_target_n > first_hold.force_target_n
    ):
        problems.append(f"opening sweep {first.force_target_n} N is not gentle")
    if not 20 <= last.duration_s <= 30:
        problems.append(f"closing sweep {last.duration_s} s not in 20..30 s")
    if band_top_n(last) > half_cap_n or last.force_target_n > first.force_target_n:
        problems.append(f"closing sweep {last.force_target_n} N is not low-force")
    return problems


def test_at_least_the_fourteen_required_profiles_ship() -> None:
    stems = {path.stem for path in FILES}
    assert len(FILES) >= 14
    assert stems >= REQUIRED_IDS, sorted(REQUIRED_IDS - stems)


def test_catalogue_of_shipped_profiles_loads_without_problems_or_advice() -> None:
    catalogue = load_catalogue(shipped_dir=PROFILES_DIR, include_user=False)
    assert not catalogue.problems, [str(p) for p in catalogue.problems]
    assert not catalogue.advice, [str(p) for p in catalogue.advice]
    assert sorted(catalogue.ids()) == [path.stem for path in FILES]
    assert len(set(catalogue.ids())) == len(catalogue)


def test_shipped_dir_is_found_next_to_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TPDEVICE_PROFILES_DIR", raising=False)
    found = shipped_profiles_dir()
    assert found is not None
    assert found.resolve() == PROFILES_DIR.resolve()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_profile_loads_with_id_equal_to_file_stem(path: Path) -> None:
    result = check_file(path)
    assert result.ok, [str(p) for p in result.problems]
    assert not result.advice, [str(p) for p in result.advice]
    assert result.profile is not None
    assert result.profile.id == path.stem


@pytest.mark.parametrize("profile_id", sorted(PROFILES))
def test_profile_follows_the_dosing_rules(profile_id: str) -> None:
    assert dosing_problems(PROFILES[profile_id]) == []


@pytest.mark.parametrize("profile_id", sorted(PROFILES))
def test_profile_carries_its_safety_text(profile_id: str) -> None:
    profile = PROFILES[profile_id]
    assert profile.avoid_zones
    assert profile.contraindications
    assert profile.sources
    assert profile.referral.strip()
    assert profile.description.strip()
    assert all(len(step.cue) <= 300 for step in profile.steps), "cues must stay short"
    zones = " ".join(profile.avoid_zones).lower()
    missing = [zone for zone in REGION_AVOID.get(profile_id, []) if zone not in zones]
    assert not missing


@pytest.mark.parametrize("profile_id", sorted(PROFILES))
def test_profile_caps_fit_every_simulated_gun(profile_id: str) -> None:
    caps = PROFILES[profile_id].caps
    assert caps.max_force_n <= DEVICE_MAX_FORCE_N
    assert caps.max_hold_s <= 90
    if profile_id in SENSITIVE_IDS:
        assert caps.max_force_n <= SENSITIVE_MAX_FORCE_N
    assert PROFILES[profile_id].motor_on_s_per_side() <= caps.max_work_s


def test_laterality_is_bilateral_except_the_midline_flush() -> None:
    for profile_id, profile in PROFILES.items():
        expected = Laterality.MIDLINE if profile_id in MIDLINE_IDS else Laterality.BILATERAL
        assert profile.laterality is expected, profile_id


def test_durations_are_realistic_and_one_profile_runs_about_ten_minutes() -> None:
    per_side_s = {pid: p.pass_duration_s() for pid, p in PROFILES.items()}
    outside = {pid: s for pid, s in per_side_s.items() if not 4 * 60 <= s <= 12 * 60}
    assert not outside
    assert max(per_side_s.values()) >= 9.5 * 60


def test_most_holds_use_the_contact_timer_and_some_the_wall_clock() -> None:
    policies = [hold.hold_timer.policy for p in PROFILES.values() for hold in holds(p)]
    contact = policies.count(HoldTimerPolicy.CONTACT)
    wall = policies.count(HoldTimerPolicy.WALL)
    assert wall >= 1
    assert contact > wall


def mutate_step(profile: Profile, index: int, **update: object) -> Profile:
    steps = list(profile.steps)
    steps[index] = steps[index].model_copy(update=update)
    return profile.model_copy(update={"steps": tuple(steps)})


def first_hold_index(profile: Profile) -> int:
    return next(i for i, step in enumerate(profile.steps) if isinstance(step, HoldStep))


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({"hold_s": 20.0}, "not in 30..90 s"),
        ({"cycles": 5}, "cycles not in 2..4"),
        ({"release_s": 40.0}, "release 40.0 s"),
        ({"force_ramp_n_per_s": 0.0}, "is not about 10"),
        ({"progression": None}, "not +5 N a cycle"),
        ({"freq_hz": 45.0}, "45.0 Hz off the device"),
        ({"release_freq_hz": 28.0}, "28.0 Hz off the device"),
        ({"cue": "  "}, "no cue"),
    ],
)
def test_dosing_checks_catch_a_bad_hold(update: dict[str, object], expected: str) -> None:
    profile = PROFILES["upper-trapezius"]
    bad = mutate_step(profile, first_hold_index(profile), **update)
    assert any(expected in problem for problem in dosing_problems(bad))


def test_dosing_checks_catch_a_firm_or_long_closing_sweep() -> None:
    profile = PROFILES["hamstrings"]
    last = len(profile.steps) - 1
    firm = dosing_problems(mutate_step(profile, last, force_target_n=30.0))
    long = dosing_problems(mutate_step(profile, last, duration_s=60.0))
    assert any("not low-force" in problem for problem in firm)
    assert any("not in 20..30 s" in problem for problem in long)


def test_dosing_checks_catch_a_profile_not_opening_with_a_gentle_sweep() -> None:
    profile = PROFILES["gluteus-medius"]
    reordered = profile.model_copy(update={"steps": profile.steps[2:]})
    firm_open = mutate_step(profile, 0, force_target_n=45.0)
    assert "does not start and end with a sweep" in dosing_problems(reordered)
    assert any("not gentle" in problem for problem in dosing_problems(firm_open))


def docs_table_rows(text: str) -> dict[str, list[str]]:
    """Rows of the shipped-profiles table in docs/profiles.md, keyed by the id column."""
    section = text.split("## 3. Shipped profiles", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*`([a-z0-9-]+)`\s*\|(.*)\|\s*$", line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} listed twice"
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def table_problems(text: str) -> list[str]:
    """Differences between the docs table and the shipped files."""
    rows = docs_table_rows(text)
    problems = [f"{pid}: not in the docs table" for pid in sorted(set(PROFILES) - set(rows))]
    problems += [f"{pid}: no such profile" for pid in sorted(set(rows) - set(PROFILES))]
    for pid in sorted(set(rows) & set(PROFILES)):
        profile, cells = PROFILES[pid], rows[pid]
        seconds = round(profile.pass_duration_s())
        expected = {
            1: profile.laterality.value,
            2: profile.attachment.value,
            6: f"{seconds // 60}:{seconds % 60:02d}",
            7: f"{profile.motor_on_s_per_side():g} / {profile.caps.max_work_s:g}",
            8: f"{profile.caps.max_force_n:g}",
        }
        problems += [
            f"{pid}: column {col + 1} says {cells[col]!r}, the file says {value!r}"
            for col, value in expected.items()
            if cells[col] != value
        ]
    return problems


def test_docs_table_lists_every_shipped_profile_as_it_is() -> None:
    assert table_problems(DOCS.read_text(encoding="utf-8")) == []


def test_docs_table_check_catches_a_missing_row_and_a_stale_cap() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = re.sub(r"^\| `piriformis` \|.*\n", "", text, flags=re.MULTILINE)
    stale = re.sub(r"(^\| `hamstrings` \|.*\| )60( \|)$", r"\g<1>99\2", text, flags=re.MULTILINE)
    assert "piriformis: not in the docs table" in table_problems(missing)
    assert any(p.startswith("hamstrings: column 9") for p in table_problems(stale))
