"""Host-mode step transitions: the setpoint goes out first, the heartbeat and the events after.

Ordering only (virtual time makes every write take no time): which write comes first at a
deadline shared by a step and a heartbeat, and which events were told when a setpoint left.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from engine_helpers import FakeGun, fake_session, small_profile, until_event

from tpdevice.device.state import ConnectionState, SetpointResult
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.engine import Session, SessionOptions
from tpdevice.therapy.events import HoldStarted, SessionPaused


class _OrderGun(FakeGun):
    """Logs setpoints and heartbeats in write order, and the events told before each setpoint."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock)
        self.writes: list[tuple[str, float]] = []
        self.told: list[list[str]] = []  # per setpoint: the event types told before it
        self.session: Session | None = None

    async def set_output(self, freq_hz: float, **fields: float) -> SetpointResult:
        result = await super().set_output(freq_hz, **fields)
        self.writes.append(("setpoint", self.clock.now_s()))
        assert self.session is not None
        self.told.append([e.type for e in self.session.events])
        return result

    def _send_beat(self, interval_s: float) -> asyncio.Future[Any] | None:
        future = super()._send_beat(interval_s)
        if future is not None:
            self.writes.append(("beat", self.clock.now_s()))
        return future


def _session(gun: _OrderGun, **kwargs: Any) -> Session:
    """A wall-hold session under a steady hand; the gun logs what was told before each setpoint."""
    gun.hold_steady()
    session = fake_session(gun, small_profile(hold_policy="wall"), **kwargs)
    gun.session = session
    return session


async def test_a_step_due_at_a_heartbeat_sends_its_setpoint_before_the_beat() -> None:
    """The loop beat first, so every transition on a beat (all of them here) waited a write."""
    gun = _OrderGun(VirtualClock())
    session = _session(gun)
    summary = await session.run()
    gun.shutdown()
    assert summary.outcome == "completed"
    interval_s = gun.heartbeat.interval_s
    setpoints = [(i, t) for i, (what, t) in enumerate(gun.writes) if what == "setpoint"]
    transitions = setpoints[1:]  # step 0 starts the session
    assert len(transitions) == len(session.timeline.steps) - 1
    for index, time_s in transitions:
        assert (time_s / interval_s) == pytest.approx(round(time_s / interval_s))  # on a beat
        beats_then = [i for i, (what, t) in enumerate(gun.writes) if what == "beat" and t == time_s]
        assert len(beats_then) == 1 and beats_then[0] > index, (time_s, gun.writes)
    beats = [t for what, t in gun.writes if what == "beat"]
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert max(gaps) == pytest.approx(interval_s)  # no beat skipped or late


async def test_a_transition_tells_the_ended_step_only_after_the_next_setpoint() -> None:
    """step.completed was built (and published) before the next step's setpoint went out."""
    gun = _OrderGun(VirtualClock())
    session = _session(gun)
    await session.run()
    gun.shutdown()
    completed_before = [told.count("step.completed") for told in gun.told]
    # Setpoint k starts step k: steps 0..k-2 were told completed, step k-1 not yet.
    assert completed_before == [0, *range(len(gun.told) - 1)]
    types = [e.type for e in session.events]
    assert types.count("step.completed") == len(session.timeline.steps)


async def test_a_link_lost_under_a_transition_still_ends_the_step_at_its_deadline() -> None:
    """The setpoint of the release drops the link: the hold ended at 30 s (told before the
    pause), and the reconnect starts the release, not the hold again."""
    gun = _OrderGun(VirtualClock())
    session = _session(gun, options=SessionOptions(reconnect_grace_s=10.0))
    run = asyncio.create_task(session.run())
    await until_event(session, HoldStarted)
    gun.drop_on.add("set_output")
    await until_event(session, SessionPaused)
    await gun.clock.sleep(2.0)
    gun.set_state(ConnectionState.READY)
    summary = await run
    gun.shutdown()
    types = [e.type for e in session.events]
    paused = types.index("session.paused")
    assert types[paused - 1 : paused + 1] == ["step.completed", "session.paused"]
    assert types.count("step.completed") == len(session.timeline.steps)  # the hold once
    release = session.timeline.steps[2]
    after = [c for c in gun.calls("set_output") if c.time_s > 30.0]
    assert after[0].args["freq_hz"] == release.freq_hz
    assert after[0].args["force_target_n"] == release.force_target_n
    assert summary.steps[1].actual_duration_s == pytest.approx(20.0)
    assert summary.steps[2].actual_start_s == pytest.approx(32.0)
    assert summary.outcome == "completed"
