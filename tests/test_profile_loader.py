"""Profile loading: the bad-profile corpus, line numbers, the catalogue and its duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from repo_paths import PROFILES_DIR

from tpdevice.therapy.loader import (
    PROFILES_DIR_ENV,
    ProfileSource,
    check_file,
    check_files,
    load_catalogue,
    load_profile,
    shipped_profiles_dir,
    user_profiles_dir,
)
from tpdevice.therapy.profile_errors import ProfileError
from tpdevice.therapy.profile_yaml import MAX_PROFILE_BYTES

DATA = Path(__file__).parent / "data"
BAD = DATA / "bad_profiles"
OK = DATA / "profiles_ok"
OK_IDS = {"calf-test", "low-back-test", "neck-test"}

# file stem -> (line, fragment of the message that line must carry); one mistake per file
EXPECTED: dict[str, tuple[int, str]] = {
    "alias": (9, "aliases (*name) are not allowed"),
    "bad-id-chars": (2, "id = 'Bad_Id_Chars' may use only a-z, 0-9"),
    "band-above-cap": (20, "force_target_n = 28: band top 28 + 5 = 33 N is above caps.max_force_n"),
    "bool-as-number": (22, "steps[0].duration_s = true must be a number"),
    "cap-above-absolute": (11, "caps.max_force_n = 200 is outside the allowed range (1..150 N)"),
    "contradictory-caps": (12, "caps.freq_min_hz = 45 is above caps.freq_max_hz = 40"),
    "cycles-too-many": (29, "steps[1].cycles = 7 is outside the allowed range (1..6)"),
    "cycles-zero": (29, "steps[1].cycles = 0 is outside the allowed range (1..6)"),
    "duplicate-key": (29, "duplicate key 'hold_s' (first at line 27)"),
    "empty": (1, "file is empty"),
    "freq-above-absolute": (19, "freq_hz = 80 is outside the allowed range (0 or 10..60 Hz)"),
    "freq-outside-caps": (19, "freq_hz = 45 is outside the caps range (allowed 0 or 28..40 Hz)"),
    "hold-above-max-hold": (27, "steps[1].hold_s = 120 is above caps.max_hold_s (allowed 1..90 s)"),
    "id-mismatch": (2, "id = 'something-else' does not match the file name id-mismatch.yaml"),
    "invalid-yaml": (31, "invalid YAML: expected ',' or '}'"),
    "missing-caps-field": (10, "caps: missing required field max_work_s"),
    "missing-field": (23, "steps[1]: missing required field release_s"),
    "negative-duration": (22, "steps[0].duration_s = -5 is outside the allowed range (1..600 s)"),
    "progression-band-exceeds": (30, "progression: cycle 4 band top 30 + 5 = 35 N is above caps"),
    "progression-below-target": (30, "progression.force_max_n = 10 is below force_target_n = 15"),
    "progression-cap-above-max": (30, "force_max_n = 35 is above caps.max_force_n (allowed up"),
    "release-freq-outside-caps": (29, "steps[1].release_freq_hz = 20 is outside the caps range"),
    "rest-with-band": (33, "steps[2]: unknown key 'force_target_n' (a rest step has no pressure"),
    "rest-with-freq": (33, "steps[2].freq_hz = 30 is not allowed: a rest step keeps the motor off"),
    "steps-empty": (17, "steps must not be empty"),
    "timer-cap-above-max-hold": (31, "cap_s = 120 is above caps.max_hold_s (allowed 45..90 s)"),
    "timer-cap-below-hold": (31, "hold_timer.cap_s = 30 is below hold_s = 45 (allowed 45..90 s)"),
    "top-level-list": (2, "the top level must be a mapping of profile fields, not a list"),
    "unknown-key-typo": (33, "steps[2]: unknown key 'duraton_s' (did you mean duration_s?)"),
    "unknown-laterality": (6, "laterality = 'left' is not one of 'bilateral' or 'midline'"),
    "unknown-step-kind": (32, "steps[2].kind = 'press' is not a step kind"),
    "unknown-top-key": (5, "unknown key 'regoin' (did you mean region?)"),
    "work-over-max": (17, "steps: motor-on time per side = 170 s is above caps.max_work_s"),
    "wrong-type": (27, "steps[1].hold_s = 'forty' must be a number"),
}  # fmt: skip


def test_the_corpus_and_its_table_match() -> None:
    stems = {path.stem for path in BAD.glob("*.yaml")}
    assert stems == set(EXPECTED)
    assert len(stems) >= 18


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_each_bad_profile_names_file_line_and_mistake(stem: str) -> None:
    line, fragment = EXPECTED[stem]
    result = check_file(BAD / f"{stem}.yaml")
    assert not result.ok
    assert result.profile is None
    texts = [str(problem) for problem in result.problems]
    matching = [text for text in texts if fragment in text]
    assert matching, texts
    assert matching[0].startswith(f"tests/data/bad_profiles/{stem}.yaml:{line}: "), matching
    assert all("\n" not in text for text in texts)


def test_a_typo_also_reports_the_field_it_left_missing() -> None:
    messages = [p.message for p in check_file(BAD / "unknown-key-typo.yaml").problems]
    assert messages == [
        "steps[2]: missing required field duration_s",
        "steps[2]: unknown key 'duraton_s' (did you mean duration_s?)",
    ]


@pytest.mark.parametrize("path", sorted(OK.iterdir()), ids=lambda p: p.name)
def test_good_fixtures_load(path: Path) -> None:
    result = check_file(path)
    assert result.ok, [str(problem) for problem in result.problems]
    assert result.advice == ()
    assert load_profile(path).id == path.stem


def test_load_profile_raises_one_error_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "two-bad.yaml"
    text = (OK / "neck-test.yaml").read_text().replace("id: neck-test", "id: two-bad")
    path.write_text(text.replace("hold_s: 45", "hold_s: 100").replace("freq_hz: 29", "freq_hz: 50"))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    messages = [problem.message for problem in info.value.problems]
    assert len(messages) == 6, messages  # 4 steps at 50 Hz, the hold_s, the work per side
    assert sum("= 50 is outside the caps range" in text for text in messages) == 4
    assert "steps[1].hold_s = 100 is above caps.max_hold_s (allowed 1..90 s)" in messages
    assert "steps: motor-on time per side = 385 s is above caps.max_work_s" in messages[-1]
    assert "(and 5 more)" in str(info.value)
    assert str(info.value).count("\n") == 0


def test_stem_check_can_be_skipped(tmp_path: Path) -> None:
    path = tmp_path / "other-name.yaml"
    path.write_text((OK / "neck-test.yaml").read_text())
    assert not check_file(path).ok
    assert load_profile(path, check_stem=False).id == "neck-test"


def test_unreadable_and_oversized_files_are_problems(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"id: \xff\xfe\n")
    assert "not UTF-8" in str(check_file(binary).problems[0])
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_PROFILE_BYTES + "\n")
    assert "larger than" in str(check_file(big).problems[0])
    missing = tmp_path / "missing.yaml"
    assert "cannot read" in str(check_file(missing).problems[0])


def test_advice_is_a_warning_not_an_error(tmp_path: Path) -> None:
    text = (OK / "calf-test.yml").read_text()
    path = tmp_path / "calf-test.yaml"
    path.write_text(text.replace("kind: sweep", "kind: release"))
    result = check_file(path)
    assert result.ok
    (advice,) = result.advice
    assert advice.warning
    assert "warning: steps[0]: the last step is a release" in str(advice)


class ProfileDirs(NamedTuple):
    """The shipped and user profile dirs a catalogue reads by default."""

    shipped: Path
    user: Path


@pytest.fixture
def dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ProfileDirs:
    """An empty shipped dir and an empty user dir under tmp_path, in place of the real ones."""
    shipped, config = tmp_path / "shipped", tmp_path / "config"
    shipped.mkdir()
    monkeypatch.setenv(PROFILES_DIR_ENV, str(shipped))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return ProfileDirs(shipped, config / "tpdevice" / "profiles")


def copy_profile(src: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / src.name
    target.write_text(src.read_text())
    return target


def test_catalogue_order_sources_and_lookup(dirs: ProfileDirs, tmp_path: Path) -> None:
    copy_profile(OK / "neck-test.yaml", dirs.shipped)
    copy_profile(OK / "calf-test.yml", dirs.user)
    extra = tmp_path / "extra"
    copy_profile(OK / "low-back-test.yaml", extra)
    catalogue = load_catalogue([extra])
    assert catalogue.problems == ()
    assert catalogue.ids() == ["neck-test", "calf-test", "low-back-test"]
    sources = [entry.source for entry in catalogue]
    assert sources == [ProfileSource.SHIPPED, ProfileSource.USER, ProfileSource.EXTRA]
    entry = catalogue.require("calf-test")
    assert entry.path == dirs.user / "calf-test.yml"
    assert catalogue.get("nope") is None


def test_duplicate_id_names_both_files_and_the_first_wins(dirs: ProfileDirs) -> None:
    copy_profile(OK / "neck-test.yaml", dirs.shipped)
    copy_profile(OK / "neck-test.yaml", dirs.user)
    catalogue = load_catalogue()
    (problem,) = catalogue.problems
    assert problem.file is not None
    assert problem.file.name == "neck-test.yaml"
    assert "config" in str(problem.file)
    assert "duplicate profile id 'neck-test': already defined in" in problem.message
    assert "shipped" in problem.message
    assert problem.line == 2  # the `id:` line of the user file
    assert catalogue.require("neck-test").source is ProfileSource.SHIPPED


def test_a_yml_and_yaml_pair_in_one_dir_clash(tmp_path: Path) -> None:
    copy_profile(OK / "calf-test.yml", tmp_path / "d")
    (tmp_path / "d" / "calf-test.yaml").write_text((OK / "calf-test.yml").read_text())
    catalogue = load_catalogue([tmp_path / "d"], include_shipped=False, include_user=False)
    assert len(catalogue) == 1
    assert "duplicate profile id 'calf-test'" in str(catalogue.problems[0])


@pytest.mark.usefixtures("dirs")
def test_bad_files_do_not_hide_good_ones() -> None:
    catalogue = load_catalogue([OK, BAD])
    assert set(catalogue.ids()) == OK_IDS
    assert len({problem.file for problem in catalogue.problems}) == len(EXPECTED)


@pytest.mark.usefixtures("dirs")
def test_missing_dirs(tmp_path: Path) -> None:
    catalogue = load_catalogue([tmp_path / "nowhere"])  # the user dir is missing too: fine
    assert [problem.message for problem in catalogue.problems] == [
        f"profiles dir {tmp_path / 'nowhere'} does not exist"
    ]


@pytest.mark.usefixtures("dirs")
def test_the_same_dir_twice_is_read_once() -> None:
    catalogue = load_catalogue([OK, OK / "." / ".." / "profiles_ok"])
    assert catalogue.problems == ()
    assert len(catalogue) == 3


@pytest.mark.usefixtures("dirs")
def test_unknown_id_lists_close_matches() -> None:
    catalogue = load_catalogue([OK])
    with pytest.raises(ProfileError, match=r"unknown profile 'neck-tset' \(did you mean neck-test"):
        catalogue.require("neck-tset")
    with pytest.raises(ProfileError, match=r"^unknown profile 'zzz'$"):
        catalogue.require("zzz")


def test_dir_lookup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_profiles_dir() == tmp_path / "tpdevice" / "profiles"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_profiles_dir() == tmp_path / "home" / ".config" / "tpdevice" / "profiles"
    monkeypatch.setenv(PROFILES_DIR_ENV, str(tmp_path / "mine"))
    assert shipped_profiles_dir() == tmp_path / "mine"
    monkeypatch.delenv(PROFILES_DIR_ENV)
    found = shipped_profiles_dir()
    assert found == (PROFILES_DIR if PROFILES_DIR.is_dir() else None)


def test_check_files_expands_dirs_and_finds_duplicates(tmp_path: Path) -> None:
    copy_profile(OK / "neck-test.yaml", tmp_path / "a")
    results, problems = check_files([OK, tmp_path / "a" / "neck-test.yaml", tmp_path / "gone"])
    assert len(results) == 5
    assert [str(p) for p in results[-1].problems] == [
        f"{tmp_path / 'gone'}: no such file or directory"
    ]
    (duplicate,) = problems
    assert "duplicate profile id 'neck-test'" in duplicate.message


def test_shipped_profiles_are_valid() -> None:
    if not PROFILES_DIR.is_dir():
        pytest.skip("no shipped profiles yet")
    catalogue = load_catalogue(shipped_dir=PROFILES_DIR, include_user=False)
    assert catalogue.problems == (), [str(problem) for problem in catalogue.problems]
    assert len(catalogue) == len(list(PROFILES_DIR.glob("*.yaml")))
