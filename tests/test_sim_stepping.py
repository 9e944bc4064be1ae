"""How often a simulated gun steps its physics: fine near a watched force, coarse elsewhere."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from tpdevice.device import ClientOptions, DeviceClient
from tpdevice.protocol import (
    Fault,
    FaultCode,
    Heartbeat,
    HoldPolicy,
    MotorState,
    ProgramAction,
    ProgramBegin,
    ProgramCommit,
    ProgramControl,
    ProgramStep,
    SetOutput,
    Start,
    StepEvent,
    StepEventKind,
    StepKind,
    Stop,
    Telemetry,
    program_hash,
)
from tpdevice.therapy.clock import VirtualClock
from tpdevice.transport import LoopbackTransport
from tpdevice_sim.config import FirmwareConfig
from tpdevice_sim.gun import SimulatedGun, SimulatorFleet
from tpdevice_sim.links import LoopbackLink, make_link
from tpdevice_sim.physics import ContactModel, ContactScenario
from tpdevice_sim.testing import FirmwareHarness

TELEMETRY_HZ = 20
# 20 Hz telemetry over 10 s is 200 ticks; a fixed 10 ms physics tick would make 1000.
MAX_TICKS_PER_10_S = 220


def _count_calls(owner: object, name: str) -> list[int]:
    """Wrap owner.name so each call bumps a counter; return the counter."""
    calls = [0]
    inner: Callable[..., object] = getattr(owner, name)

    def counted(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return inner(*args, **kwargs)

    setattr(owner, name, counted)
    return calls


async def _beat(client: DeviceClient, clock: VirtualClock) -> None:
    deadline_s = clock.now_s()
    while True:
        client.heartbeat.beat()
        deadline_s += client.heartbeat.interval_s
        await clock.sleep_until(deadline_s)


async def test_a_running_gun_ticks_at_its_telemetry_rate_not_every_10_ms() -> None:
    clock = VirtualClock()
    fleet = SimulatorFleet("loopback", seed=4, clock=clock)
    await fleet.start()
    gun = fleet.guns[0]
    ticks = _count_calls(gun.firmware, "tick")
    link = gun.link
    assert isinstance(link, LoopbackLink)
    client = DeviceClient(
        "sim", lambda: LoopbackTransport(link), ClientOptions(telemetry_hz=TELEMETRY_HZ)
    )
    samples: list[Telemetry | None] = []
    try:
        await client.connect()
        heartbeat = asyncio.create_task(_beat(client, clock))
        await client.set_output(35.0, force_target_n=30.0, force_tolerance_n=6.0, force_cap_n=80.0)
        await client.start()
        ticks[0] = 0
        for _ in range(20):
            await clock.sleep(0.5)
            samples.append(client.last_telemetry)
        heartbeat.cancel()
        assert ticks[0] <= MAX_TICKS_PER_10_S
        for telemetry in samples:  # telemetry kept flowing at 20 Hz
            assert telemetry is not None and telemetry.state is MotorState.RUNNING
            lag_s = clock.now_s() - telemetry.device_time_ms / 1000.0
            assert lag_s <= 1.0 / TELEMETRY_HZ + 1e-9 or telemetry is not samples[-1]
        last = samples[-1]
        assert last is not None and last.freq_hz == pytest.approx(35.0, abs=1.0)
        assert last.force_n == pytest.approx(30.0, abs=15.0)
    finally:
        await client.close()
        await fleet.stop()
    assert fleet.violations == []


class _StillClock:
    """Device time that stands still while real time passes: every timer wakes early."""

    def __init__(self) -> None:
        self.time_s = 0.0

    def now_s(self) -> float:
        return self.time_s

    def real_delay_s(self, device_dt_s: float) -> float:
        return max(0.0, device_dt_s)


async def test_a_timer_that_wakes_before_the_deadline_does_not_tick_the_firmware() -> None:
    clock = _StillClock()
    config = FirmwareConfig(tick_s=0.01, idle_step_s=0.02)  # due every 20 ms of device time
    gun = SimulatedGun(make_link("loopback"), config=config, clock=clock)
    ticks = _count_calls(gun.firmware, "tick")
    await gun.start()
    try:
        await asyncio.sleep(0.15)  # seven wakes' worth of real time, no device time
        assert ticks[0] == 0
        clock.time_s = 1.0
        for _ in range(100):
            await asyncio.sleep(0.01)
            if ticks[0]:
                break
        assert ticks[0] >= 1
    finally:
        await gun.stop()


def _physics_steps(host: FirmwareHarness) -> list[int]:
    return _count_calls(host.firmware.physics, "step")


def _running(output: SetOutput, scenario: ContactScenario) -> FirmwareHarness:
    host = FirmwareHarness(scenario=scenario, seed=2)
    host.hello(watchdog_ms=10_000, telemetry_hz=1)
    host.ack(output)
    host.ack(Start())
    return host


def test_new_setpoints_between_telemetry_samples_add_no_ticks() -> None:
    host = FirmwareHarness(scenario=ContactScenario.FOLLOW_BAND, seed=5)
    host.hello(watchdog_ms=10_000, telemetry_hz=TELEMETRY_HZ)
    host.ack(SetOutput(35.0, 30.0, 6.0, 80.0))
    host.ack(Start())
    firmware, ticks, changes = host.firmware, 0, 0
    end_s, change_s = 9.0, 0.3345  # setpoints off the telemetry grid, each a new quiet span
    while (due_s := min(firmware.next_deadline_s(), change_s)) <= end_s:
        if due_s == change_s:
            host.clock.advance(max(0.0, change_s - host.clock.now_s()))
            changes += 1
            host.ack(SetOutput(35.0, 30.0 + changes % 2, 6.0, 80.0))
            change_s += 0.3345
        else:  # a timer wakes a little after its instant
            late_s = due_s + 0.003 - host.clock.now_s()
            host.run(late_s, step_s=late_s)
            ticks += 1
    assert firmware.state is MotorState.RUNNING
    assert ticks <= end_s * TELEMETRY_HZ + 5


def test_far_from_every_threshold_physics_steps_at_the_quiet_step() -> None:
    host = _running(SetOutput(35.0, 20.0, 4.0, 100.0), ContactScenario.FOLLOW_BAND)
    host.run(4.0, step_s=0.25)  # settle into the band
    steps = _physics_steps(host)
    host.run(5.0, step_s=1.0)
    assert steps[0] <= 5.0 / host.config.busy_step_s + 5
    assert host.firmware.state is MotorState.RUNNING


def test_near_the_cap_physics_steps_every_tick() -> None:
    host = _running(SetOutput(35.0, 55.0, 0.0, 56.5), ContactScenario.FOLLOW_BAND)
    host.run(4.0, step_s=0.25)
    steps = _physics_steps(host)
    host.run(1.0, step_s=1.0)
    assert host.firmware.state is MotorState.RUNNING
    assert steps[0] >= 1.0 / host.config.tick_s - 1


def test_a_new_output_near_the_cap_ends_a_quiet_span_at_once() -> None:
    host = _running(SetOutput(35.0, 20.0, 0.0, 100.0), ContactScenario.FOLLOW_BAND)
    host.run(4.1, step_s=0.1)
    host.ack(SetOutput(35.0, 55.0, 0.0, 56.5))
    steps = _physics_steps(host)
    host.run(1.0, step_s=1.0)
    assert steps[0] >= 1.0 / host.config.tick_s - 1


def test_a_scripted_lift_off_ends_a_quiet_span_at_once() -> None:
    host = _running(SetOutput(35.0), ContactScenario.STEADY)
    host.run(4.1, step_s=0.1)
    host.physics.contact.lift_off(1.0)
    steps = _physics_steps(host)
    host.run(0.2, step_s=0.2)
    assert steps[0] >= 0.2 / host.config.tick_s - 1


def test_heavy_spikes_keep_the_fine_step_and_still_trip_the_cap() -> None:
    host = _running(SetOutput(35.0, 20.0, 5.0, 40.0), ContactScenario.HEAVY_SPIKES)
    steps = _physics_steps(host)
    host.run(1.0, step_s=1.0)
    assert steps[0] >= 1.0 / host.config.tick_s - 1
    host.run(30.0, step_s=1.0, heartbeat_s=1.0)
    assert FaultCode.OVER_FORCE in [fault.code for fault in host.faults()]


def test_a_ramp_down_ends_idle_at_the_instant_the_motor_stops() -> None:
    host = _running(SetOutput(35.0), ContactScenario.NONE)
    host.run(2.0, step_s=0.5)  # 35 Hz reached after 0.875 s
    host.ack(Stop())
    steps = _physics_steps(host)
    host.run(0.36, step_s=0.36)  # 35 Hz at 100 Hz/s braking: stopped after 0.35 s
    assert host.firmware.state is MotorState.IDLE
    assert steps[0] <= 3


def test_a_contact_hold_resumes_at_the_threshold_crossing_not_a_quiet_step_later() -> None:
    host = FirmwareHarness(scenario=ContactScenario.FOLLOW_BAND, seed=3)
    host.hello(watchdog_ms=10_000, telemetry_hz=1)
    host.physics.contact.noise_n = 0.0  # the crossing instant is then exact
    step = ProgramStep(
        0, StepKind.HOLD, 35.0, 20.0, 0.0, 60.0, 0.0, 3000, HoldPolicy.CONTACT, 0, 14.0
    )
    digest = program_hash([step])
    host.send(ProgramBegin(1, digest))
    host.send(step)
    host.ack(ProgramCommit(digest))
    host.ack(ProgramControl(ProgramAction.RUN))
    host.run(2.0, step_s=0.5)
    resumed_ms = [
        event.device_time_ms
        for event in host.step_events()
        if isinstance(event, StepEvent) and event.kind is StepEventKind.HOLD_RESUMED
    ]
    # 20 N approached with tau 0.8 s passes 14 N at 0.8 * ln(20 / 6) = 0.963 s; the change
    # counts once it has held for the 100 ms debounce, dated at the start of the physics step
    # that confirms it.
    assert len(resumed_ms) == 1 and 963 <= resumed_ms[0] <= 963 + 100


def test_busy_step_is_the_quiet_step_within_tick_and_idle_steps() -> None:
    assert FirmwareConfig().busy_step_s == 0.25
    assert FirmwareConfig(tick_s=0.5, idle_step_s=2.0).busy_step_s == 0.5
    assert FirmwareConfig(quiet_step_s=5.0, idle_step_s=1.0).busy_step_s == 1.0
    with pytest.raises(ValueError, match="quiet_step_s"):
        FirmwareConfig(quiet_step_s=0.0)


@pytest.mark.parametrize("scenario", [ContactScenario.FOLLOW_BAND, ContactScenario.STEADY])
@pytest.mark.parametrize("step_s", [0.01, 0.05, 0.25])
def test_force_stays_within_the_bounds_given_before_each_step(
    scenario: ContactScenario, step_s: float
) -> None:
    model = ContactModel(rng=random.Random(7), scenario=scenario)
    targets_n = [0.0] * 20 + [30.0] * 400 + [10.0] * 200 + [0.0] * 100
    for target_n in targets_n:
        bounds = model.force_bounds_n(target_n, target_n, 6.0, step_s, motor_running=True)
        assert bounds is not None
        force_n = model.step(step_s, target_n, 6.0)
        assert bounds[0] <= force_n <= bounds[1]


def test_force_bounds_are_unknown_while_a_random_or_scripted_onset_may_come() -> None:
    spiky = ContactModel(rng=random.Random(1), scenario=ContactScenario.HEAVY_SPIKES)
    lifting = ContactModel(rng=random.Random(1), lift_rate_per_s=0.1)
    lifted = ContactModel(rng=random.Random(1))
    lifted.lift_off(1.0)
    for model in (spiky, lifting, lifted):
        assert model.force_bounds_n(20.0, 20.0, 5.0, 0.25, motor_running=True) is None
    released = ContactModel(rng=random.Random(1))
    released.step(1.0, 20.0, 5.0)
    low_n, high_n = released.force_bounds_n(0.0, 0.0, 0.0, 0.25, motor_running=False) or (1, 0)
    assert low_n == 0.0 and high_n == pytest.approx(released.force_n, abs=2.5)


def _running_harness() -> FirmwareHarness:
    """A gun pressed in the band with its motor running, physics caught up at 1.0 s."""
    host = FirmwareHarness(scenario=ContactScenario.FOLLOW_BAND, seed=4)
    host.hello(watchdog_ms=1000, telemetry_hz=TELEMETRY_HZ)
    host.ack(SetOutput(35.0, 40.0, 10.0))
    host.ack(Start())
    host.run(1.0, heartbeat_s=0.25)
    return host


def test_a_heartbeat_does_not_step_physics_the_next_tick_does() -> None:
    host = _running_harness()
    steps = _count_calls(host.firmware, "_step")
    host.clock.advance(0.02)  # between two telemetry instants
    host.send(Heartbeat(1020))
    assert steps[0] == 0
    host.clock.advance(0.03)
    host.firmware.tick(host.clock.now_s())
    assert steps[0] >= 1
    assert host.firmware.state is MotorState.RUNNING


def test_a_heartbeat_after_the_watchdog_expired_trips_it_first() -> None:
    host = _running_harness()
    host.clock.advance(1.5)  # the last heartbeat was at 1.0 s: the watchdog expired at 2.0 s
    out = host.send(Heartbeat(2500))
    assert [m.code for m in host.faults()][-1:] == [FaultCode.WATCHDOG]
    assert host.firmware.state is MotorState.FAULTED
    assert any(isinstance(r.message, Fault) for r in out)


def test_a_tick_late_after_a_quiet_span_ends_steps_physics_once() -> None:
    host = _running_harness()
    firmware, steps = host.firmware, _physics_steps(host)
    ticks = 0
    while host.clock.now_s() < 3.0:
        late_s = firmware.next_deadline_s() + 0.003 - host.clock.now_s()  # timers wake late
        host.run(late_s, step_s=late_s)
        host.send(Heartbeat(round(host.clock.now_s() * 1000)))  # heartbeats step no physics
        ticks += 1
    assert firmware.state is MotorState.RUNNING
    assert steps[0] == ticks
