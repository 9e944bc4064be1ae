"""A run through the daemon refused for dose says how to start anyway; other refusals as given."""

from __future__ import annotations

from tpdevice.cli.daemon_client import DaemonRefusedError
from tpdevice.cli.remote_run import RemoteRun
from tpdevice.cli.run_cmd import load_run_profile

DOSE = "upper-trapezius (left): 3 h 58 min of recovery left (override with a reason) (dose_refused)"


def _run(override: str | None = None) -> RemoteRun:
    profile = load_run_profile("upper-trapezius", (), "left")
    return RemoteRun("gun-1", profile, "left", None, override)


def test_a_dose_refusal_names_the_command_that_starts_anyway() -> None:
    refusal = str(_run().refusal(DaemonRefusedError(DOSE)))
    assert refusal == (
        f"{DOSE}; to start anyway: tpdevice session start upper-trapezius --device gun-1"
        " --override REASON --follow"
    )


def test_other_refusals_and_refused_overrides_are_passed_on_as_they_are() -> None:
    busy = DaemonRefusedError("gun-1 is busy: session s-1 holds it (device_busy)")
    assert _run().refusal(busy) is busy
    dose = DaemonRefusedError(DOSE)
    assert _run(override="cleared by the therapist").refusal(dose) is dose
