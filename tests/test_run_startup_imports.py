"""A simulator run reaches its first setpoint without what it does not need yet."""

from __future__ import annotations

import json
import subprocess
import sys

RUN_ARGV = (
    "run", "upper-trapezius", "--time-scale", "1000", "--json", "--side", "left",
    "--mode", "host", "--no-journal",
)  # fmt: skip

PYDANTIC_AT_FIRST_STEP = """
import os, sys
class Out:
    def __init__(self, inner): self.inner = inner
    def write(self, text):
        if '"type": "step.started"' in text:
            self.inner.write("PYDANTIC " + str("pydantic" in sys.modules) + "\\n")
            self.inner.flush()
            os._exit(0)
        return len(text)
    def flush(self): pass
    def __getattr__(self, name): return getattr(self.inner, name)
sys.stdout = Out(sys.stdout)
from tpdevice.cli.entry import main
main(sys.argv[1:])
"""


MODULES_AT_EXIT = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
from tpdevice.cli.entry import main
main(sys.argv[1:])
"""


def _imported(*argv: str) -> set[str]:
    """Every module the whole command imported (importlib.import_module ones too)."""
    done = subprocess.run(
        [sys.executable, "-c", MODULES_AT_EXIT, *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def test_a_no_journal_sim_run_imports_no_journal_theragun_ble_or_difflib() -> None:
    running = _imported(*RUN_ARGV)
    assert "tpdevice.cli.run_cmd" in running
    unwanted = {
        "difflib", "sqlite3", "tpdevice.daemon.journal", "tpdevice.daemon.journal_feed",
        "tpdevice.drivers.theragun.codec", "tpdevice_sim.ble",
    }  # fmt: skip
    assert not running & unwanted, sorted(running & unwanted)
    assert "tpdevice.drivers.theragun" in running  # still registered as a driver


def test_a_sim_run_reaches_its_first_setpoint_without_pydantic() -> None:
    for _ in range(2):  # the first run may fill the profile cache (that validates)
        done = subprocess.run(
            [sys.executable, "-c", PYDANTIC_AT_FIRST_STEP, *RUN_ARGV],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.stdout.splitlines() == ["PYDANTIC False"], done.stderr


def test_events_still_validate_dump_and_parse() -> None:
    from tpdevice.therapy.events import SessionCompleted, parse_event
    from tpdevice.therapy.summary import Summary

    summary = Summary(
        session_id="s", profile_id="p", device="sim", side="left", mode="host",
        outcome="completed", planned_duration_s=1.0, steps_planned=1,
    )  # fmt: skip
    event = SessionCompleted(
        session_id="s", seq=1, mono_s=0.5, wall_time="2026-01-01T00:00:00.000Z",
        profile_id="p", device="sim", summary=summary,
    )  # fmt: skip
    assert parse_event(event.model_dump(mode="json")) == event
    assert parse_event(event.model_dump_json()) == event
