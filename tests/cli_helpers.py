"""Running the `tpdevice` CLI from tests: in process (capsys) and reading its JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tpdevice.cli.app import main


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in process; exit code, stdout, stderr."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(out: str) -> list[dict[str, Any]]:
    """One JSON object a line, as `--json` prints them."""
    return [json.loads(line) for line in out.splitlines()]


def run_bench(
    capsys: pytest.CaptureFixture[str], bench: str, *argv: str
) -> tuple[dict[str, Any], str]:
    """Run `bench BENCH ARGV` in process; the final JSON object and stderr."""
    code, out, err = run_main(capsys, "bench", bench, *argv)
    if code != 0:
        pytest.fail(f"bench exited with {code}: {err}")
    return json.loads(out.splitlines()[-1]), err


SWEEPS_HEAD = """\
title: Test sweeps
region: test region
muscles: [test muscle]
laterality: midline
attachment: ball
avoid_zones: [bone]
contraindications: [injury]
caps: {max_force_n: 30, freq_min_hz: 28, freq_max_hz: 40, max_hold_s: 60,
       max_work_s: 300, min_recovery_h: 24}
steps:
"""
SWEEP = (
    "  - {{kind: sweep, freq_hz: 30, force_target_n: 10, force_tolerance_n: 5, duration_s: {}}}\n"
)


def write_sweeps(directory: Path, profile_id: str, *durations_s: int) -> None:
    """DIRECTORY/PROFILE_ID.yaml: a midline profile of 30 Hz sweeps (5-15 N) of these lengths."""
    steps = "".join(SWEEP.format(duration_s) for duration_s in durations_s)
    (directory / f"{profile_id}.yaml").write_text(f"id: {profile_id}\n{SWEEPS_HEAD}{steps}")


@contextmanager
def sim_process(*args: str, code: str | None = None) -> Iterator[subprocess.Popen[str]]:
    """`tpdevice sim ARGS` as a process (or the CLI run by `code`); killed if still running."""
    launch = ["-c", code] if code else ["-m", "tpdevice"]
    proc = subprocess.Popen(
        [sys.executable, *launch, "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
