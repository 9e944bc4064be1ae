"""Whole sessions over BLE on the virtual radio: native (both modes), Theragun, link loss, kill -9.

The radio runs on real time, so the guns run `SCALE` times faster (`time_scale`) and so does
the session (a ScaledClock): the 14 s profile takes about 1.4 s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from ble_helpers import clean_env, drop_connection

from tpdevice.device import Backoff, DeviceClient, open_client, open_gun
from tpdevice.drivers.theragun.client import TheragunClient
from tpdevice.protocol import (
    FaultCode,
    Frame,
    FrameFlag,
    MotorState,
    MsgType,
    StepEvent,
    StepEventKind,
    decode_frame,
    decode_message,
)
from tpdevice.therapy.clock import ScaledClock
from tpdevice.therapy.compat import SessionError
from tpdevice.therapy.engine import ExecutionMode, Session, SessionState
from tpdevice.therapy.events import (
    CueEvent,
    DeviceFaultEvent,
    Event,
    SessionPaused,
    SessionResumed,
)
from tpdevice.therapy.loader import load_profile
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.summary import Summary
from tpdevice.therapy.timeline import Timeline
from tpdevice_sim.ble.theragun_peripheral import TheragunFleet, TheragunPeripheral
from tpdevice_sim.gun import SimulatedGun, SimulatorFleet

PROFILE_PATH = Path(__file__).parent / "data" / "profiles_short" / "ble-short.yaml"
SCALE = 10.0  # gun and session time run this much faster than the radio's real time
KILL_SCALE = 4.0  # slower for the kill -9 runs: the child must still be mid-session
MODES = [ExecutionMode.HOST, ExecutionMode.FIRMWARE]
FAST_BACKOFF = Backoff(min_s=0.02, max_s=0.1, jitter=0.0)
# Cues a real hand may or may not trigger; the plan's story is everything else.
CONTACT_EVENTS = {
    "hold.paused",
    "hold.resumed",
    "pressure.low",
    "pressure.high",
    "pressure.in_band",
}
HOLD_INDEX = 1  # the profile's hold step
CHILD_WATCHDOG_MS = 300
CHILD = f"""
import asyncio, sys
from pathlib import Path
from tpdevice.device import open_gun
from tpdevice.therapy.clock import ScaledClock
from tpdevice.therapy.engine import ExecutionMode, Session
from tpdevice.therapy.loader import load_profile

async def main():
    address, mode, scale, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    client = await open_gun(address, watchdog_ms={CHILD_WATCHDOG_MS}, reconnect=False)
    session = Session(client, load_profile(Path(path)), clock=ScaledClock(scale),
                      mode=ExecutionMode(mode))
    events = session.subscribe()
    run = asyncio.create_task(session.run())
    async for event in events:
        if event.type == "step.started":
            print("running", flush=True)
    await run

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(PROFILE_PATH)


def story(events: Sequence[Event]) -> list[str]:
    """Event types without the contact and pressure cues."""
    return [e.type for e in events if e.type not in CONTACT_EVENTS]


def planned_story(timeline: Timeline) -> list[str]:
    """step.started, hold./release.started, step.completed for every planned step."""
    types: list[str] = []
    for step in timeline.steps:
        types.append("step.started")
        if step.kind.value in ("hold", "release"):
            types.append(f"{step.kind.value}.started")
        types.append("step.completed")
    return types


async def native_client(fleet: SimulatorFleet) -> DeviceClient:
    return await open_client(fleet.addresses[0], telemetry_hz=5, backoff=FAST_BACKOFF)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll condition() (simulator state has no event to await) until true or time out."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 (simulator state, no event)
            await asyncio.sleep(0.01)


def assert_stopped(gun: SimulatedGun) -> None:
    assert gun.firmware.state in (MotorState.IDLE, MotorState.STOPPING)
    assert gun.physics.motor.target_freq_hz == 0.0


# --- (a) a whole profile on a native gun, both execution modes -------------------------------


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_a_profile_runs_over_ble_in_both_modes(profile: Profile, mode: ExecutionMode) -> None:
    async with SimulatorFleet("ble", 1, seed=5, time_scale=SCALE) as fleet:
        gun = fleet.guns[0]
        client = await native_client(fleet)
        try:
            session = Session(client, profile, clock=ScaledClock(SCALE), mode=mode)
            summary = await session.run()
            assert_stopped(gun)
            assert client.connection is not None and client.connection.helper.bad_frames == 0
        finally:
            await client.close()
    assert session.state is SessionState.COMPLETED
    assert (summary.outcome, summary.mode) == ("completed", mode.value)
    assert summary.steps_completed == len(session.timeline.steps) == 5
    expected = ["session.started", *planned_story(session.timeline), "session.completed"]
    assert story(session.events) == expected
    program = gun.firmware.program
    if mode is ExecutionMode.FIRMWARE:  # the gun timed the steps itself
        assert program is not None and len(program.steps) == 5
    else:
        assert program is None
    assert fleet.violations == []


# --- (b) a Theragun: host-streamed speed, pressure as cues, keep-alive by heartbeats ---------


class SpeedLog:
    """Every speed frame a simulated Theragun receives, as rpm in order."""

    def __init__(self, gun: TheragunPeripheral) -> None:
        self.rpm: list[int] = []
        firmware = gun.firmware
        on_write = firmware.on_write

        def record(data: bytes, now_s: float) -> list[bytes]:
            if len(data) == 7 and data[2] == 0x01:
                self.rpm.append(data[4] << 8 | data[5])
            return on_write(data, now_s)

        firmware.on_write = record  # type: ignore[method-assign]

    def runs(self) -> list[tuple[int, int]]:
        """(rpm, how many frames in a row)."""
        runs: list[tuple[int, int]] = []
        for rpm in self.rpm:
            if runs and runs[-1][0] == rpm:
                runs[-1] = (rpm, runs[-1][1] + 1)
            else:
                runs.append((rpm, 1))
        return runs


async def test_a_theragun_session_streams_speed_with_pressure_cues_only(profile: Profile) -> None:
    async with TheragunFleet(1, model="Pro", time_scale=SCALE) as fleet:
        gun = fleet.guns[0]
        log = SpeedLog(gun)
        client = await open_gun(fleet.addresses[0], backoff=FAST_BACKOFF)  # as `sim` prints it
        try:
            assert isinstance(client, TheragunClient)
            with pytest.raises(SessionError, match="firmware mode needs a 5-step program"):
                Session(client, profile, mode=ExecutionMode.FIRMWARE)
            session = Session(client, profile, clock=ScaledClock(SCALE))
            summary = await session.run()
            await until(lambda: gun.firmware.rpm == 0)  # the session's stop, before close()
            assert gun.firmware.stats.keepalive_stops == 0  # fed all along, stopped by a frame
        finally:
            await client.close()
    assert (summary.outcome, summary.mode) == ("completed", "host")
    cues = [e for e in session.events if isinstance(e, CueEvent)]
    assert [c.reason for c in cues] == ["no_force_sensor"]
    assert "pressure targets are cues only" in cues[0].cue
    assert story(session.events) == [
        "session.started",
        "cue",
        *planned_story(session.timeline),
        "session.completed",
    ]
    assert summary.pressure_low == summary.pressure_high == 0  # nothing measured, no coaching
    # Hz x 60 per step: sweep 35 Hz, hold 33 Hz, release + rest off, sweep 30 Hz; each re-sent
    # by the heartbeat (every 0.25 s of a 2-4 s step), then one speed 0 ends the session.
    runs = log.runs()
    assert [rpm for rpm, _ in runs] == [2100, 1980, 0, 1800, 0]
    assert all(count >= 4 for _, count in runs[:-1]), runs
    assert runs[-1] == (0, 1)  # one stop, and close() found nothing left to stop
    assert gun.firmware.rpm == 0
    assert gun.firmware.stats.bad_checksum == gun.firmware.stats.malformed == 0
    assert fleet.violations == []


# --- (c) the gun drops the link mid-hold: paused(link_lost), resumed(reconnected) -----------


async def drop_mid_hold(session: Session, gun: SimulatedGun, after_s: float) -> None:
    """Drop the radio link `after_s` session seconds into the hold."""
    async for event in session.subscribe(replay=True):
        if event.type == "hold.started":
            await session.clock.sleep(after_s)
            drop_connection(gun)
            return


def assert_recovered(session: Session, summary: Summary) -> None:
    """Completed, with one link-lost pause inside the hold and the hold's time kept."""
    assert summary.outcome == "completed", summary.reason
    paused = [e for e in session.events if isinstance(e, SessionPaused)]
    resumed = [e for e in session.events if isinstance(e, SessionResumed)]
    assert [(e.reason, e.step_index) for e in paused] == [("link_lost", HOLD_INDEX)]
    assert [(e.reason, e.step_index) for e in resumed] == [("reconnected", HOLD_INDEX)]
    # The reconnect stops the motor (new_host) or the watchdog did meanwhile; START clears it.
    faults = {e.code for e in session.events if isinstance(e, DeviceFaultEvent)}
    assert faults <= {"new_host", "watchdog"}
    types = [t for t in story(session.events) if t != "device.fault"]
    lost = types.index("session.paused")
    assert types[lost - 1 : lost + 3] == [
        "hold.started",
        "session.paused",
        "session.resumed",
        "step.completed",
    ]
    plan = planned_story(session.timeline)
    assert [t for t in types if not t.startswith("session.")] == plan
    hold = summary.steps[HOLD_INDEX]
    planned_s = session.timeline.steps[HOLD_INDEX].duration_s
    # Pauses are excluded: the hold runs its whole time, none lost with the link.
    assert hold.actual_duration_s is not None and hold.actual_duration_s >= planned_s - 0.25
    release = summary.steps[HOLD_INDEX + 1]
    assert release.actual_start_s is not None and hold.actual_start_s is not None
    assert release.actual_start_s >= hold.actual_start_s + hold.actual_duration_s
    assert summary.paused_s > 0.0


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
async def test_a_link_dropped_by_the_gun_pauses_then_resumes_the_session(
    profile: Profile, mode: ExecutionMode
) -> None:
    async with SimulatorFleet("ble", 1, seed=6, time_scale=SCALE) as fleet:
        gun = fleet.guns[0]
        client = await native_client(fleet)
        try:
            transport_before = client.connection and client.connection.transport
            session = Session(client, profile, clock=ScaledClock(SCALE), mode=mode)
            dropper = asyncio.create_task(drop_mid_hold(session, gun, after_s=1.0))
            summary = await session.run()
            await dropper
            assert client.connection is not None
            assert client.connection.transport is not transport_before  # a new GATT link
            assert_stopped(gun)
        finally:
            await client.close()
    assert_recovered(session, summary)
    assert fleet.violations == []


class StaleStepEvents:
    """Fault injection on a gun: the host's ACKs of its events are lost until the link drops,
    and the repeats of those events wait (held back) until release() - past the reconnect."""

    def __init__(self, gun: SimulatedGun) -> None:
        self.acks_lost = True
        self.holding = False
        self.held: list[bytes] = []
        link, firmware = gun.link, gun.firmware
        send, handle = link.send, firmware.handle_frame

        def send_or_hold(frames: Sequence[bytes]) -> None:
            kept: list[bytes] = []
            for raw in frames:
                (self.held if self.holding and self._repeat(raw) else kept).append(raw)
            send(kept)

        def handle_or_lose(frame: Frame, now_s: float) -> list[bytes]:
            if self.acks_lost and frame.msg_type == MsgType.ACK:  # acknowledges nothing pending
                frame = dataclasses.replace(frame, seq=(frame.seq + 0x8000) & 0xFFFF)
            return handle(frame, now_s)

        self._send = send
        link.send = send_or_hold  # type: ignore[method-assign]
        firmware.handle_frame = handle_or_lose  # type: ignore[method-assign]

    @staticmethod
    def _repeat(raw: bytes) -> bool:
        frame = decode_frame(raw)
        return frame.msg_type == MsgType.STEP_EVENT and bool(frame.flags & FrameFlag.RETRANSMIT)

    def holds(self, kind: StepEventKind) -> bool:
        """True once a repeat of a step event of this kind is held back."""
        events = (decode_message(decode_frame(raw)) for raw in self.held)
        return any(isinstance(e, StepEvent) and e.kind is kind for e in events)

    def link_dropped(self) -> None:
        self.acks_lost, self.holding = False, True

    def release(self) -> None:
        self.holding = False
        held, self.held = self.held, []
        self._send(held)


async def test_step_events_of_the_old_program_repeated_after_a_reconnect_are_stale(
    profile: Profile,
) -> None:
    async with SimulatorFleet("ble", 1, seed=6, time_scale=SCALE) as fleet:
        gun = fleet.guns[0]
        stale = StaleStepEvents(gun)
        client = await native_client(fleet)
        try:
            session = Session(
                client, profile, clock=ScaledClock(SCALE), mode=ExecutionMode.FIRMWARE
            )
            run = asyncio.create_task(session.run())
            async for event in session.subscribe(replay=True):
                if event.type == "hold.started":
                    stale.link_dropped()
                    drop_connection(gun)
                elif event.type == "session.resumed":
                    # The new program runs; the old one's COMPLETED(0) is repeated meanwhile.
                    await until(lambda: stale.holds(StepEventKind.COMPLETED), 2.0)
                    stale.release()
                    break
            summary = await run
        finally:
            await client.close()
    assert_recovered(session, summary)


# --- (d) the controller dies mid-session: the gun stops on its own ---------------------------


async def kill_mid_session(
    address: str, mode: ExecutionMode, is_running: Callable[[], bool]
) -> None:
    """Run a session in a child process, SIGKILL it mid-step once the motor runs."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, address, mode.value, str(KILL_SCALE), str(PROFILE_PATH),
        stdout=asyncio.subprocess.PIPE, env=clean_env(),
    )  # fmt: skip
    try:
        assert child.stdout is not None
        async with asyncio.timeout(15):
            assert (await child.stdout.readline()).strip() == b"running"
        await until(is_running)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()


async def test_kill_9_of_a_firmware_mode_session_stops_the_program_by_watchdog() -> None:
    async with SimulatorFleet("ble", 1, seed=7, time_scale=KILL_SCALE) as fleet:
        gun = fleet.guns[0]

        def running() -> bool:
            return gun.firmware.state is MotorState.RUNNING and gun.firmware.program is not None

        await kill_mid_session(fleet.addresses[0], ExecutionMode.FIRMWARE, running)
        await until(lambda: gun.firmware.state is not MotorState.RUNNING)
        assert FaultCode.WATCHDOG in gun.firmware.faults.active
        assert gun.physics.motor.target_freq_hz == 0.0
    assert fleet.violations == []  # the motor never ran past the watchdog


async def test_kill_9_of_a_theragun_session_stops_the_gun_by_its_keepalive() -> None:
    async with TheragunFleet(1, model="Pro", time_scale=KILL_SCALE) as fleet:
        firmware = fleet.guns[0].firmware
        hci = fleet.addresses[0].split("hci=", 1)[1]
        address = f"ble://name=Pro?hci={hci}"  # the name selects the driver
        await kill_mid_session(address, ExecutionMode.HOST, lambda: firmware.rpm == 2100)
        await until(lambda: firmware.rpm == 0)
        # Stopped by the gun's own keep-alive: nobody wrote a speed 0.
        assert firmware.stats.keepalive_stops == 1
    assert fleet.violations == []  # the motor never ran past the keep-alive
