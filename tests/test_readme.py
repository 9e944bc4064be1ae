"""The README's examples, read as a new user would: every one parses, timing is said plainly."""

from __future__ import annotations

import re
import shlex

import pytest
from cli_helpers import run_main
from repo_paths import ROOT

README = (ROOT / "README.md").read_text()
DOCS = [README, *(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))]


def examples() -> list[tuple[str, str]]:
    """(command line, its comment with continuation comments) of every `tpdevice ...` line."""
    found: list[tuple[str, str]] = []
    for block in re.findall(r"```\n(.*?)```", README, re.S):
        for line in block.splitlines():
            command, _, comment = line.partition("#")
            if command.strip().startswith("tpdevice "):
                found.append((command.strip(), comment.strip()))
            elif not command.strip() and found:  # a comment continuing the one above
                found[-1] = (found[-1][0], f"{found[-1][1]} {comment.strip()}")
    return found


EXAMPLES = examples()


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize(("command", "comment"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_every_example_parses(
    capsys: pytest.CaptureFixture[str], command: str, comment: str
) -> None:
    """Its command exists and takes every option shown (--help is read first)."""
    code, out, err = run_main(capsys, *shlex.split(command)[1:], "--help")
    assert code == 0, err
    assert "Usage: tpdevice" in out


RUNS = [(c, comment) for c, comment in EXAMPLES if c.startswith("tpdevice run ")]


@pytest.mark.parametrize(("command", "comment"), RUNS, ids=[c for c, _ in RUNS])
def test_a_run_example_says_how_long_it_takes(command: str, comment: str) -> None:
    assert "--time-scale" in command or "real time" in comment


def test_ble_examples_come_after_the_extra_they_need() -> None:
    first_ble = min(README.index(c) for c, _ in EXAMPLES if "ble" in c)
    assert 'pip install -e ".[ble-sim]"' in README[:first_ble]
    assert 'pip install "tpdevice[ble-sim]"' in README[:first_ble]


@pytest.mark.parametrize(
    "word", ["coming soon", "not yet", "will be added", "is planned", "the daemon issue", "issue #"]
)
def test_docs_speak_only_of_what_the_product_does(word: str) -> None:
    for text in DOCS:
        hits = [line for line in text.splitlines() if word in line and "github.com" not in line]
        assert not hits, hits
