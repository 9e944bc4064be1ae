"""`tpdevice bench soak`: sessions back to back on simulated guns behind a faulty link.

Every gun runs in this process behind a real pty or TCP socket, with the fault spec applied
by the simulator's link (drop, corrupt, duplicate, disconnect). One worker per gun runs short
sessions one after another, alternating host and firmware mode, until the time is up. At the
end the simulators' invariant monitors (which also catch a request acted on twice) are read,
and every motor must be stopped. The JSON line counts sessions completed, failed and aborted,
the violations, and the step lateness (step start minus its deadline) over all sessions.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tpdevice.cli.benchkit import emit, summarize_ms
from tpdevice.cli.errors import CliError
from tpdevice.device import DeviceClient, open_client
from tpdevice.errors import TpDeviceError
from tpdevice.protocol import MotorState
from tpdevice.therapy.clock import RealClock
from tpdevice.therapy.engine import ExecutionMode, Session, SessionOptions
from tpdevice.therapy.profile import Profile
from tpdevice_sim.faults import FaultSpec, FaultSpecError, parse_fault_spec
from tpdevice_sim.gun import SimulatedGun, SimulatorFleet

__all__ = [
    "DEFAULT_FAULTS",
    "SOAK_TRANSPORTS",
    "SessionRecord",
    "SoakResult",
    "SoakSettings",
    "run",
    "soak",
    "soak_profile",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_FAULTS = "drop=0.05,corrupt=0.01,dup=0.02,disconnect_every_s=5"
SOAK_TRANSPORTS = ("serial", "tcp")
MODES = (ExecutionMode.HOST, ExecutionMode.FIRMWARE)
STEP_S = 1.5
_STOPPED = frozenset({MotorState.IDLE, MotorState.STOPPING, MotorState.FAULTED})
_CONNECT_GATE = 16  # handshakes at once: many at once would time out on a loaded pty
_CONNECT_ATTEMPTS = 5
_TELEMETRY_HZ = 10
_POLL_S = 0.05
_BRAKING_S = 1.0  # the simulated motor brakes to 0 Hz in ~0.35 s once stopped


def soak_profile(seconds: float) -> Profile:
    """A midline profile of STEP_S steps (sweeps at changing rates, wall holds, rests)."""
    steps: list[dict[str, Any]] = []
    for i in range(max(2, round(seconds / STEP_S))):
        if i % 4 == 3:
            steps.append({"kind": "rest", "duration_s": STEP_S, "cue": "rest"})
        elif i % 4 == 2:
            steps.append({
                "kind": "hold", "freq_hz": 32.0, "force_target_n": 12.0,
                "force_tolerance_n": 5.0, "force_ramp_n_per_s": 20.0, "hold_s": STEP_S,
                "release_s": 1.0, "hold_timer": {"policy": "wall"}, "cue": "hold",
            })  # fmt: skip
        else:
            steps.append({
                "kind": "sweep", "freq_hz": 29.0 + 3 * (i % 3), "force_target_n": 10.0,
                "force_tolerance_n": 5.0, "force_ramp_n_per_s": 20.0, "duration_s": STEP_S,
                "cue": f"step {i + 1}",
            })  # fmt: skip
    return Profile.model_validate({
        "id": "bench-soak", "title": "Soak bench", "region": "bench", "muscles": ["none"],
        "laterality": "midline", "attachment": "ball", "avoid_zones": ["none (bench)"],
        "contraindications": ["none (bench)"],
        "caps": {"max_force_n": 30.0, "freq_min_hz": 28.0, "freq_max_hz": 40.0,
                 "max_hold_s": 90.0, "max_work_s": 3600.0, "min_recovery_h": 0.0},
        "steps": steps,
    })  # fmt: skip


@dataclass(frozen=True, slots=True)
class SoakSettings:
    """What to soak: for how long, on which link, with which faults, how many guns at once."""

    seconds: float
    transport: str = "tcp"
    faults: FaultSpec = field(default_factory=lambda: parse_fault_spec(DEFAULT_FAULTS))
    sessions: int = 4  # guns, each running sessions back to back
    session_s: float = 12.0  # length of one session's profile
    modes: Sequence[ExecutionMode] = MODES
    seed: int = 0
    once: bool = False  # one session per gun, whatever `seconds` says
    reconnect_grace_s: float = 30.0
    watchdog_ms: int = 1000  # asked for in HELLO


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """How one session ended."""

    address: str
    mode: str
    outcome: str  # completed, aborted, failed, or "error" when it could not start
    reason: str
    detail: str
    lateness_ms: tuple[float, ...]
    link_losses: int = 0  # times the session paused for a lost link


@dataclass(slots=True)
class SoakResult:
    """Every session's record, the invariant violations, and guns whose motor still ran."""

    records: list[SessionRecord] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    motors_running: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        """Sessions that ended this way."""
        return sum(1 for record in self.records if record.outcome == outcome)

    def causes(self) -> dict[str, int]:
        """How often each reason ended a session that did not complete."""
        return dict(collections.Counter(r.reason for r in self.records if r.outcome != "completed"))


Progress = Callable[[SessionRecord, SoakResult], None]


async def soak(settings: SoakSettings, progress: Progress | None = None) -> SoakResult:
    """Run the soak; return every session's record and what the simulators saw."""
    result = SoakResult()
    profile = soak_profile(settings.session_s)
    fleet = SimulatorFleet(
        settings.transport, settings.sessions, seed=settings.seed, faults=settings.faults
    )
    async with fleet:
        gate = asyncio.Semaphore(_CONNECT_GATE)
        end_s = time.monotonic() + settings.seconds
        workers = [
            _worker(gun, settings.modes[i % len(settings.modes)], profile, settings, end_s, gate,
                    lambda record: _note(result, record, progress))
            for i, gun in enumerate(fleet.guns)
        ]  # fmt: skip
        await asyncio.gather(*workers)
        # A session whose final STOP was lost leaves the motor to the device's watchdog.
        await _motors_settled(fleet.guns, settings.watchdog_ms / 1000 + _BRAKING_S)
        result.violations = [str(v) for v in fleet.violations]
        result.motors_running = [g.address for g in fleet.guns if not _motor_stopped(g)]
    return result


def _note(result: SoakResult, record: SessionRecord, progress: Progress | None) -> None:
    result.records.append(record)
    if progress is not None:
        progress(record, result)


async def _motors_settled(guns: Sequence[SimulatedGun], within_s: float) -> None:
    """Return once every motor is stopped, or after within_s."""
    for _ in range(max(1, math.ceil(within_s / _POLL_S))):
        if all(map(_motor_stopped, guns)):
            return
        await asyncio.sleep(_POLL_S)


def _motor_stopped(gun: SimulatedGun) -> bool:
    """True if the gun's motor is stopped (or stopping) now."""
    return gun.firmware.state in _STOPPED


async def _worker(
    gun: SimulatedGun,
    first_mode: ExecutionMode,
    profile: Profile,
    settings: SoakSettings,
    end_s: float,
    gate: asyncio.Semaphore,
    note: Callable[[SessionRecord], None],
) -> None:
    """Sessions on one gun, modes alternating, until end_s (once, with settings.once)."""
    modes = list(settings.modes)
    index = modes.index(first_mode)
    while True:
        mode = modes[index % len(modes)]
        note(await _one_session(gun.address, mode, profile, settings, gate))
        index += 1
        if settings.once or time.monotonic() >= end_s:
            return


async def _one_session(
    address: str,
    mode: ExecutionMode,
    profile: Profile,
    settings: SoakSettings,
    gate: asyncio.Semaphore,
) -> SessionRecord:
    """Connect (retrying: the link may be down right now), run one session, close."""
    try:
        client = await _connect(address, settings.watchdog_ms, gate)
    except TpDeviceError as err:
        return SessionRecord(address, mode.value, "error", "connect", str(err), ())
    try:
        session = Session(
            client, profile, clock=RealClock(), mode=mode,
            options=SessionOptions(reconnect_grace_s=settings.reconnect_grace_s),
        )  # fmt: skip
        summary = await session.run()
        detail = next(
            (getattr(e, "error", "") or getattr(e, "detail", "") for e in session.events
             if e.type in ("session.failed", "session.aborted")), "",
        )  # fmt: skip
        losses = sum(
            1 for e in session.events
            if e.type == "session.paused" and getattr(e, "reason", "") == "link_lost"
        )  # fmt: skip
        return SessionRecord(
            address, mode.value, summary.outcome, summary.reason, str(detail),
            tuple(session.lateness_ms), losses,
        )  # fmt: skip
    finally:
        await client.close()


async def _connect(address: str, watchdog_ms: int, gate: asyncio.Semaphore) -> DeviceClient:
    """open_client(), tried again while injected faults hold the link down."""
    for attempt in range(1, _CONNECT_ATTEMPTS + 1):
        try:
            async with gate:
                return await open_client(
                    address, telemetry_hz=_TELEMETRY_HZ, watchdog_ms=watchdog_ms
                )
        except TpDeviceError as err:
            if attempt == _CONNECT_ATTEMPTS:
                raise
            _LOGGER.info("%s; connecting again", err)
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


# --- the command -------------------------------------------------------------------------


def parse_settings(
    minutes: float | None,
    seconds: float | None,
    transport: str,
    faults: str,
    sessions: int,
) -> SoakSettings:
    """Validated settings; CliError (one line) naming the bad option."""
    if transport not in SOAK_TRANSPORTS:
        raise CliError(f"--transport: {transport!r} is not one of {', '.join(SOAK_TRANSPORTS)}")
    if minutes is not None and seconds is not None:
        raise CliError("give --minutes or --seconds, not both")
    total_s = seconds if seconds is not None else 60.0 * (1.0 if minutes is None else minutes)
    if not total_s > 0.0 or total_s > 24 * 3600:
        raise CliError(f"soak length {total_s:g} s is out of range (0, 86400]")
    try:
        spec = parse_fault_spec(faults)
    except FaultSpecError as err:
        raise CliError(str(err)) from None
    return SoakSettings(total_s, transport, spec, sessions, session_s=min(12.0, max(3.0, total_s)))


def run(settings: SoakSettings) -> None:
    """Run the soak, print one progress line per session to stderr, then the JSON line."""
    began = time.monotonic()

    def progress(record: SessionRecord, result: SoakResult) -> None:
        cause = "" if record.outcome == "completed" else f" ({record.reason}: {record.detail})"
        sys.stderr.write(
            f"{time.monotonic() - began:6.1f} s  {record.address} {record.mode}: "
            f"{record.outcome}{cause}  [{result.count('completed')} completed, "
            f"{len(result.records) - result.count('completed')} not]\n"
        )

    result = asyncio.run(soak(settings, progress))
    emit(_result_json(settings, result, time.monotonic() - began))


def _result_json(settings: SoakSettings, result: SoakResult, wall_s: float) -> dict[str, Any]:
    """The bench's JSON object."""
    lateness_s = [ms / 1000 for r in result.records for ms in r.lateness_ms[1:]]
    timing = summarize_ms(lateness_s) if lateness_s else {"p50_ms": None, "p99_ms": None,
                                                          "max_ms": None}  # fmt: skip
    return {
        "bench": "soak", "n": len(lateness_s), **timing, "measure": "step lateness",
        "sessions": len(result.records), "completed": result.count("completed"),
        "failed": result.count("failed") + result.count("error"),
        "aborted": result.count("aborted"), "violations": len(result.violations),
        "motors_running": len(result.motors_running), "causes": result.causes(),
        "transport": settings.transport, "faults": str(settings.faults),
        "guns": settings.sessions, "seconds": round(wall_s, 1),
    }  # fmt: skip
