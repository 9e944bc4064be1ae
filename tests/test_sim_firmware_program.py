"""Firmware-run programs: upload (pull/commit), run, step timing, contact holds, pause/resume."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from tpdevice.protocol import (
    NO_STEP,
    Ack,
    Feature,
    FrameFlag,
    HoldPolicy,
    MotorState,
    MsgType,
    ProgramAction,
    ProgramBegin,
    ProgramCommit,
    ProgramControl,
    ProgramPull,
    ProgramStep,
    ResultCode,
    SetOutput,
    StepEventKind,
    StepKind,
    Telemetry,
    program_hash,
)
from tpdevice_sim.config import ALL_FEATURES, FirmwareConfig
from tpdevice_sim.core import CONTACT_DEBOUNCE_S
from tpdevice_sim.physics import ContactScenario
from tpdevice_sim.testing import FirmwareHarness, Received

RUN, PAUSE, RESUME, ABORT = (ProgramControl(action) for action in ProgramAction)
K = StepEventKind


def _step(index: int, duration_ms: int, freq_hz: float = 35.0, **kwargs: Any) -> ProgramStep:
    fields: dict[str, Any] = {
        "kind": StepKind.HOLD,
        "freq_hz": freq_hz,
        "force_target_n": 20.0,
        "force_tolerance_n": 5.0,
        "force_cap_n": 60.0,
        "force_ramp_n_per_s": 10.0,
        "duration_ms": duration_ms,
    }
    fields.update(kwargs)
    return ProgramStep(index, **fields)


def _program(*durations_ms: int, **kwargs: Any) -> list[ProgramStep]:
    return [_step(i, d, **kwargs) for i, d in enumerate(durations_ms)]


def _host(scenario: ContactScenario = ContactScenario.NONE, **config: Any) -> FirmwareHarness:
    host = FirmwareHarness(FirmwareConfig(**config), scenario=scenario)
    host.hello(watchdog_ms=1000)
    return host


def _pulls(received: Sequence[Received]) -> list[int]:
    return [r.message.index for r in received if isinstance(r.message, ProgramPull)]


def upload(host: FirmwareHarness, steps: list[ProgramStep], commit_hash: int | None = None) -> Ack:
    """The whole exchange; asserts every pull and step ACK; returns the COMMIT's ACK."""
    digest = program_hash(steps)
    out = host.send(ProgramBegin(len(steps), digest))
    assert out[0].message == Ack(MsgType.PROGRAM_BEGIN, ResultCode.OK)
    assert _pulls(out) == [0]
    for step in steps:
        out = host.send(step)
        assert out[0].message == Ack(MsgType.PROGRAM_STEP, ResultCode.OK)
        assert _pulls(out) == [step.index + 1]  # the last one says: all received
    return host.ack(ProgramCommit(digest if commit_hash is None else commit_hash))


def _events(host: FirmwareHarness) -> list[tuple[int, int, StepEventKind]]:
    return [(e.device_time_ms, e.step_index, e.kind) for e in host.step_events()]


# --- upload -----------------------------------------------------------------------------------


def test_upload_happy_path_commits_the_program() -> None:
    host = _host()
    steps = _program(1000, 500, 2000)
    assert upload(host, steps).result is ResultCode.OK
    program = host.firmware.program
    assert program is not None
    assert program.steps == tuple(steps)
    assert program.program_hash == program_hash(steps)


@pytest.mark.parametrize("wrong", ["commit", "begin"])
def test_hash_mismatch_is_crc_and_keeps_the_old_program(wrong: str) -> None:
    host = _host()
    old = _program(1000)
    assert upload(host, old).result is ResultCode.OK
    new = _program(2000, 3000)
    if wrong == "commit":
        assert upload(host, new, commit_hash=program_hash(new) ^ 1).result is ResultCode.CRC
    else:
        host.send(ProgramBegin(2, 12345))
        for step in new:
            host.send(step)
        assert host.ack(ProgramCommit(program_hash(new))).result is ResultCode.CRC
    assert host.firmware.program is not None
    assert host.firmware.program.steps == tuple(old)
    assert host.ack(ProgramCommit(program_hash(new))).result is ResultCode.BAD_STATE  # discarded


@pytest.mark.parametrize("count", [0, 513])
def test_step_count_outside_the_limit_is_refused(count: int) -> None:
    host = _host()
    out = host.send(ProgramBegin(count, 0))
    assert out[0].message == Ack(MsgType.PROGRAM_BEGIN, ResultCode.OUT_OF_RANGE)
    assert _pulls(out) == []


def test_step_out_of_order_or_without_upload_is_bad_state() -> None:
    host = _host()
    assert host.ack(_step(0, 100)).result is ResultCode.BAD_STATE
    host.send(ProgramBegin(2, 0))
    assert host.ack(_step(1, 100)).result is ResultCode.BAD_STATE
    assert host.ack(ProgramCommit(0)).result is ResultCode.BAD_STATE  # not all arrived


@pytest.mark.parametrize(
    "values",
    [
        {"freq_hz": 50.0},
        {"force_cap_n": 500.0},
        {"force_target_n": 120.1},
        {"duration_ms": 0},
        {"contact_threshold_n": 120.1},
    ],
    ids=["freq", "cap", "target", "duration", "threshold"],
)
def test_step_values_outside_the_ranges_are_out_of_range(values: dict[str, Any]) -> None:
    host = _host()
    host.send(ProgramBegin(1, 0))
    out = host.send(_step(0, **{"duration_ms": 100, **values}))
    assert out[0].message == Ack(MsgType.PROGRAM_STEP, ResultCode.OUT_OF_RANGE)
    assert _pulls(out) == []  # the pull for step 0 stays outstanding
    assert host.ack(_step(0, 100, freq_hz=0.0)).result is ResultCode.OK  # a rest


def test_step_values_at_the_limits_are_accepted() -> None:
    host = _host()
    host.send(ProgramBegin(1, 0))
    step = _step(0, 1, force_target_n=120.0, force_cap_n=120.0, contact_threshold_n=120.0)
    assert host.ack(step).result is ResultCode.OK


def test_contact_hold_needs_a_sensor() -> None:
    features = ALL_FEATURES & ~(Feature.FORCE_SENSOR | Feature.CONTACT_SENSOR)
    host = _host(features=features)
    host.send(ProgramBegin(1, 0))
    step = _step(0, 100, hold_policy=HoldPolicy.CONTACT)
    assert host.ack(step).result is ResultCode.UNSUPPORTED


def test_unanswered_pull_is_repeated_then_the_upload_abandoned() -> None:
    host = _host()
    start = len(host.received)
    host.send(ProgramBegin(1, 0))
    host.run(4.0)
    pulls = [r for r in host.received[start:] if r.frame.msg_type == MsgType.PROGRAM_PULL]
    assert len(pulls) == 6
    assert {r.frame.seq for r in pulls} == {pulls[0].frame.seq}
    assert [bool(r.frame.flags & FrameFlag.RETRANSMIT) for r in pulls] == [False] + [True] * 5
    assert [round(r.time_s - pulls[0].time_s, 2) for r in pulls] == [0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert host.firmware.upload is None
    assert host.ack(_step(0, 100)).result is ResultCode.BAD_STATE


def test_answered_pull_is_not_repeated() -> None:
    host = _host()
    steps = _program(100, 100)
    host.send(ProgramBegin(2, program_hash(steps)))
    host.run(0.3)
    host.send(steps[0])
    host.run(0.3)
    host.send(steps[1])
    host.run(0.3)
    assert _pulls(host.received) == [0, 1, 2]
    assert host.ack(ProgramCommit(program_hash(steps))).result is ResultCode.OK


# --- running ----------------------------------------------------------------------------------


def test_run_reports_steps_with_device_times_matching_durations() -> None:
    host = _host()
    upload(host, _program(1000, 500, 2000))
    host.clock.advance(0.123)
    assert host.ack(RUN).result is ResultCode.OK
    assert host.firmware.state is MotorState.RUNNING
    host.run(4.0, step_s=0.07, heartbeat_s=0.2)  # ticks that never land on a step boundary
    assert _events(host) == [
        (123, 0, K.STARTED),
        (1123, 0, K.COMPLETED),
        (1123, 1, K.STARTED),
        (1623, 1, K.COMPLETED),
        (1623, 2, K.STARTED),
        (3623, 2, K.COMPLETED),
        (3623, 2, K.PROGRAM_DONE),
    ]
    assert host.firmware.state is MotorState.IDLE  # type: ignore[comparison-overlap]
    assert host.firmware.runner is None
    assert host.monitor.violations == []


def test_steps_drive_the_motor_and_show_in_telemetry() -> None:
    host = _host()
    upload(host, [_step(0, 500, freq_hz=30.0), _step(1, 500, freq_hz=0.0), _step(2, 500)])
    host.ack(RUN)
    host.run(0.25, heartbeat_s=0.2)
    assert host.physics.motor.target_freq_hz == 30.0
    host.run(0.5, heartbeat_s=0.2)
    assert host.physics.motor.target_freq_hz == 0.0  # a rest step
    host.run(0.5, heartbeat_s=0.2)
    assert host.physics.motor.target_freq_hz == 35.0
    host.run(0.25, heartbeat_s=0.2)
    indexes = {t.step_index for t in host.messages(Telemetry) if isinstance(t, Telemetry)}
    assert indexes == {0, 1, 2, NO_STEP}


def test_pause_freezes_the_timer_and_stops_the_motor() -> None:
    host = _host()
    upload(host, _program(2000))
    host.ack(RUN)
    host.run(0.5, heartbeat_s=0.2)
    assert host.ack(PAUSE).result is ResultCode.OK
    assert host.firmware.state is MotorState.PAUSED
    assert host.physics.motor.target_freq_hz == 0.0
    host.run(3.0, heartbeat_s=0.2)
    assert host.ack(RESUME).result is ResultCode.OK
    host.run(2.0, heartbeat_s=0.2)
    assert _events(host) == [
        (0, 0, K.STARTED),
        (500, 0, K.PAUSED),
        (3500, 0, K.RESUMED),
        (5000, 0, K.COMPLETED),
        (5000, 0, K.PROGRAM_DONE),
    ]


def test_control_in_the_wrong_state_is_bad_state() -> None:
    host = _host()
    assert host.ack(RUN).result is ResultCode.BAD_STATE  # nothing committed
    assert host.ack(PAUSE).result is ResultCode.BAD_STATE
    assert host.ack(RESUME).result is ResultCode.BAD_STATE
    assert host.ack(ABORT).result is ResultCode.OK
    upload(host, _program(1000))
    host.ack(RUN)
    assert host.ack(RUN).result is ResultCode.BAD_STATE
    assert host.ack(RESUME).result is ResultCode.BAD_STATE
    assert host.ack(SetOutput(30.0)).result is ResultCode.BAD_STATE
    assert upload(host, _program(500)).result is ResultCode.BAD_STATE  # commit while running


def test_run_or_resume_older_than_an_applied_pause_or_abort_changes_nothing() -> None:
    host = _host()
    upload(host, _program(5000))
    host.ack(RUN)
    host.run(0.2, heartbeat_s=0.1)
    pause_seq = host.seq + 10
    assert host.ack(PAUSE, seq=pause_seq).result is ResultCode.OK
    assert host.ack(RESUME, seq=pause_seq - 1) == Ack(MsgType.PROGRAM_CONTROL)  # sent before
    assert host.firmware.state is MotorState.PAUSED
    assert host.ack(ABORT, seq=pause_seq + 1).result is ResultCode.OK
    assert host.ack(RUN, seq=pause_seq).result is ResultCode.OK  # sent before the abort
    assert host.firmware.runner is None
    assert host.physics.motor.target_freq_hz == 0.0
    host.seq = pause_seq + 1
    assert host.ack(RUN).result is ResultCode.OK  # a newer run does run
    assert host.firmware.state is MotorState.RUNNING  # type: ignore[comparison-overlap]


def test_abort_stops_the_program_and_the_motor() -> None:
    host = _host()
    upload(host, _program(1000, 1000))
    host.ack(RUN)
    host.run(1.2, heartbeat_s=0.2)
    assert host.ack(ABORT).result is ResultCode.OK
    assert _events(host)[-1] == (1200, 1, K.ABORTED)
    assert host.firmware.state is MotorState.STOPPING
    assert host.physics.motor.target_freq_hz == 0.0


def test_watchdog_aborts_a_running_program() -> None:
    host = _host()
    upload(host, _program(5000))
    host.ack(RUN)
    host.run(2.0)
    assert _events(host)[-1] == (1000, 0, K.ABORTED)
    assert [(f.code.name, f.active) for f in host.faults()] == [("WATCHDOG", True)]
    assert host.firmware.state is MotorState.FAULTED
    assert host.monitor.violations == []


# --- contact-policy holds ---------------------------------------------------------------------


def test_contact_hold_pauses_on_lift_off() -> None:
    host = _host(ContactScenario.STEADY)  # the hand presses 20 N while the motor runs
    upload(host, _program(2000, hold_policy=HoldPolicy.CONTACT, contact_threshold_n=3.0))
    host.ack(RUN)
    host.run(1.0, heartbeat_s=0.2)
    host.physics.contact.lift_off(1.0)
    host.run(3.0, heartbeat_s=0.2)
    events = _events(host)
    kinds = [kind for _, _, kind in events]
    assert kinds[:2] == [K.STARTED, K.HOLD_PAUSED]  # not pressed yet when the step starts
    assert kinds[-2:] == [K.COMPLETED, K.PROGRAM_DONE]
    holds = events[1:-2]
    assert [kind for _, _, kind in holds] == [K.HOLD_PAUSED, K.HOLD_RESUMED] * (len(holds) // 2)
    paused_ms = [t for t, _, kind in holds if kind is K.HOLD_PAUSED]
    resumed_ms = [t for t, _, kind in holds if kind is K.HOLD_RESUMED]
    assert any(1000 <= t <= 1350 for t in paused_ms)  # lifted at 1.0 s, force decays, debounce
    away_ms = sum(b - a for a, b in zip(paused_ms, resumed_ms, strict=True))
    assert away_ms >= 1000
    assert events[-1][0] == pytest.approx(2000 + away_ms, abs=1)


@pytest.mark.parametrize("target_n", [3.0, 4.0, 20.0])
def test_contact_changes_are_debounced(target_n: float) -> None:
    host = _host(ContactScenario.FOLLOW_BAND)  # the hand follows a band around the threshold
    steps = _program(
        3000, hold_policy=HoldPolicy.CONTACT, contact_threshold_n=3.0,
        force_target_n=target_n, force_tolerance_n=1.0,
    )  # fmt: skip
    upload(host, steps)
    host.ack(RUN)
    host.run(6.0, heartbeat_s=0.2)
    holds = [t for t, _, kind in _events(host) if kind in (K.HOLD_PAUSED, K.HOLD_RESUMED)]
    gaps_ms = [b - a for a, b in itertools.pairwise(holds)]
    assert all(gap >= 1000 * CONTACT_DEBOUNCE_S for gap in gaps_ms), holds
    assert host.monitor.violations == []


def test_contact_hold_is_capped_by_wall_time() -> None:
    host = _host(ContactScenario.NONE)  # never any contact
    upload(host, _program(1000, hold_policy=HoldPolicy.CONTACT, hold_cap_ms=1500))
    host.ack(RUN)
    host.run(2.0, heartbeat_s=0.2)
    assert _events(host) == [
        (0, 0, K.STARTED),
        (0, 0, K.HOLD_PAUSED),
        (1500, 0, K.COMPLETED),
        (1500, 0, K.PROGRAM_DONE),
    ]


def test_contact_hold_cap_defaults_to_twice_the_duration() -> None:
    host = _host(ContactScenario.NONE)
    upload(host, _program(700, hold_policy=HoldPolicy.CONTACT))
    host.ack(RUN)
    host.run(2.0, heartbeat_s=0.2)
    assert _events(host)[-1] == (1400, 0, K.PROGRAM_DONE)


def test_a_long_program_keeps_exact_step_times() -> None:
    host = _host()
    steps = _program(*([1500, 30_000, 15_000] * 10))
    upload(host, steps)
    host.ack(RUN)
    host.run(470.0, step_s=0.25, heartbeat_s=0.5)
    completed = [t for t, _, kind in _events(host) if kind is K.COMPLETED]
    expected, elapsed = [], 0
    for step in steps:
        elapsed += step.duration_ms
        expected.append(elapsed)
    assert completed == expected
    assert host.monitor.violations == []
