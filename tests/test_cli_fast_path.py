"""`profiles list` and `run` skip typer for plain argv, and end exactly as the typer app does."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import write_sweeps

from tpdevice.cli import app, entry
from tpdevice.cli.hot import parse_fast

BAD_PROFILE = "id: broken\ntitle: [unclosed\n"


def _outcome(
    capsys: pytest.CaptureFixture[str], main: Callable[[list[str]], None], argv: list[str]
) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    """A directory with one good profile (sweeps, 2 s) and one that fails to parse."""
    directory = tmp_path / "profiles"
    directory.mkdir()
    write_sweeps(directory, "sweeps", 1, 1)
    (directory / "broken.yaml").write_text(BAD_PROFILE)
    return directory


def _fast_argvs(profiles: Path, tmp_path: Path) -> list[list[str]]:
    extra = ["--profiles-dir", str(profiles)]
    return [
        ["profiles", "list"],
        ["profiles", "list", "--json"],
        ["profiles", "list", *extra],
        ["profiles", "list", "--json", *extra, "--profiles-dir", str(profiles)],
        ["profiles", "list", "--profiles-dir", str(tmp_path / "missing")],
        ["run", "nope"],
        ["run", "upper-trapezius", "--side", "up"],
        ["run", "upper-trapezius", "--side", "midline"],
        ["run", "upper-trapezius", "--mode", "fast"],
        ["run", "upper-trapezius", "--time-scale", "0"],
        ["run", "upper-trapezius", "--time-scale", "2", "--device", "tcp://127.0.0.1:9"],
        ["run", "upper-trapezius", "--intensity", "121"],
        ["run", "upper-trapezius", "--device", "bogus://x"],
        ["run", "upper-trapezius", "--device", "no-such-gun"],  # neither address nor gun id
        ["run", "upper-trapezius", "--profiles-dir", str(tmp_path / "missing")],
        ["run", "broken", *extra],
        ["run", str(profiles / "broken.yaml")],
        ["run", "sweeps", "-y", "--json", "--time-scale", "1000", "--no-journal", *extra],
    ]


# Forms the fast path leaves to typer: help, typos, `=` values, repeats, odd numbers.
TYPER_ARGVS = [
    ["run"],
    ["run", "--help"],
    ["run", "a", "b"],
    ["run", "a", "--time-scale", "abc"],
    ["run", "a", "--time-scale", "-1"],
    ["run", "a", "--time-scale=2"],
    ["run", "a", "--timescale", "2"],
    ["run", "a", "--side"],
    ["run", "a", "--side", "left", "--side", "right"],
    ["run", "a", "--", "--json"],
    ["profiles", "list", "--help"],
    ["profiles", "list", "extra"],
    ["profiles", "list", "--json", "--json"],
    ["profiles", "list", "-j"],
    ["profiles"],
    ["--verbose", "profiles", "list"],
]


# Events every run of the profile emits; pressure notices and telemetry depend on timing.
STEADY = {"profile.safety", "session.started", "step.started", "step.completed", "summary"}


def _comparable(out: str) -> str:
    """Run output without what differs between two sessions (ids, clocks, timings)."""
    if not out.startswith("{"):
        return out
    types = (json.loads(line)["type"] for line in out.splitlines())
    return "\n".join(kind for kind in types if kind in STEADY or kind.startswith("session."))


def test_plain_argv_takes_the_fast_path_and_ends_as_typer_does(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    profiles: Path,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))  # no daemon
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no configured guns
    for argv in _fast_argvs(profiles, tmp_path):
        assert parse_fast(argv) is not None, argv
        fast = _outcome(capsys, entry.main, argv)
        slow = _outcome(capsys, app.main, argv)
        assert (fast[0], _comparable(fast[1]), fast[2]) == (
            slow[0],
            _comparable(slow[1]),
            slow[2],
        ), argv


def test_a_run_on_the_fast_path_completes(
    capsys: pytest.CaptureFixture[str], profiles: Path
) -> None:
    argv = ["run", "sweeps", "--json", "--time-scale", "1000", "--profiles-dir", str(profiles)]
    code, out, err = _outcome(capsys, entry.main, argv)
    assert code == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert (summary["type"], summary["outcome"]) == ("summary", "completed")


STARTUP_GC = """
import gc, sys
from tpdevice.cli import entry
seen = []
real = entry.startup_done
entry.startup_done = lambda: (seen.append(gc.isenabled()), real())
try:
    entry.main()
finally:
    print(seen, gc.isenabled(), gc.get_freeze_count() > 0, file=sys.stderr)
"""


def test_start_up_collects_no_garbage_then_the_session_does(profiles: Path) -> None:
    argv = ["run", "sweeps", "--json", "--time-scale", "1000", "--profiles-dir", str(profiles)]
    done = subprocess.run(
        [sys.executable, "-c", STARTUP_GC, *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "[False] True True"


def test_an_in_process_call_leaves_garbage_collection_as_it_was(
    capsys: pytest.CaptureFixture[str], profiles: Path
) -> None:
    argv = ["run", "sweeps", "--json", "--time-scale", "1000", "--profiles-dir", str(profiles)]
    assert _outcome(capsys, entry.main, argv)[0] == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0


@pytest.mark.parametrize("argv", TYPER_ARGVS, ids=" ".join)
def test_other_argv_goes_to_typer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    assert parse_fast(argv) is None
    monkeypatch.setenv("COLUMNS", "80")
    assert _outcome(capsys, entry.main, argv) == _outcome(capsys, app.main, argv)


def test_completion_goes_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_TPDEVICE_COMPLETE", "bash_complete")
    assert parse_fast(["profiles", "list"]) is None


TYPER_MAIN = "import sys; from tpdevice.cli.app import main; main(sys.argv[1:])"


def _to_closed_pipe(*argv: str) -> tuple[int, str]:
    """Exit code and stderr of the CLI writing to a pipe whose reader is already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, *argv], stdout=write_end, stderr=subprocess.PIPE,
            text=True, timeout=60, check=False, env={**os.environ, "COLUMNS": "80"},
        )  # fmt: skip
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["profiles", "list", "--json"],
        ["profiles", "list"],
        ["run", "upper-trapezius", "--json", "--time-scale", "1000", "--no-journal"],
    ],
    ids=" ".join,
)
def test_a_reader_gone_ends_both_paths_alike(argv: list[str]) -> None:
    assert parse_fast(argv) is not None
    fast = _to_closed_pipe("-m", "tpdevice", *argv)
    assert fast == _to_closed_pipe("-c", TYPER_MAIN, *argv)
    assert fast[0] == 1


def _imported(*argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tpdevice", *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_profiles_list_and_a_json_run_import_no_typer() -> None:
    _imported("profiles", "list")  # fills the profile cache
    listing = _imported("profiles", "list")
    assert "tpdevice.cli.catalogue" in listing
    running = _imported(
        "run", "upper-trapezius", "--time-scale", "1000", "--json", "--side", "left",
        "--no-journal",
    )  # fmt: skip
    assert "tpdevice.cli.run_cmd" in running
    for imported in (listing, running):
        tops = {name.split(".")[0] for name in imported}
        assert not tops & {"typer", "click", "yaml", "fastapi", "httpx"}, sorted(tops)
    assert not {name for name in running if name.split(".")[0] == "rich"}  # JSON: no live view
