"""Hostile profile files: deep nesting, huge numbers, special files, control characters."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import run_main

from tpdevice.therapy import profile_yaml
from tpdevice.therapy.loader import PROFILES_DIR_ENV, check_file, load_catalogue
from tpdevice.therapy.profile_errors import ProfileProblem
from tpdevice.therapy.profile_text import escape_controls
from tpdevice.therapy.profile_yaml import MAX_PROFILE_BYTES, YamlProblem, parse_yaml

DATA = Path(__file__).parent / "data"
OK = DATA / "profiles_ok"
NECK = (OK / "neck-test.yaml").read_text()


def _neck(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """neck-test.yaml with one text replaced, saved as NAME.yaml (id = NAME)."""
    assert old in NECK
    text = NECK.replace("id: neck-test", f"id: {name}").replace(old, new, 1)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _line_of(path: Path, fragment: str) -> int:
    lines = path.read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if fragment in line)


# --- nesting and numbers: a problem with file and line, never an exception ----------------


@pytest.mark.parametrize("depth", [500, 999, 5000, 100_000])
def test_deep_nesting_is_one_problem_with_its_line(tmp_path: Path, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    path = _neck(tmp_path, "deep", "muscles: [upper trapezius]", f"muscles: {nested}")
    problems = check_file(path).problems
    assert problems
    for problem in problems:
        assert problem.line == _line_of(path, "muscles:")
        assert str(problem).startswith(f"{problem.file}:{problem.line}: ")


def test_a_5000_digit_integer_is_one_problem_with_its_line(tmp_path: Path) -> None:
    path = _neck(tmp_path, "huge-int", "max_force_n: 30", "max_force_n: " + "7" * 5000)
    (problem,) = check_file(path).problems
    assert problem.line == _line_of(path, "max_force_n:")
    assert "a number with 5000 digits is too long" in problem.message


def test_bad_user_files_are_skipped_and_the_rest_still_loads(tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    _neck(user, "deep", "muscles: [upper trapezius]", "muscles: " + "[" * 600 + "]" * 600)
    _neck(user, "huge-int", "max_force_n: 30", "max_force_n: " + "7" * 5000)
    catalogue = load_catalogue([OK], shipped_dir=tmp_path / "none", user_dir=user)
    assert sorted(catalogue.ids()) == ["calf-test", "low-back-test", "neck-test"]
    assert sorted(problem.file.name for problem in catalogue.problems if problem.file) == [
        "deep.yaml",
        "huge-int.yaml",
    ]


@pytest.fixture
def bad_user_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Shipped = tests/data/profiles_ok; the user dir holds a deeply nested and a huge-int file."""
    monkeypatch.setenv(PROFILES_DIR_ENV, str(OK))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    user = tmp_path / "config" / "tpdevice" / "profiles"
    user.mkdir(parents=True)
    _neck(user, "deep", "muscles: [upper trapezius]", "muscles: " + "[" * 600 + "]" * 600)
    _neck(user, "huge-int", "max_force_n: 30", "max_force_n: " + "7" * 5000)
    return user


def _skipped(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.endswith("file skipped)")]


def test_list_names_each_skipped_file_once(
    capsys: pytest.CaptureFixture[str], bad_user_dir: Path
) -> None:
    code, out, err = run_main(capsys, "profiles", "list")
    assert code == 1
    assert "neck-test" in out and "calf-test" in out
    skipped = _skipped(err)
    assert len(skipped) == 2, err
    deep, huge = sorted(skipped)
    assert "deep.yaml:5: invalid YAML: nested more than" in deep
    assert "huge-int.yaml:14: invalid YAML: a number with 5000 digits is too long" in huge
    assert "Traceback" not in err and "internal error" not in err


def test_run_works_and_names_the_skipped_files(
    capsys: pytest.CaptureFixture[str], bad_user_dir: Path
) -> None:
    code, out, err = run_main(capsys, "run", "calf-test", "--json", "--time-scale", "100")
    assert code == 0, err
    assert '"session.completed"' in out
    assert len(_skipped(err)) == 2, err


# --- special and oversized files ------------------------------------------------------------


def _special_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    return {"fifo": fifo, "zero": zero, "loop": loop}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fifo", "not a regular file (a FIFO)"),
        ("zero", "not a regular file (a character device)"),
        ("loop", "cannot read: Too many levels of symbolic links"),
    ],
)
def test_special_files_are_refused(tmp_path: Path, name: str, message: str) -> None:
    path = _special_files(tmp_path)[name]
    (problem,) = check_file(path).problems
    assert problem.message == message


def test_validate_refuses_special_files_one_line_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = _special_files(tmp_path)
    argv = ["/dev/zero", *(str(path) for path in files.values())]
    code, out, err = run_main(capsys, "profiles", "validate", *argv)
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == "/dev/zero: not a regular file (a character device)"
    assert len(lines) == 5 and lines[-1] == "bad: 4 problems in 4 files"


def test_a_dir_of_special_files_reports_each(tmp_path: Path) -> None:
    _special_files(tmp_path)
    catalogue = load_catalogue([tmp_path], shipped_dir=OK, user_dir=tmp_path / "none")
    assert len(catalogue) == 3
    assert sorted(problem.file.name for problem in catalogue.problems if problem.file) == [
        "fifo.yaml",
        "loop.yaml",
        "zero.yaml",
    ]


def test_an_oversized_file_is_refused_before_reading(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as stream:
        stream.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper
    reads: list[int] = []
    real_read = os.read

    def counted_read(fd: int, n: int) -> bytes:
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", counted_read)
    (problem,) = check_file(big).problems
    assert problem.message == f"file is larger than {MAX_PROFILE_BYTES // 1024} kB"
    assert reads == []


def test_a_file_whose_size_lies_is_read_only_to_the_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    big = tmp_path / "grows.yaml"
    big.write_bytes(b"# " + b"x" * (4 * MAX_PROFILE_BYTES))
    real_fstat, real_read = os.fstat, os.read

    def small_fstat(fd: int) -> os.stat_result:
        fields = list(real_fstat(fd))
        fields[6] = 100  # st_size
        return os.stat_result(fields)

    read_bytes: list[int] = []

    def counted_read(fd: int, n: int) -> bytes:
        read_bytes.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "fstat", small_fstat)
    monkeypatch.setattr(os, "read", counted_read)
    (problem,) = check_file(big).problems
    assert "larger than" in problem.message
    assert sum(read_bytes) == MAX_PROFILE_BYTES + 1


# --- terminal control characters ------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("title: Neck test", "title: \"Neck \\e[31mtest\"", "U+001B"),
        ("region: neck-shoulder", "region: \"neck\\u202Eredluohs\"", "U+202E"),
        ("cue: Rest.", "cue: \"Rest\\0.\"", "U+0000"),
        ("description: Test fixture with one block of each kind.", "description: \"T\\x9b2J\"",
         "U+009B"),
        ("muscles: [upper trapezius]", "muscles: [\"upper\\x07 trapezius\"]", "U+0007"),
        ("referral: Neck and temple", "referral: \"\\e]0;title\\aNeck\"", "U+001B"),
        ("title: Neck test", "title: \"Neck\\ntest\"", "U+000A"),
    ],
)  # fmt: skip
def test_control_characters_in_text_are_refused_with_the_line(
    tmp_path: Path, old: str, new: str, code: str
) -> None:
    path = _neck(tmp_path, "controls", old, new)
    problem = check_file(path).problems[0]  # a bad list item also empties the list
    assert problem.line == _line_of(path, new)
    assert f"contains control character {code}" in problem.message
    assert "\x1b" not in str(problem) and "\u202e" not in str(problem)


def test_newlines_are_allowed_in_long_text(tmp_path: Path) -> None:
    path = _neck(
        tmp_path, "multi-line", "description: Test fixture", "description: |\n  Two\n  lines.\n  "
    )
    result = check_file(path)
    assert result.ok, result.problems
    assert result.profile is not None and "\n" in result.profile.description


def test_problems_escape_control_characters_in_file_names() -> None:
    problem = ProfileProblem("bad", Path("evil\x1b[2J\u202e.yaml"), 3)
    assert str(problem) == "evil\\x1b[2J\\u202e.yaml:3: bad"
    assert escape_controls("a\nb", allow_newline=True) == "a\nb"


def test_show_escapes_text_that_slipped_past_validation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tpdevice.cli.profiles_view import print_profile
    from tpdevice.therapy.loader import LoadedProfile, ProfileSource, load_profile

    profile = load_profile(OK / "neck-test.yaml")
    evil = profile.model_copy(
        update={"title": "Neck\x1b[31m", "avoid_zones": ("spine\u202e",), "description": "a\x00"}
    )
    print_profile(LoadedProfile(evil, OK / "neck-test.yaml", ProfileSource.SHIPPED))
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\x00" not in out
    assert "Neck\\x1b[31m" in out and "spine\\u202e" in out


# --- libyaml's parser keeps the strict rules ------------------------------------------------


def test_alias_free_text_is_parsed_by_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> None:
        raise AssertionError("the pure-Python loader was used")

    monkeypatch.setattr(profile_yaml, "_StrictLoader", refuse)
    parsed = parse_yaml(NECK)
    assert parsed.data["id"] == "neck-test"
    assert parsed.line_of(("steps", 1, "hold_s")) == _line_number(NECK, "hold_s: 45")


def _line_number(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first at line 1)"),
        ("a: 1\nb: [1, 2\nc: 3\n", 3, "invalid YAML"),
        ("a:\n  b: " + "9" * 5000 + "\n", 2, "a number with 5000 digits is too long"),
    ],
)
def test_libyaml_path_keeps_lines_and_refusals(text: str, line: int, message: str) -> None:
    with pytest.raises(YamlProblem) as caught:
        profile_yaml._load(profile_yaml._FastLoader(text))
    assert caught.value.line == line
    assert message in caught.value.message
    with pytest.raises(YamlProblem) as again:
        parse_yaml(text)
    assert (again.value.line, message in again.value.message) == (line, True)


def test_aliases_are_still_refused_at_their_line() -> None:
    with pytest.raises(YamlProblem) as caught:
        parse_yaml("a: &x [1]\nb: 2\nc: *x\n")
    assert (caught.value.line, "aliases" in caught.value.message) == (3, True)


def test_a_bad_file_in_a_profiles_dir_does_not_stop_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(PROFILES_DIR_ENV, str(OK))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    extra = tmp_path / "extra"
    extra.mkdir()
    _neck(extra, "deep", "muscles: [upper trapezius]", "muscles: " + "[" * 500 + "]" * 500)
    code, out, err = run_main(
        capsys, "run", "calf-test", "--json", "--time-scale", "100", "--profiles-dir", str(extra)
    )
    assert code == 0, err
    assert '"session.completed"' in out
    (skipped,) = _skipped(err)
    assert "deep.yaml:5: " in skipped
