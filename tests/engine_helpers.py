"""Helpers for the session engine tests: a simulated gun on virtual time, a recording fake gun."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tpdevice.device import ClientOptions, DeviceClient
from tpdevice.device.api import Identity
from tpdevice.device.feed import DeviceEvent
from tpdevice.device.heartbeat import Heartbeat
from tpdevice.device.state import ConnectionState, SetpointResult, StateHolder
from tpdevice.device.stream import LatestStream
from tpdevice.errors import TpDeviceError
from tpdevice.protocol import (
    Capabilities,
    Feature,
    MotorState,
    ProgramAction,
    ProgramStep,
    StepEvent,
    StepEventKind,
    StopReason,
    Telemetry,
)
from tpdevice.therapy.clock import VirtualClock
from tpdevice.therapy.engine import ExecutionMode, Session
from tpdevice.therapy.events import Event
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.summary import Summary
from tpdevice.transport import LoopbackTransport, TransportOpenError
from tpdevice_sim.config import ALL_FEATURES, FirmwareConfig
from tpdevice_sim.gun import SimulatedGun
from tpdevice_sim.links import LoopbackLink
from tpdevice_sim.physics import PRESETS, ContactScenario

E = TypeVar("E", bound=Event)

STEADY_N = 12.0  # in the first hold's band (10..20 N) of small_profile() and in contact


def profile_from(data: dict[str, Any]) -> Profile:
    """A validated Profile from a dict (the YAML contract)."""
    return Profile.model_validate(data)


def small_profile(hold_policy: str = "contact", **changes: Any) -> Profile:
    """A short bilateral profile: sweep, 2 holds (20 s, contact policy) with progression, rest,
    sweep: 70 s a side."""
    data: dict[str, Any] = {
        "id": "test-small",
        "title": "Test",
        "region": "test",
        "muscles": ["test muscle"],
        "laterality": "bilateral",
        "attachment": "ball",
        "avoid_zones": ["bone"],
        "contraindications": ["injury"],
        "caps": {
            "max_force_n": 30.0, "freq_min_hz": 28.0, "freq_max_hz": 40.0,
            "max_hold_s": 60.0, "max_work_s": 300.0, "min_recovery_h": 24.0,
        },
        "steps": [
            {"kind": "sweep", "freq_hz": 30.0, "force_target_n": 10.0,
             "force_tolerance_n": 5.0, "force_ramp_n_per_s": 10.0, "duration_s": 10.0,
             "cue": "Glide."},
            {"kind": "hold", "freq_hz": 30.0, "force_target_n": 15.0,
             "force_tolerance_n": 5.0, "force_ramp_n_per_s": 10.0, "hold_s": 20.0,
             "release_s": 5.0, "cycles": 2,
             "progression": {"force_step_n": 5.0, "force_max_n": 25.0},
             "hold_timer": {"policy": hold_policy, "cap_s": 40.0}, "cue": "Hold."},
            {"kind": "rest", "duration_s": 5.0, "cue": "Rest."},
            {"kind": "sweep", "freq_hz": 30.0, "force_target_n": 8.0,
             "force_tolerance_n": 4.0, "force_ramp_n_per_s": 5.0, "duration_s": 5.0,
             "cue": "Finish."},
        ],
    }  # fmt: skip
    data.update(changes)
    return profile_from(data)


def types_of(events: Sequence[Event]) -> list[str]:
    """The event types in order."""
    return [event.type for event in events]


@dataclass
class SimGun:
    """A simulated gun on a virtual clock, with a DeviceClient connected to it."""

    clock: VirtualClock
    gun: SimulatedGun
    link: LoopbackLink
    client: DeviceClient
    down: bool = False  # the link refuses to open (an outage)

    @property
    def firmware(self) -> Any:
        """The simulated firmware (motor state, physics, monitor)."""
        return self.gun.firmware

    def transport(self) -> LoopbackTransport:
        """A new transport to the gun, unless the link is down."""
        if self.down:
            raise TransportOpenError("sim: link down")
        return LoopbackTransport(self.link, "sim")

    def cut(self, outage_s: float) -> None:
        """Drop the link now; it can be reopened after outage_s of virtual time."""
        self.down = True
        self.link._drop()
        self.clock.call_later(outage_s, self._restore)

    def _restore(self) -> None:
        self.down = False


@contextlib.asynccontextmanager
async def sim_gun(
    clock: VirtualClock | None = None,
    *,
    scenario: ContactScenario = ContactScenario.FOLLOW_BAND,
    model: str = "tp-sim-pro",
    features: Feature = ALL_FEATURES,
    tick_s: float = 0.05,
    telemetry_hz: int = 10,
    watchdog_ms: int = 1000,
    seed: int = 1,
    spec_changes: dict[str, Any] | None = None,
    **client_options: Any,
) -> AsyncIterator[SimGun]:
    """A simulated gun (coarse physics tick for speed) and a client connected to it."""
    clock = clock or VirtualClock()
    spec = PRESETS[model]
    if spec_changes:
        spec = dataclasses.replace(spec, **spec_changes)
    config = FirmwareConfig(
        spec=spec, serial=f"SIM-{seed:04d}", tick_s=tick_s, features=features,
        idle_step_s=max(tick_s, 1.0),
    )  # fmt: skip
    link = LoopbackLink(None, rng=random.Random(seed))
    gun = SimulatedGun(link, config=config, clock=clock, seed=seed, scenario=scenario)
    await gun.start()
    options = ClientOptions(watchdog_ms=watchdog_ms, telemetry_hz=telemetry_hz, **client_options)
    holder: list[SimGun] = []

    def transport() -> LoopbackTransport:
        return holder[0].transport()

    client = DeviceClient(
        "sim", transport, options, reconnect_sleep=clock.sleep, rng=random.Random(seed)
    )
    holder.append(SimGun(clock, gun, link, client))
    try:
        await client.connect()
        yield holder[0]
    finally:
        await client.close()
        await gun.stop()


def fake_caps(**changes: Any) -> Capabilities:
    """CAPABILITIES of the fake gun (no PROGRAM unless given)."""
    values: dict[str, Any] = {
        "protocol_version": 1, "features": int(Feature.FORCE_SENSOR | Feature.CONTACT_SENSOR),
        "freq_min_hz": 20.0, "freq_max_hz": 45.0, "force_max_n": 100.0, "telemetry_hz": 20,
        "telemetry_max_hz": 50, "max_program_steps": 256, "watchdog_ms": 1000,
        "watchdog_min_ms": 100, "watchdog_max_ms": 5000, "model": "fake", "serial": "F-1",
        "firmware": "0",
    }  # fmt: skip
    values.update(changes)
    return Capabilities(**values)


@dataclass
class Command:
    """One call the engine made on the fake gun, at session-clock time."""

    time_s: float
    name: str
    args: dict[str, Any] = field(default_factory=dict)


class FakeGun:
    """A GunClient that records every command and lets a test feed telemetry and events.

    It runs a program itself on the virtual clock (every step at its duration, in contact),
    so firmware mode can be driven without physics.
    """

    def __init__(self, clock: VirtualClock, caps: Capabilities | None = None) -> None:
        self.address = "fake"
        self.clock = clock
        self._caps = caps or fake_caps()
        self._state = StateHolder("fake", ConnectionState.READY)
        self.heartbeat = Heartbeat("fake", self._send_beat, lambda err: None)
        self.commands: list[Command] = []
        self.beats: list[float] = []
        self.running = False
        self.output: dict[str, float] = {"freq_hz": 0.0}
        self.program: list[ProgramStep] = []
        self.fail_next: dict[str, Exception] = {}
        self.drop_on: set[str] = set()  # these commands lose the link instead
        self._telemetry: list[LatestStream[Telemetry]] = []
        self._events: list[LatestStream[DeviceEvent]] = []
        self._timers: list[Any] = []
        self.last_telemetry: Telemetry | None = None
        self.last_error: TpDeviceError | None = None

    # --- GunClient ---------------------------------------------------------------------

    @property
    def identity(self) -> Identity:
        caps = self._caps
        return Identity(self.address, "fake", caps.model, caps.serial, caps.firmware)

    def stats(self) -> dict[str, Any]:
        return {"beats": len(self.beats)}

    @property
    def state(self) -> ConnectionState:
        return self._state.value

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    @property
    def motor_may_run(self) -> bool:
        return self.running

    def subscribe_state(
        self, listener: Callable[[ConnectionState, ConnectionState], None]
    ) -> Callable[[], None]:
        return self._state.subscribe(listener)

    async def wait_for_state(self, *states: ConnectionState) -> ConnectionState:
        reached: asyncio.Future[ConnectionState] = asyncio.get_running_loop().create_future()

        def listener(old: ConnectionState, new: ConnectionState) -> None:
            if new in states and not reached.done():
                reached.set_result(new)

        if self.state in states:
            return self.state
        unsubscribe = self._state.subscribe(listener)
        try:
            return await reached
        finally:
            unsubscribe()

    async def set_output(self, freq_hz: float, **fields: float) -> SetpointResult:
        self._call("set_output", freq_hz=freq_hz, **fields)
        self.output = {"freq_hz": freq_hz, **fields}
        return SetpointResult.APPLIED

    async def start(self) -> None:
        self._call("start")
        self.running = True
        self._set(ConnectionState.RUNNING)

    async def stop(self, reason: StopReason = StopReason.USER) -> None:
        self._call("stop", reason=reason)
        self.running = False
        self._cancel_program()
        self._set(ConnectionState.READY)

    async def upload_program(self, steps: Sequence[ProgramStep]) -> int:
        self._call("upload_program", count=len(steps), steps=list(steps))
        self.program = list(steps)
        return len(steps)

    async def program_control(self, action: ProgramAction) -> None:
        self._call("program_control", action=action)
        if action is ProgramAction.RUN:
            self.running = True
            self._schedule_program()
        elif action is ProgramAction.ABORT:
            self.running = False
            self._cancel_program()

    async def time_sync(self, now_s: Callable[[], float] | None = None) -> tuple[float, float]:
        self._call("time_sync")
        return 0.0, 0.0  # the fake's device time is the session clock (see feed, programs)

    def telemetry(self) -> LatestStream[Telemetry]:
        stream: LatestStream[Telemetry] = LatestStream(1024, self._telemetry.remove)
        self._telemetry.append(stream)
        return stream

    def events(self) -> LatestStream[DeviceEvent]:
        stream: LatestStream[DeviceEvent] = LatestStream(1024, self._events.remove)
        self._events.append(stream)
        return stream

    async def connect(self) -> Capabilities:
        return self._caps

    def connect_in_background(self) -> None:
        """Already connected: nothing to do."""

    async def close(self) -> None:
        self._set(ConnectionState.CLOSED)

    # --- test controls -----------------------------------------------------------------

    def feed(self, force_n: float, *, contact: bool | None = None) -> Telemetry:
        """Deliver one telemetry sample now."""
        sample = Telemetry(
            device_time_ms=round(self.clock.now_s() * 1000) & 0xFFFF_FFFF, freq_hz=0.0,
            force_n=force_n, contact=force_n >= 3.0 if contact is None else contact,
            battery_pct=90, motor_temp_c=30.0,
            state=MotorState.RUNNING if self.running else MotorState.IDLE,
        )  # fmt: skip
        self.last_telemetry = sample
        for stream in tuple(self._telemetry):
            stream.put(sample)
        return sample

    def feed_every(self, period_s: float, force: Callable[[float], float]) -> None:
        """Feed force(now) every period_s on the virtual clock, for ever."""

        def tick() -> None:
            self.feed(force(self.clock.now_s()))
            self._timers.append(self.clock.call_later(period_s, tick))

        tick()

    def hold_steady(self, force_n: float = STEADY_N) -> None:
        """A steady hand: feed force_n every 0.1 s on the virtual clock, for ever."""
        self.feed_every(0.1, lambda now_s: force_n)

    def emit(self, event: DeviceEvent) -> None:
        """Deliver a FAULT or STEP_EVENT now."""
        for stream in tuple(self._events):
            stream.put(event)

    def set_state(self, state: ConnectionState) -> None:
        """Move the link state (e.g. DISCONNECTED, then READY: a reconnect)."""
        if state is not ConnectionState.RUNNING:
            self.running = False
        self._set(state)

    def calls(self, name: str) -> list[Command]:
        """Commands of one kind."""
        return [c for c in self.commands if c.name == name]

    def shutdown(self) -> None:
        """Cancel the fake's timers."""
        for handle in self._timers:
            handle.cancel()
        self._cancel_program()

    # --- internals -----------------------------------------------------------------------

    def _call(self, name: str, **args: Any) -> None:
        if self.state not in (ConnectionState.READY, ConnectionState.RUNNING):
            from tpdevice.device.errors import ConnectionLostError

            raise ConnectionLostError(f"fake: not connected ({self.state.value})")
        if name in self.drop_on:
            from tpdevice.device.errors import ConnectionLostError

            self.drop_on.discard(name)
            self.set_state(ConnectionState.DISCONNECTED)
            raise ConnectionLostError(f"fake: link lost during {name}")
        error = self.fail_next.pop(name, None)
        if error is not None:
            raise error
        self.commands.append(Command(self.clock.now_s(), name, args))

    def _send_beat(self, interval_s: float) -> asyncio.Future[Any] | None:
        if self.state not in (ConnectionState.READY, ConnectionState.RUNNING):
            return None
        self.beats.append(self.clock.now_s())
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def _set(self, state: ConnectionState) -> None:
        if self.state is not ConnectionState.CLOSED:
            self._state.set(state)

    def _schedule_program(self) -> None:
        at_s = self.clock.now_s()
        self._step_event(at_s, 0, StepEventKind.STARTED)
        for index, step in enumerate(self.program):
            at_s += step.duration_ms / 1000.0
            self._step_event(at_s, index, StepEventKind.COMPLETED)
            if index + 1 < len(self.program):
                self._step_event(at_s, index + 1, StepEventKind.STARTED)
        self._step_event(at_s, len(self.program) - 1, StepEventKind.PROGRAM_DONE)

    def _step_event(self, at_s: float, index: int, kind: StepEventKind) -> None:
        event = StepEvent(round(at_s * 1000) & 0xFFFF_FFFF, index, kind)
        self._timers.append(self.clock.call_at(at_s, self.emit, event))

    def _cancel_program(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()


# --- sessions -------------------------------------------------------------------------------


def events_of(session: Session, kind: type[E]) -> list[E]:
    """The session's events of one class so far, in order."""
    return [event for event in session.events if isinstance(event, kind)]


async def until_event(session: Session, wanted: type[E], *, step_index: int | None = None) -> E:
    """The first event of class `wanted` (for that step, if given), waiting as needed."""
    async for event in session.subscribe(replay=True):
        if isinstance(event, wanted) and (
            step_index is None or getattr(event, "step_index", None) == step_index
        ):
            return event
    raise AssertionError(f"no {wanted.TYPE} event")


def fake_session(gun: FakeGun, profile: Profile | None = None, **kwargs: Any) -> Session:
    """A left-side session of `profile` (small_profile() unless given) on the fake gun, in
    host mode unless `mode` is given."""
    kwargs.setdefault("mode", ExecutionMode.HOST)
    return Session(gun, profile or small_profile(), side="left", clock=gun.clock, **kwargs)


def sim_session(
    sim: SimGun, mode: ExecutionMode, profile: Profile | None = None, **kwargs: Any
) -> Session:
    """A left-side session of `profile` (small_profile() unless given) on the simulated gun."""
    return Session(
        sim.client, profile or small_profile(), side="left", clock=sim.clock, mode=mode, **kwargs
    )


async def run_until(
    gun: FakeGun, wanted: type[Event], **kwargs: Any
) -> tuple[Session, asyncio.Task[Summary]]:
    """A fake_session(gun, **kwargs) running in a task, once its first `wanted` event is out."""
    session = fake_session(gun, **kwargs)
    run = asyncio.create_task(session.run())
    await until_event(session, wanted)
    return session, run
