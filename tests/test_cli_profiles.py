"""`tpdevice profiles list/show/validate/schema`: tables, JSON, one line per problem, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_main as run

from tpdevice.therapy.loader import PROFILES_DIR_ENV
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.schema import profile_json_schema

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).parent / "data"
OK = DATA / "profiles_ok"
BAD = DATA / "bad_profiles"


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No shipped profiles, an empty user dir; returns the user profiles dir."""
    (tmp_path / "shipped").mkdir()
    monkeypatch.setenv(PROFILES_DIR_ENV, str(tmp_path / "shipped"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "160")
    return tmp_path / "config" / "tpdevice" / "profiles"


def test_list_table(capsys: pytest.CaptureFixture[str], isolated: Path) -> None:
    code, out, err = run(capsys, "profiles", "list", "--profiles-dir", str(OK))
    assert (code, err) == (0, "")
    assert "3 profiles" in out
    neck = next(line for line in out.splitlines() if "neck-test" in line)
    # bilateral: two passes of 45 + 3 * 60 + 20 + 10 + 30 s = 4:45 per side
    assert neck.split() == [
        "neck-test",
        "neck-shoulder",
        "L+R",
        "4:45",
        "9:30",
        "extra",
        "Neck",
        "test",
    ]
    low_back = next(line for line in out.splitlines() if "low-back-test" in line)
    assert low_back.split()[3:6] == ["mid", "2:20", "2:20"]


def test_list_json_is_one_array(capsys: pytest.CaptureFixture[str], isolated: Path) -> None:
    isolated.mkdir(parents=True)
    (isolated / "calf-test.yml").write_text((OK / "calf-test.yml").read_text())
    code, out, _ = run(capsys, "profiles", "list", "--json", "--profiles-dir", str(OK / "x"))
    assert code == 1  # the missing --profiles-dir is reported...
    rows = json.loads(out)  # ...and the rest still listed as JSON
    assert [
        (row["id"], row["source"], row["duration_s"], row["duration_per_side_s"]) for row in rows
    ] == [("calf-test", "user", 50.0, 25.0)]


def test_list_reports_bad_files_but_lists_good_ones(
    capsys: pytest.CaptureFixture[str], isolated: Path
) -> None:
    code, out, err = run(
        capsys, "profiles", "list", "--profiles-dir", str(OK), "--profiles-dir", str(BAD)
    )
    assert code == 1
    assert "neck-test" in out
    assert "tests/data/bad_profiles/wrong-type.yaml:27: steps[1].hold_s = 'forty'" in err
    assert "Traceback" not in err


def test_show_prints_caps_steps_and_safety(
    capsys: pytest.CaptureFixture[str], isolated: Path
) -> None:
    code, out, err = run(capsys, "profiles", "show", "neck-test", "--profiles-dir", str(OK))
    assert (code, err) == (0, "")
    assert "Neck test (neck-test, extra: tests/data/profiles_ok/neck-test.yaml)" in out
    assert "caps: force <= 30 N, motor 28..40 Hz, hold <= 90 s" in out
    hold_row = next(line for line in out.splitlines() if line.split()[:2] == ["1", "hold"])
    assert hold_row.split() == [
        "1", "hold", "29", "/", "0", "10-20", "->", "20-30", "10", "45", "/", "15", "3",
        "+5", "to", "25", "contact", "90",
    ]  # fmt: skip
    assert "AVOID: front and side of the neck; clavicle" in out
    assert "DO NOT USE WITH: recent injury or surgery; blood thinners" in out
    assert "1. Sink in until you meet resistance; hold still." in out


def test_show_json_round_trips(capsys: pytest.CaptureFixture[str], isolated: Path) -> None:
    code, out, _ = run(
        capsys, "profiles", "show", "low-back-test", "--json", "--profiles-dir", str(OK)
    )
    assert code == 0
    profile = Profile.model_validate(json.loads(out))
    assert profile.id == "low-back-test"
    assert profile.laterality.value == "midline"


def test_show_unknown_id_is_one_line_with_close_matches(
    capsys: pytest.CaptureFixture[str], isolated: Path
) -> None:
    code, out, err = run(capsys, "profiles", "show", "neck-tst", "--profiles-dir", str(OK))
    assert code == 2  # a usage mistake, as for `run`
    assert out == ""
    assert err == "tpdevice: error: unknown profile 'neck-tst' (did you mean neck-test?)\n"
    code, _, err = run(capsys, "profiles", "show", "back", "--profiles-dir", str(OK))
    assert (code, err) == (
        2,
        "tpdevice: error: unknown profile 'back' (did you mean low-back-test?)\n",
    )


def test_validate_bad_files_one_line_per_problem(
    capsys: pytest.CaptureFixture[str], isolated: Path
) -> None:
    files = [
        str(BAD / "hold-above-max-hold.yaml"),
        str(BAD / "empty.yaml"),
        str(OK / "neck-test.yaml"),
    ]
    code, out, err = run(capsys, "profiles", "validate", *files)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "tests/data/bad_profiles/hold-above-max-hold.yaml:27: steps[1].hold_s = 120 is above "
        "caps.max_hold_s (allowed 1..90 s)",
        "tests/data/bad_profiles/empty.yaml:1: file is empty (expected a mapping of profile "
        "fields)",
        "bad: 2 problems in 2 files",
    ]


def test_validate_whole_corpus_dir(capsys: pytest.CaptureFixture[str], isolated: Path) -> None:
    code, _, err = run(capsys, "profiles", "validate", str(BAD))
    assert code == 1
    lines = err.splitlines()
    corpus = len(list(BAD.glob("*.yaml")))
    assert lines[-1].startswith("bad: ")
    assert lines[-1].endswith(f"in {corpus} files")
    assert all(line.startswith("tests/data/bad_profiles/") for line in lines[:-1])


def test_validate_good_files(capsys: pytest.CaptureFixture[str], isolated: Path) -> None:
    code, out, err = run(capsys, "profiles", "validate", str(OK))
    assert (code, out, err) == (0, "ok: 3 profiles\n", "")


def test_validate_catches_an_id_already_in_the_catalogue(
    capsys: pytest.CaptureFixture[str], isolated: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "mine" / "neck-test.yaml"
    copy.parent.mkdir()
    copy.write_text((OK / "neck-test.yaml").read_text())
    code, _, err = run(capsys, "profiles", "validate", str(copy), "--profiles-dir", str(OK))
    assert code == 1
    assert f"{copy}:2: duplicate profile id 'neck-test': already defined in " in err
    assert "neck-test.yaml (extra)" in err


def test_validate_without_files_checks_the_catalogue(
    capsys: pytest.CaptureFixture[str], isolated: Path
) -> None:
    code, out, _ = run(capsys, "profiles", "validate", "--profiles-dir", str(OK))
    assert (code, out) == (0, "ok: 3 profiles\n")


def test_validate_prints_advice_without_failing(
    capsys: pytest.CaptureFixture[str], isolated: Path, tmp_path: Path
) -> None:
    path = tmp_path / "calf-test.yml"
    path.write_text((OK / "calf-test.yml").read_text().replace("kind: sweep", "kind: release"))
    code, out, err = run(capsys, "profiles", "validate", str(path))
    assert (code, out) == (0, "ok: 1 profile\n")
    assert f"{path}:20: warning: steps[0]: the last step is a release" in err


def test_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "profiles", "schema")
    assert code == 0
    assert json.loads(out) == profile_json_schema()


def test_shipped_profiles_are_listed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shipped = sorted(path.stem for path in (ROOT / "profiles").glob("*.yaml"))
    if not shipped:
        pytest.skip("no shipped profiles yet")
    monkeypatch.delenv(PROFILES_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    code, out, err = run(capsys, "profiles", "list", "--json")
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert sorted(row["id"] for row in rows) == shipped
    assert {row["source"] for row in rows} == {"shipped"}


def test_no_traceback_from_a_real_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tpdevice", "profiles", "validate", str(BAD / "invalid-yaml.yaml")],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "tests/data/bad_profiles/invalid-yaml.yaml:31: invalid YAML: expected ',' or '}', but got "
        "':' (parsing a flow mapping that began at line 30)",
        "bad: 1 problem in 1 file",
    ]
