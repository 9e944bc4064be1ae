"""Running the `tpdevice` CLI from tests: in process (capsys) and reading its JSON lines."""

from __future__ import annotations

import json
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
