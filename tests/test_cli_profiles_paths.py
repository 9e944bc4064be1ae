"""Profiles named by file path (run, show), durations per side, and the 80-column table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import json_lines, run_main
from rich.console import Console

from tpdevice.cli.profiles_view import print_catalogue
from tpdevice.therapy.loader import PROFILES_DIR_ENV, load_catalogue

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).parent / "data"
OK = DATA / "profiles_ok"
SHIPPED = ROOT / "profiles"
SHORT = """\
id: my-profile
title: My profile
region: test region
muscles: [test muscle]
laterality: midline
attachment: ball
avoid_zones: [spine]
contraindications: [injury]
caps: {max_force_n: 30, freq_min_hz: 28, freq_max_hz: 40, max_hold_s: 60,
       max_work_s: 300, min_recovery_h: 24}
steps:
  - {kind: sweep, freq_hz: 30, force_target_n: 10, force_tolerance_n: 5, duration_s: 2}
  - {kind: sweep, freq_hz: 29, force_target_n: 8, force_tolerance_n: 4, duration_s: 1}
"""


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Shipped = tests/data/profiles_ok, no user profiles, cwd = a fresh dir; returns it."""
    monkeypatch.setenv(PROFILES_DIR_ENV, str(OK))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "80")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_run_accepts_a_profile_file(capsys: pytest.CaptureFixture[str], isolated: Path) -> None:
    (isolated / "my-profile.yaml").write_text(SHORT)
    code, out, err = run_main(capsys, "run", "./my-profile.yaml", "--json", "--time-scale", "50")
    assert code == 0, err
    events = json_lines(out)
    started = next(event for event in events if event["type"] == "session.started")
    assert started["step_count"] == 2
    assert events[-1]["type"] == "summary" and events[-1]["outcome"] == "completed"


def test_show_accepts_a_profile_file(capsys: pytest.CaptureFixture[str], isolated: Path) -> None:
    (isolated / "my-profile.yaml").write_text(SHORT)
    code, out, err = run_main(capsys, "profiles", "show", "my-profile.yaml")
    assert (code, err) == (0, "")
    assert "My profile (my-profile, file: my-profile.yaml)" in out
    assert "duration: 0:03 (midline)" in out


def test_a_bad_profile_file_is_refused_as_validate_refuses_it(
    capsys: pytest.CaptureFixture[str], isolated: Path
) -> None:
    (isolated / "other-name.yaml").write_text(SHORT)
    code, out, err = run_main(capsys, "run", "./other-name.yaml", "--time-scale", "50")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "tpdevice: error: other-name.yaml:1: id = 'my-profile' does not match the file name "
        "other-name.yaml (the file must be named my-profile.yaml)"
    ]
    code, _, validate_err = run_main(capsys, "profiles", "validate", "other-name.yaml")
    assert code == 1
    assert validate_err.splitlines()[0] in err


def test_a_file_may_not_shadow_a_catalogue_profile(
    capsys: pytest.CaptureFixture[str], isolated: Path
) -> None:
    (isolated / "neck-test.yaml").write_text((OK / "neck-test.yaml").read_text())
    code, _, err = run_main(capsys, "profiles", "show", "./neck-test.yaml")
    assert code == 1
    assert "duplicate profile id 'neck-test': already defined in" in err
    shipped = OK / "neck-test.yaml"  # the catalogue's own file is that profile
    code, _, err = run_main(capsys, "profiles", "show", str(shipped))
    assert (code, err) == (0, "")


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("./missing.yaml", "missing.yaml: no such file or directory"),
        ("/dev/zero", "/dev/zero: not a regular file (a character device)"),
    ],
)
def test_a_missing_or_special_file_is_one_line(
    capsys: pytest.CaptureFixture[str], isolated: Path, ref: str, message: str
) -> None:
    code, out, err = run_main(capsys, "run", ref, "--time-scale", "50")
    assert (code, out) == (1, "")
    assert err == f"tpdevice: error: {message}\n"


def test_show_gives_the_duration_per_side_and_both(
    capsys: pytest.CaptureFixture[str], isolated: Path
) -> None:
    code, out, _ = run_main(capsys, "profiles", "show", "neck-test")
    assert code == 0
    assert "duration: 4:45 per side, 9:30 both sides;" in out


@pytest.mark.parametrize("profiles_dir", [SHIPPED, OK])
def test_the_list_fits_80_columns(profiles_dir: Path) -> None:
    catalogue = load_catalogue([], shipped_dir=profiles_dir, user_dir=profiles_dir / "none")
    console = Console(width=80, record=True, highlight=False)
    print_catalogue(catalogue, console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.split() and line.split()[0] in catalogue.ids()]
    assert len(rows) == len(catalogue)  # one line per profile, nothing wrapped


def test_the_list_with_extra_profiles_fits_80_columns() -> None:
    catalogue = load_catalogue([OK], shipped_dir=SHIPPED, user_dir=OK / "none")
    console = Console(width=80, record=True, highlight=False)
    print_catalogue(catalogue, console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    neck = next(line for line in lines if line.startswith(" neck-test "))
    assert neck.split()[:6] == ["neck-test", "neck-shoulder", "L+R", "4:45", "9:30", "extra"]


def test_upper_trapezius_durations_match_the_readme(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(PROFILES_DIR_ENV, str(SHIPPED))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    code, out, _ = run_main(capsys, "profiles", "list", "--json")
    assert code == 0
    row = next(row for row in json.loads(out) if row["id"] == "upper-trapezius")
    per_side = f"{int(row['duration_per_side_s']) // 60}:{int(row['duration_per_side_s']) % 60:02d}"
    readme = (ROOT / "README.md").read_text()
    assert f"{per_side} per side" in readme
    assert row["duration_s"] == 2 * row["duration_per_side_s"]
