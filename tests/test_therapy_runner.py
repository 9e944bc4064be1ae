"""therapy.runner: profile resolution, the simulator's clock paired with the session's, outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdevice.errors import TpDeviceError
from tpdevice.therapy.clock import RealClock, ScaledClock
from tpdevice.therapy.events import Event
from tpdevice.therapy.profile_errors import ProfileError
from tpdevice.therapy.runner import (
    SessionOutcomeError,
    UnknownProfileError,
    check_outcome,
    load_profile,
    open_session_gun,
    outcome_ok,
    outcome_text,
    run_profile,
    session_clock,
)
from tpdevice.therapy.summary import Summary

SHORT = """\
id: runner-short
title: Runner short
region: test region
muscles: [test muscle]
laterality: midline
attachment: ball
avoid_zones: [bone]
contraindications: [injury]
caps: {max_force_n: 30, freq_min_hz: 28, freq_max_hz: 40, max_hold_s: 60,
       max_work_s: 300, min_recovery_h: 24}
steps:
  - {kind: sweep, freq_hz: 30, force_target_n: 10, force_tolerance_n: 5, duration_s: 4}
  - {kind: rest, duration_s: 2}
"""


def _summary(outcome: str, reason: str = "", cause: str = "") -> Summary:
    return Summary(
        session_id="s", profile_id="p", device="sim", side="midline", mode="host",
        outcome=outcome, reason=reason, cause=cause, planned_duration_s=10, steps_planned=1,
    )  # fmt: skip


def test_a_profile_is_found_by_id_in_the_shipped_and_given_dirs(tmp_path: Path) -> None:
    assert load_profile("forearm-extensors").id == "forearm-extensors"
    (tmp_path / "runner-short.yaml").write_text(SHORT)
    assert load_profile("runner-short", [tmp_path]).title == "Runner short"


def test_an_unknown_id_names_close_matches(tmp_path: Path) -> None:
    with pytest.raises(UnknownProfileError, match=r"unknown profile 'forearm-extensor'.*mean"):
        load_profile("forearm-extensor")


def test_a_broken_file_of_that_id_is_the_reason_not_unknown(tmp_path: Path) -> None:
    (tmp_path / "runner-short.yaml").write_text(SHORT.replace("duration_s: 4", "duration_s: -4"))
    with pytest.raises(ProfileError) as caught:
        load_profile("runner-short", [tmp_path])
    assert not isinstance(caught.value, UnknownProfileError)
    assert "runner-short.yaml" in str(caught.value)


def test_the_session_clock_follows_the_time_scale() -> None:
    assert isinstance(session_clock(), RealClock)
    scaled = session_clock(50.0)
    assert isinstance(scaled, ScaledClock) and scaled.scale == 50.0


async def test_only_the_simulator_runs_faster_than_real_time() -> None:
    with pytest.raises(TpDeviceError, match=r"tcp://127\.0\.0\.1:9: only the built-in simulator"):
        await open_session_gun("tcp://127.0.0.1:9", time_scale=10.0)


async def test_run_profile_runs_on_the_scaled_simulator_and_tells_every_event(
    tmp_path: Path,
) -> None:
    (tmp_path / "runner-short.yaml").write_text(SHORT)
    profile = load_profile("runner-short", [tmp_path])
    seen: list[Event] = []
    summary = await run_profile(
        "sim", profile, time_scale=100.0, device_id="bench-2", on_event=seen.append
    )
    assert (summary.outcome, summary.device, summary.steps_completed) == ("completed", "bench-2", 2)
    assert [event.seq for event in seen] == list(range(1, len(seen) + 1))
    assert seen[0].type == "session.started" and seen[-1].type == "session.completed"
    assert {event.device for event in seen} == {"bench-2"}
    check_outcome(summary, "runner-short on sim")


def test_outcomes_a_caller_may_accept_and_the_cause_of_the_others() -> None:
    assert outcome_ok(_summary("completed"))
    assert outcome_ok(_summary("aborted", "user", "stopped"))
    failed = _summary("failed", "device_error", "START refused by sim: overheat")
    assert not outcome_ok(failed)
    assert outcome_text(failed) == "failed (device_error): START refused by sim: overheat"
    assert outcome_text(_summary("aborted", "user", "stopped")) == "aborted (user)"
    assert outcome_text(_summary("aborted", "host", "stopped")) == "aborted (host)"
    fault = _summary("aborted", "device_fault", "over_force")
    assert outcome_text(fault) == "aborted (device_fault): over_force"
    with pytest.raises(SessionOutcomeError, match=r"^p on sim: session failed \(device_error\): "):
        check_outcome(failed, "p on sim")
