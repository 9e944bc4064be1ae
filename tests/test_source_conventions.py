"""Conventions of the source tree: the type checker sees the tests, comments say what they mean."""

from __future__ import annotations

import re
import tomllib

import pytest
from repo_paths import ROOT

SOURCE_FOLDERS = ("tpdevice", "simulator/tpdevice_sim", "tests")
# A bare decision id ("D" and a number): no file of the project defines these.
DECISION_ID = re.compile(r"\bD\d{1,2}\b")


def test_plain_mypy_checks_the_package_the_simulator_and_the_tests_strictly() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    assert set(config["files"]) == set(SOURCE_FOLDERS)


@pytest.mark.parametrize("folder", SOURCE_FOLDERS)
def test_no_source_cites_a_decision_id(folder: str) -> None:
    cited = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if DECISION_ID.search(line)
    ]
    assert cited == []
