"""The CLI as a new user meets it: version, completion, help text, one-line endings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_main

from tpdevice import __version__

COMMANDS = [
    ("run",), ("probe",), ("sim",), ("devices", "scan"), ("devices", "list"),
    ("bench", "link"), ("bench", "timing"), ("bench", "decode"), ("profiles", "list"),
    ("profiles", "show"), ("profiles", "validate"), (),
]  # fmt: skip


def test_version_flag_and_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--version")
    assert (code, out) == (0, f"tpdevice {__version__}\n")
    code, out, _ = run_main(capsys, "version")
    assert (code, out) == (0, f"{__version__}\n")


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a) or "tpdevice")
def test_help_reads_like_help(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    code, out, _ = run_main(capsys, *argv, "--help")
    assert code == 0
    assert "Usage: tpdevice" in out
    tags = re.findall(r"<[a-z][\w\[\], ]*>", out)
    assert not tags, f"type tags in the help of {argv}: {tags}"


def test_run_help_names_values_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_main(capsys, "run", "--help")
    text = " ".join(out.split())
    for word in ("PROFILE", "--device ADDRESS", "--side SIDE", "--time-scale X"):
        assert word in text
    assert "--profiles-dir PATH" in text
    assert "midline" in text
    _, out, _ = run_main(capsys, "probe", "--help")
    text = " ".join(out.split())
    assert "ADDRESS" in text and "--spin HZ" in text and "--seconds SECONDS" in text


def test_completion_is_offered_and_completes_commands(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_main(capsys, "--help")
    assert "--install-completion" in out and "--show-completion" in out
    env = {**os.environ, "_TPDEVICE_COMPLETE": "complete_bash", "COMP_WORDS": "tpdevice pro",
           "COMP_CWORD": "1"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "tpdevice"], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["probe", "profiles"]


def test_devices_list_without_a_daemon_says_how_to_start_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_main(capsys, "devices", "list", "--socket", str(tmp_path / "none.sock"))
    assert code == 3 and out == ""
    assert err.count("\n") == 1
    assert "no daemon is running" in err and "tpdevice daemon --sim 3" in err
    assert "issue" not in err


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["table", "json"])
def test_probe_into_a_closed_pipe_ends_with_one_line(json_flag: list[str]) -> None:
    """`tpdevice probe sim | head -3`: the probe ends as `run` does, with one line."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tpdevice", "probe", "sim", "--seconds", "30", *json_flag],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stderr is not None
    for _ in range(3):
        child.stdout.readline()
    child.stdout.close()  # the reader goes away
    try:
        err = child.stderr.read()
        code = child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert code == 1
    assert err.splitlines()[-1] == "tpdevice: error: stdout: broken pipe (its reader went away)"
    assert "Traceback" not in err
