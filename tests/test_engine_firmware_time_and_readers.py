"""Firmware-mode pauses, device time across reconnects, the reader tasks and event numbering.

A step the device starts while a pause is in flight is frozen too, device time is synced again
after a reconnect (a reboot remapped), stale STEP_EVENTs are ignored, a dying reader fails the
session with the motor stopped, and a failing event uses no sequence number.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from engine_helpers import FakeGun, fake_caps, fake_session, run_until, small_profile, until_event

from tpdevice.device.api import TimeSyncing
from tpdevice.device.state import ConnectionState
from tpdevice.device.stream import LatestStream
from tpdevice.drivers.theragun.client import TheragunClient
from tpdevice.protocol import (
    Fault,
    FaultCode,
    Feature,
    ProgramAction,
    StepEvent,
    StepEventKind,
    Telemetry,
)
from tpdevice.therapy import progress as progress_module
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.devicetime import DeviceTimeMap, TimeSource
from tpdevice.therapy.engine import ExecutionMode, Session, SessionOptions, SessionState
from tpdevice.therapy.events import (
    CueEvent,
    Event,
    EventStamper,
    HoldStarted,
    SessionPaused,
    SessionResumed,
    StepStarted,
)
from tpdevice.therapy.summary import Summary
from tpdevice.therapy.timesync import note_arrival

_U32 = 0xFFFF_FFFF


class _ManualProgramGun(FakeGun):
    """RUN reports STARTED(0) only; the test reports the rest. `cross_on_pause`: the device
    finished the running step just before the PAUSE reached it (both frames in flight)."""

    cross_on_pause: tuple[int, int] | None = None

    async def program_control(self, action: ProgramAction) -> None:
        self._call("program_control", action=action)
        if action is ProgramAction.RUN:
            self.running = True
            self.clock.call_at(self.clock.now_s(), self.step, 0, StepEventKind.STARTED)
        elif action is ProgramAction.PAUSE and self.cross_on_pause is not None:
            done, started = self.cross_on_pause
            self.step(done, StepEventKind.COMPLETED)
            self.step(started, StepEventKind.STARTED)
            for _ in range(5):  # the events reach the host before the PAUSE's ACK
                await asyncio.sleep(0)

    def step(self, index: int, kind: StepEventKind) -> None:
        self.emit(StepEvent(round(self.clock.now_s() * 1000) & _U32, index, kind))


async def test_a_step_the_device_starts_while_pause_is_in_flight_is_frozen_too() -> None:
    """Pause at the sweep's end (10 s); the device started hold 1 just before the PAUSE.

    The engine froze the sweep's timer, then started hold 1's timer unfrozen: the 30 s pause
    counted as hold time, so hold 1 reported 50 s run and the release 30 000 ms late.
    """
    caps = fake_caps(features=int(Feature.FORCE_SENSOR | Feature.PROGRAM))
    gun = _ManualProgramGun(VirtualClock(), caps)
    gun.hold_steady()
    session = fake_session(gun, small_profile(hold_policy="wall"), mode=ExecutionMode.FIRMWARE)
    run = asyncio.create_task(session.run())
    await until_event(session, StepStarted, step_index=0)
    await gun.clock.sleep_until(10.0)
    gun.cross_on_pause = (0, 1)
    session.pause()
    await until_event(session, SessionPaused)
    await gun.clock.sleep(30.0)
    session.resume()
    resumed = await until_event(session, SessionResumed)
    await gun.clock.sleep_until(60.0)  # the device ran the 20 s hold: 10..60 less the pause
    gun.step(1, StepEventKind.COMPLETED)
    gun.step(2, StepEventKind.STARTED)
    release = await until_event(session, StepStarted, step_index=2)
    await session.stop()
    summary = await run
    gun.shutdown()
    assert resumed.remaining_s == pytest.approx(20.0, abs=0.01)
    assert summary.steps[1].actual_duration_s == pytest.approx(20.0, abs=0.01)
    assert release.lateness_ms == pytest.approx(0.0, abs=1.0)


async def _firmware_run_with_a_drop(
    gun: FakeGun, drop: Callable[[], None]
) -> tuple[Session, Summary]:
    """A wall-hold firmware session; `drop` cuts the link 5 s into hold 1 (at 15 s), back 2 s on."""
    session, run = await run_until(
        gun, HoldStarted, profile=small_profile(hold_policy="wall"),
        mode=ExecutionMode.FIRMWARE, options=SessionOptions(reconnect_grace_s=10.0),
    )  # fmt: skip
    await gun.clock.sleep(5.0)
    drop()
    await gun.clock.sleep(2.0)
    gun.set_state(ConnectionState.READY)
    summary = await run
    gun.shutdown()
    return session, summary


class _ClockedGun(FakeGun):
    """A fake with TIME_SYNC whose clock reads session time + offset_s (a reboot resets it)."""

    def __init__(self, clock: VirtualClock, offset_s: float) -> None:
        features = Feature.FORCE_SENSOR | Feature.PROGRAM | Feature.TIME_SYNC
        super().__init__(clock, fake_caps(features=int(features)))
        self.offset_s = offset_s

    async def time_sync(self, now_s: Any = None) -> tuple[float, float]:
        self._call("time_sync")
        return self.offset_s, 0.004

    def _step_event(self, at_s: float, index: int, kind: StepEventKind) -> None:
        event = StepEvent(round((at_s + self.offset_s) * 1000) & _U32, index, kind)
        self._timers.append(self.clock.call_at(at_s, self.emit, event))

    def reboot(self, offset_s: float) -> None:
        """The device restarts: its program and its clock are gone; the link drops."""
        self._cancel_program()
        self.set_state(ConnectionState.DISCONNECTED)
        self.offset_s = offset_s


async def test_device_time_is_synced_again_after_a_reconnect_and_a_reboot_remapped() -> None:
    """No TIME_SYNC after a reconnect: a rebooted device's STEP_EVENTs mapped 497 s into
    the past (the continued hold 'ran' 0 s, the release started 'before' the session)."""
    gun = _ClockedGun(VirtualClock(), offset_s=500.0)
    _, summary = await _firmware_run_with_a_drop(gun, lambda: gun.reboot(offset_s=3.0))
    assert len(gun.calls("time_sync")) == 6  # 3 at the start, 3 after the reconnect
    assert summary.outcome == "completed"
    assert summary.steps[1].actual_duration_s == pytest.approx(20.0, abs=0.01)
    assert summary.steps[2].actual_start_s == pytest.approx(32.0, abs=0.01)
    assert summary.steps[2].lateness_ms == pytest.approx(0.0, abs=1.0)


class _RepeatingGun(FakeGun):
    """The link drop loses the ACKs of the program's step events: once the new program runs,
    the gun repeats them with their device times, before its STARTED(0) or `after_s` after."""

    def __init__(self, clock: VirtualClock, *, time_sync: bool, after_s: float | None) -> None:
        features = Feature.FORCE_SENSOR | Feature.PROGRAM
        features |= Feature.TIME_SYNC if time_sync else Feature.NONE
        super().__init__(clock, fake_caps(features=int(features)))
        self.after_s = after_s
        self.sent: list[StepEvent] = []
        self.unacked: list[StepEvent] = []
        self.repeated: list[StepEvent] = []

    def emit(self, event: Any) -> None:
        if isinstance(event, StepEvent):
            self.sent.append(event)
        super().emit(event)

    def drop(self) -> None:
        """The link drops; the old program is cut off with its events unacknowledged."""
        self._cancel_program()
        self.unacked, self.sent = self.sent, []
        self.set_state(ConnectionState.DISCONNECTED)

    async def program_control(self, action: ProgramAction) -> None:
        stale, self.unacked = self.unacked, []
        if stale and action is ProgramAction.RUN:
            if self.after_s is None:
                self._repeat(stale)
            else:
                self.clock.call_later(self.after_s, self._repeat, stale)
        await super().program_control(action)

    def _repeat(self, events: list[StepEvent]) -> None:
        self.repeated.extend(events)
        for event in events:
            super().emit(event)


@pytest.mark.parametrize("after_s", [None, 0.5], ids=["before-started", "after-started"])
@pytest.mark.parametrize("time_sync", [True, False], ids=["time-sync", "arrival-map"])
async def test_step_events_of_the_old_program_repeated_after_a_reconnect_are_ignored(
    time_sync: bool, after_s: float | None
) -> None:
    """The old program's STARTED(0), COMPLETED(0), STARTED(1), repeated to the new
    connection, were taken for the new program's: the continued hold ended at once."""
    gun = _RepeatingGun(VirtualClock(), time_sync=time_sync, after_s=after_s)
    gun.hold_steady()
    session, summary = await _firmware_run_with_a_drop(gun, gun.drop)
    kinds = [(e.step_index, e.kind) for e in gun.repeated]
    assert kinds == [
        (0, StepEventKind.STARTED),
        (0, StepEventKind.COMPLETED),
        (1, StepEventKind.STARTED),
    ]
    assert summary.outcome == "completed"
    assert summary.steps_completed == len(session.timeline.steps)
    assert summary.steps[1].actual_duration_s == pytest.approx(20.0, abs=0.01)
    assert summary.steps[2].actual_start_s == pytest.approx(32.0, abs=0.01)
    starts = [s.actual_start_s for s in summary.steps if s.actual_start_s is not None]
    assert len(starts) == len(summary.steps) and starts == sorted(starts)


class _DropsBeforeDoneGun(FakeGun):
    """The link drops right after the last step's COMPLETED: PROGRAM_DONE is never heard."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock, fake_caps(features=int(Feature.FORCE_SENSOR | Feature.PROGRAM)))
        self.dropped = False

    def emit(self, event: Any) -> None:
        super().emit(event)
        last = len(self.program) - 1
        done = isinstance(event, StepEvent) and event.kind is StepEventKind.COMPLETED
        if done and event.step_index == last and not self.dropped:
            self.dropped = True
            self._cancel_program()
            self.set_state(ConnectionState.DISCONNECTED)
            self.clock.call_later(2.0, self.set_state, ConnectionState.READY)


async def test_a_link_lost_after_the_last_step_ends_the_session_completed() -> None:
    """Recovery uploaded the rest of the session, here nothing: a program of 0 steps, which
    the device refuses, so a session whose every step ran ended failed."""
    gun = _DropsBeforeDoneGun(VirtualClock())
    gun.hold_steady()
    session = fake_session(
        gun, small_profile(hold_policy="wall"), mode=ExecutionMode.FIRMWARE,
        options=SessionOptions(reconnect_grace_s=10.0),
    )  # fmt: skip
    summary = await session.run()
    gun.shutdown()
    assert gun.dropped
    assert summary.outcome == "completed"
    assert summary.steps_completed == len(session.timeline.steps)
    assert [call.args["count"] for call in gun.calls("upload_program")] == [
        len(session.timeline.steps)
    ]


def test_an_arrival_far_behind_the_map_starts_a_new_map() -> None:
    """Devices without TIME_SYNC: a rebooted clock (device time near 0) was never adopted."""
    ctx: Any = SimpleNamespace(time_map=DeviceTimeMap(), client=SimpleNamespace(address="x"))
    note_arrival(ctx, 600_000, 100.0)  # device 600 s at session 100 s
    note_arrival(ctx, 600_500, 100.6)  # 0.1 s late: the map keeps the first
    assert ctx.time_map.to_session_s(601_000) == pytest.approx(101.0)
    note_arrival(ctx, 2_000, 130.0)  # rebooted: device 2 s at session 130 s
    assert ctx.time_map.source is TimeSource.ARRIVAL
    assert ctx.time_map.to_session_s(3_000) == pytest.approx(131.0)


async def test_a_theragun_offers_no_time_sync() -> None:
    def no_transport() -> Any:
        raise AssertionError("not connected in this test")

    client = TheragunClient("tg-1", no_transport)
    assert not isinstance(client, TimeSyncing)  # the engine never asks it


# --- readers ------------------------------------------------------------------------------


class _BrokenStream(LatestStream[Telemetry]):
    async def __anext__(self) -> Telemetry:
        raise RuntimeError("telemetry decoder bug")


class _BrokenTelemetryGun(FakeGun):
    def telemetry(self) -> LatestStream[Telemetry]:
        return _BrokenStream(16)


async def test_a_reader_that_dies_fails_the_session_with_the_motor_stopped() -> None:
    """The telemetry reader died silently: the session ran on blind (no cap, no contact)."""
    gun = _BrokenTelemetryGun(VirtualClock())
    session = fake_session(gun)
    summary = await session.run()
    gun.shutdown()
    assert session.state is SessionState.FAILED and summary.reason == "internal_error"
    assert "telemetry decoder bug" in session.events[-1].error  # type: ignore[attr-defined]
    assert gun.commands[-1].name == "stop" and not gun.running


class _FaultOnStartGun(FakeGun):
    """The device faults as the motor starts; the event is sent before any await."""

    async def start(self) -> None:
        await super().start()
        self.emit(Fault(0, FaultCode.OVERHEAT, True))


async def test_events_sent_as_the_session_starts_are_not_missed() -> None:
    """The readers subscribed inside their tasks, after begin() had run: the fault was lost."""
    gun = _FaultOnStartGun(VirtualClock())
    gun.hold_steady()
    session = fake_session(gun)
    summary = await session.run()
    gun.shutdown()
    assert (summary.outcome, summary.reason, summary.faults) == (
        "aborted", "device_fault", ["overheat"],
    )  # fmt: skip


# --- events ---------------------------------------------------------------------------------


def test_a_failing_event_uses_no_sequence_number() -> None:
    clock = VirtualClock()
    stamper = EventStamper("s1", "p1", "fake", clock.now_s, clock.wall_time)
    with pytest.raises(TypeError, match="cue"):
        stamper.make(CueEvent, reason="missing its cue")
    assert stamper.make(CueEvent, reason="r", cue="c").seq == 1


async def test_a_failing_event_does_not_wedge_the_terminal_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad event burned a seq: every later publish, the terminal one too, was refused."""

    def broken_hold_started(**fields: Any) -> Event:
        raise ValueError("hold.started cannot be built")

    monkeypatch.setattr(progress_module, "HoldStarted", broken_hold_started)
    gun = FakeGun(VirtualClock())
    gun.hold_steady()
    session = fake_session(gun)
    with pytest.raises(ValueError, match="cannot be built"):
        await session.run()
    gun.shutdown()
    events = session.events
    assert session.state is SessionState.FAILED and events[-1].type == "session.failed"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert gun.commands[-1].name == "stop"
    await session.stop()  # ended: returns at once
