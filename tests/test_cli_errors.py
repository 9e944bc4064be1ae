"""Bad command lines get one clear line on stderr and a non-zero exit, never a traceback."""

import subprocess
import sys

import pytest

from tpdevice.cli.app import main


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run the CLI in process; return its exit code and stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return int(exit_info.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["bogus"], "tpdevice: error: No such command 'bogus'."),
        (["sim", "--count", "0"], "Invalid value for '--count'"),
        (["sim", "--time-scale", "abc"], "Invalid value for '--time-scale'"),
        (["probe"], "Missing argument 'ADDRESS'"),
        (["bench", "link", "--n", "1"], "Invalid value for '--n'"),
        (["probe", "tcp://a..b:1"], "error: tcp://a..b:1: host 'a..b' has an empty label"),
        (["probe", f"tcp://{'h' * 64}:1"], f"host '{'h' * 64}' has a label longer than 63"),
    ],
)
def test_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], text: str
) -> None:
    code, err = run_main(capsys, *argv)
    assert code == 2
    assert text in err
    assert err.count("\n") == 1


def test_no_traceback_from_a_real_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tpdevice", "probe", "nosuch://x"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "nosuch://x" in result.stderr
