"""Requests the engine depends on survive lost answers: a lost TIME_SYNC is sent afresh."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import FakeGun, fake_caps, fake_session, run_until

from tpdevice.device.errors import DeviceTimeoutError
from tpdevice.device.state import ConnectionState
from tpdevice.protocol import Fault, FaultCode, Feature, StepEvent, StepEventKind
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.engine import ExecutionMode, SessionOptions
from tpdevice.therapy.events import HoldStarted
from tpdevice.therapy.firmware_mode import FALLBACK_REASON
from tpdevice.therapy.timesync import _MAX_LOST, _SAMPLES


class _LossyTimeGun(FakeGun):
    """A fake with TIME_SYNC whose first `lost` answers never come."""

    def __init__(self, clock: VirtualClock, lost: int) -> None:
        features = Feature.FORCE_SENSOR | Feature.PROGRAM | Feature.TIME_SYNC
        super().__init__(clock, fake_caps(features=int(features)))
        self.lost = lost

    async def time_sync(self, now_s: Any = None) -> tuple[float, float]:
        self._call("time_sync")
        if self.lost > 0:
            self.lost -= 1
            raise DeviceTimeoutError("fake: no answer to TIME_SYNC after 1 attempts (0.25 s)")
        return 0.0, 0.004


async def test_lost_time_sync_answers_at_the_start_are_retried_not_a_failure() -> None:
    gun = _LossyTimeGun(VirtualClock(), lost=4)
    gun.hold_steady()
    summary = await fake_session(gun, mode=ExecutionMode.FIRMWARE).run()
    gun.shutdown()
    assert summary.outcome == "completed", summary.reason
    assert len(gun.calls("time_sync")) == 4 + _SAMPLES  # each lost one sent afresh


@pytest.mark.parametrize("mode", [ExecutionMode.HOST, ExecutionMode.FIRMWARE], ids=str)
async def test_lost_time_sync_answers_after_a_reconnect_are_retried(mode: ExecutionMode) -> None:
    gun = _LossyTimeGun(VirtualClock(), lost=0)
    gun.hold_steady()
    session, run = await run_until(gun, HoldStarted, mode=mode)
    synced = len(gun.calls("time_sync"))
    gun.set_state(ConnectionState.DISCONNECTED)
    await gun.clock.sleep(1.0)
    gun.lost = 5
    gun.set_state(ConnectionState.READY)
    summary = await run
    gun.shutdown()
    assert summary.outcome == "completed", summary.reason
    assert len(gun.calls("time_sync")) == synced + 5 + _SAMPLES
    assert "session.resumed" in [e.type for e in session.events]


async def test_a_device_that_never_answers_time_sync_fails_with_the_cause() -> None:
    gun = _LossyTimeGun(VirtualClock(), lost=10_000)
    gun.hold_steady()
    session = fake_session(gun, mode=ExecutionMode.FIRMWARE)
    summary = await session.run()
    gun.shutdown()
    assert summary.outcome == "failed"
    assert len(gun.calls("time_sync")) == _MAX_LOST + 1
    failed = [e for e in session.events if e.type == "session.failed"]
    assert "no answer to TIME_SYNC" in failed[0].error  # type: ignore[attr-defined]
    assert not gun.running


@pytest.mark.parametrize("mode", [ExecutionMode.HOST, ExecutionMode.FIRMWARE], ids=str)
async def test_a_new_link_is_beaten_at_once(mode: ExecutionMode) -> None:
    """A motor still running from before a short outage is fed the moment the link is back,
    not an interval later (its watchdog would trip after the session resumed)."""
    gun = _LossyTimeGun(VirtualClock(), lost=0)
    gun.hold_steady()
    _, run = await run_until(gun, HoldStarted, mode=mode)
    gun.set_state(ConnectionState.DISCONNECTED)
    await gun.clock.sleep(0.61)
    back_s = gun.clock.now_s()
    gun.set_state(ConnectionState.READY)
    summary = await run
    gun.shutdown()
    assert summary.outcome == "completed", summary.reason
    assert back_s in gun.beats


class _StallingUploadGun(FakeGun):
    """A fake whose uploads stall (no progress on a live link) from the `stall_from`-th on."""

    def __init__(self, clock: VirtualClock, stall_from: int) -> None:
        super().__init__(clock, fake_caps(features=int(Feature.FORCE_SENSOR | Feature.PROGRAM)))
        self.stall_from = stall_from
        self.uploads = 0

    async def upload_program(self, steps: Any) -> int:
        self.uploads += 1
        if self.uploads >= self.stall_from:
            self._call("upload_stalled")
            raise DeviceTimeoutError(
                "fake: program upload stalled: no PROGRAM_PULL for 3 s after 2 of 7 steps"
            )
        return await super().upload_program(steps)


def _fallback_cues(session: Any) -> list[Any]:
    return [e for e in session.events if e.type == "cue" and e.reason == FALLBACK_REASON]


async def test_firmware_mode_that_cannot_upload_goes_on_in_host_mode() -> None:
    gun = _StallingUploadGun(VirtualClock(), stall_from=1)
    gun.hold_steady()
    session = fake_session(gun, mode=ExecutionMode.FIRMWARE)
    summary = await session.run()
    gun.shutdown()
    assert summary.outcome == "completed", summary.reason
    assert summary.steps_completed == len(session.timeline.steps)
    (cue,) = _fallback_cues(session)
    assert "no PROGRAM_PULL for 3 s after 2 of 7 steps" in cue.cue
    assert "host mode" in cue.cue
    assert gun.calls("program_control") == []  # nothing ran on the device
    assert len(gun.calls("set_output")) >= len(session.timeline.steps)
    assert not gun.running


async def test_an_upload_stalled_after_a_reconnect_continues_the_step_in_host_mode() -> None:
    gun = _StallingUploadGun(VirtualClock(), stall_from=2)
    gun.hold_steady()
    session, run = await run_until(gun, HoldStarted, mode=ExecutionMode.FIRMWARE)
    gun.set_state(ConnectionState.DISCONNECTED)
    await gun.clock.sleep(2.0)
    gun.set_state(ConnectionState.READY)
    summary = await run
    gun.shutdown()
    assert summary.outcome == "completed", summary.reason
    assert summary.steps_completed == len(session.timeline.steps)
    assert len(_fallback_cues(session)) == 1
    hold = next(s for s in summary.steps if s.kind == "hold")
    assert hold.actual_duration_s == pytest.approx(
        session.timeline.steps[hold.index].duration_s, abs=0.05
    )
    assert gun.calls("start")  # host mode started the motor for the rest


async def test_a_link_back_but_lost_before_resuming_names_that_in_the_cause() -> None:
    gun = _LossyTimeGun(VirtualClock(), lost=0)
    gun.hold_steady()
    options = SessionOptions(reconnect_grace_s=5.0)
    session, run = await run_until(gun, HoldStarted, options=options)
    gun.set_state(ConnectionState.DISCONNECTED)
    await gun.clock.sleep(1.0)
    gun.drop_on.add("time_sync")  # the link drops again under the first request
    gun.set_state(ConnectionState.READY)
    summary = await run
    gun.shutdown()
    assert summary.outcome == "failed" and summary.reason == "link_lost"
    (failed,) = [e for e in session.events if e.type == "session.failed"]
    assert failed.error == (  # type: ignore[attr-defined]
        "fake: the session could not resume within 5 s: the link came back 1 time, lost each time"
    )


def _trip_watchdog(gun: FakeGun, *, program_step: int | None = None) -> None:
    """The device's watchdog trips (heartbeats lost) while the link stays up."""
    now_ms = round(gun.clock.now_s() * 1000)
    gun.running = False
    if program_step is not None:  # the device aborts its program first, then raises the fault
        gun._cancel_program()
        gun.emit(StepEvent(now_ms, program_step, StepEventKind.ABORTED))
    gun.emit(Fault(now_ms, FaultCode.WATCHDOG, True))


@pytest.mark.parametrize("mode", [ExecutionMode.HOST, ExecutionMode.FIRMWARE], ids=str)
async def test_a_watchdog_trip_on_a_live_link_is_recovered_as_a_short_outage(
    mode: ExecutionMode,
) -> None:
    gun = _LossyTimeGun(VirtualClock(), lost=0)
    gun.hold_steady()
    session, run = await run_until(gun, HoldStarted, mode=mode)
    await gun.clock.sleep(3.0)
    _trip_watchdog(gun, program_step=1 if mode is ExecutionMode.FIRMWARE else None)
    summary = await run
    gun.shutdown()
    assert summary.outcome == "completed", summary.reason
    assert summary.steps_completed == len(session.timeline.steps)
    types = [(e.type, getattr(e, "reason", None)) for e in session.events]
    assert ("session.paused", "link_lost") in types
    assert ("session.resumed", "reconnected") in types
    hold = summary.steps[1]
    assert hold.actual_duration_s == pytest.approx(session.timeline.steps[1].duration_s, abs=0.05)


async def test_watchdog_trips_beyond_a_few_end_the_session_aborted() -> None:
    gun = _LossyTimeGun(VirtualClock(), lost=0)
    gun.hold_steady()
    _, run = await run_until(gun, HoldStarted)
    for _ in range(4):
        await gun.clock.sleep(1.0)
        _trip_watchdog(gun)
    summary = await run
    gun.shutdown()
    assert summary.outcome == "aborted" and summary.reason == "device_fault"
    assert not gun.running
