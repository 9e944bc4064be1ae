"""The scripts in docs/library.md run as written, against the built-in simulator."""

from __future__ import annotations

import re
import subprocess
import sys

from repo_paths import ROOT

LIBRARY_DOC = ROOT / "docs" / "library.md"


def doc_scripts() -> list[str]:
    """The ```python blocks of docs/library.md, in order."""
    return re.findall(r"```python\n(.*?)```", LIBRARY_DOC.read_text(), flags=re.S)


def _run(script: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


def test_the_doc_has_a_short_run_script_and_a_control_script() -> None:
    scripts = doc_scripts()
    assert len(scripts) == 2
    assert len(scripts[0].strip().splitlines()) <= 25


def test_the_run_script_prints_every_event_then_the_outcome() -> None:
    lines = _run(doc_scripts()[0])
    events = [line.split()[2] for line in lines[:-1]]
    assert events[0] == "session.started" and events[-1] == "session.completed"
    assert "step.started" in events and "hold.started" in events
    assert any(line.endswith("step.started step 0") for line in lines)
    times = [float(line.split()[0]) for line in lines[:-1]]
    assert times == sorted(times)
    done, planned = re.fullmatch(r"completed: (\d+)/(\d+) steps", lines[-1]).groups()  # type: ignore[union-attr]
    assert done == planned and int(planned) > 0


def test_the_control_script_stops_at_the_first_hold() -> None:
    assert _run(doc_scripts()[1]) == ["stop accepted: True", "gun-1 aborted user"]
