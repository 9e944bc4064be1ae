"""`tpdevice bench timing`: step-transition lateness of N concurrent sessions on N simulated guns.

Each session runs host-streamed (the engine sends SET_OUTPUT at every step deadline) on the
real clock; the engine's Session.lateness_ms gives how late each transition was issued after
its absolute deadline. Sessions start spread evenly over one step period, as independently
started sessions would be (`--aligned`: all at once, the worst case). The floor is the same
clock's sleep_until() on the same loop with no device: one task per session, with the same
start offsets, sleeping to absolute deadlines as often as a session's control loop wakes
(every 250 ms, its heartbeat), before the guns are connected.
"""

from __future__ import annotations

import asyncio
import gc
import math
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from tpdevice.cli.bench_child import BenchError
from tpdevice.cli.bench_fleet import FLEET_TRANSPORTS, start_fleet
from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.cli.benchkit import emit, goal_text, ratio, summarize_ms
from tpdevice.cli.errors import CliError
from tpdevice.device import DeviceClient, open_client
from tpdevice.therapy.clock import RealClock, SessionClock
from tpdevice.therapy.engine import ExecutionMode, Session
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.summary import Summary

__all__ = ["TimingSettings", "measure_floor", "run", "timing_profile"]

TARGET_P99_MS = 2.0
TARGET_SESSIONS = 50
TELEMETRY_HZ = 20
STEP_S = 1.0
START_LEAD_S = 0.05  # the first deadline, after every task has started sleeping
FLOOR_SHARE = 0.25  # the floor runs about a quarter as long as the sessions
FLOOR_PERIOD_S = 0.25  # a session's control loop wakes this often (heartbeats, 1 s watchdog)
BENCH_PROFILE_ID = "bench-timing"
_FREQS_HZ = (29.0, 33.0, 37.0)


@dataclass(frozen=True, slots=True)
class TimingSettings:
    """Validated `bench timing` options."""

    sessions: int
    transport: str
    loop: str
    seconds: float
    profile_id: str | None = None
    spin_ms: float = 0.0
    aligned: bool = False  # all sessions start together (worst case) instead of spread
    profiles_dirs: tuple[Path, ...] = ()

    def offsets_s(self) -> list[float]:
        """Start offsets: spread evenly over one step (independent starts), or all at 0."""
        if self.aligned:
            return [0.0] * self.sessions
        return [i * STEP_S / self.sessions for i in range(self.sessions)]


def timing_profile(seconds: float) -> Profile:
    """A midline profile of 1 s steps (sweeps at changing rates, holds, rests) ~`seconds` long."""
    count = max(2, min(64, round(seconds / STEP_S)))
    steps: list[dict[str, Any]] = []
    for i in range(count):
        if i % 4 == 3:
            steps.append({"kind": "rest", "duration_s": STEP_S, "cue": "rest"})
            continue
        freq_hz = _FREQS_HZ[i % len(_FREQS_HZ)]
        steps.append({
            "kind": "sweep", "freq_hz": freq_hz, "force_target_n": 10.0 + i % 3,
            "force_tolerance_n": 4.0, "force_ramp_n_per_s": 20.0, "duration_s": STEP_S,
            "cue": f"step {i + 1}",
        })  # fmt: skip
    return Profile.model_validate({
        "id": BENCH_PROFILE_ID, "title": "Timing bench", "region": "bench",
        "muscles": ["none"], "laterality": "midline", "attachment": "ball",
        "avoid_zones": ["none (bench)"], "contraindications": ["none (bench)"],
        "caps": {"max_force_n": 30.0, "freq_min_hz": 28.0, "freq_max_hz": 40.0,
                 "max_hold_s": 90.0, "max_work_s": 3600.0, "min_recovery_h": 0.0},
        "steps": steps,
    })  # fmt: skip


async def measure_floor(
    clock: SessionClock, offsets_s: list[float], steps: int, period_s: float
) -> list[float]:
    """Lateness (s) of one task per offset, each sleeping on `clock` to absolute deadlines."""
    start_s = clock.now_s() + START_LEAD_S

    async def sleeper(offset_s: float) -> list[float]:
        late: list[float] = []
        for k in range(steps):
            deadline_s = start_s + offset_s + k * period_s
            await clock.sleep_until(deadline_s)
            late.append(clock.now_s() - deadline_s)
        return late

    results = await asyncio.gather(*(sleeper(offset_s) for offset_s in offsets_s))
    return [value for one in results for value in one]


async def _open_clients(addresses: list[str], stack: AsyncExitStack) -> list[DeviceClient]:
    """Connect every gun (a few at a time: N handshakes at once would time out on a pty)."""
    gate = asyncio.Semaphore(8)

    async def one(address: str) -> DeviceClient:
        async with gate:
            client = await open_client(address, reconnect=False, telemetry_hz=TELEMETRY_HZ)
        stack.push_async_callback(client.close)
        return client

    return list(await asyncio.gather(*(one(address) for address in addresses)))


async def _run_sessions(
    clients: list[DeviceClient], profile: Profile, clock: RealClock, offsets_s: list[float]
) -> tuple[list[float], int, int]:
    """One host-mode session per client, started at its offset: (lateness ms, early, incomplete).

    Step 0 starts the session (its deadline is "now") and is left out: only transitions count.
    Early starts are counted against the plan (session start + planned_start_s), independently
    of the engine's lateness, which is clamped at 0; the bench profile has wall-timed steps only,
    so every deadline is exactly on the plan.
    """
    sessions = [
        Session(client, profile, side=None, clock=clock, mode=ExecutionMode.HOST)
        for client in clients
    ]
    begin_s = clock.now_s() + START_LEAD_S

    async def start_at(session: Session, offset_s: float) -> Summary:
        await clock.sleep_until(begin_s + offset_s)
        return await session.run()

    summaries = await asyncio.gather(*map(start_at, sessions, offsets_s))
    lateness_ms = [late for session in sessions for late in session.lateness_ms[1:]]
    early = sum(
        1
        for summary in summaries
        for step in summary.steps[1:]
        if step.actual_start_s is not None and step.actual_start_s < step.planned_start_s
    )
    incomplete = sum(1 for summary in summaries if summary.outcome != "completed")
    return lateness_ms, early, incomplete


async def _measure(settings: TimingSettings, profile: Profile) -> dict[str, Any]:
    """Start the guns, measure the floor, run the sessions, stop everything."""
    clock = RealClock(spin_s=settings.spin_ms / 1000)
    floor_clock = RealClock(spin_s=settings.spin_ms / 1000)
    async with AsyncExitStack() as stack:
        addresses = await start_fleet(settings.transport, settings.sessions, settings.loop, stack)
        floor_steps = max(2, round(settings.seconds * FLOOR_SHARE / FLOOR_PERIOD_S))
        floor_s = await measure_floor(
            floor_clock, settings.offsets_s(), floor_steps, FLOOR_PERIOD_S
        )
        clients = await _open_clients(addresses, stack)
        gc.collect()
        gc.disable()  # a collection pause is the host's noise, not the engine's timing
        try:
            lateness_ms, early, incomplete = await _run_sessions(
                clients, profile, clock, settings.offsets_s()
            )
        finally:
            gc.enable()
    if incomplete:
        what = f"{incomplete} of {settings.sessions} sessions"
        raise BenchError(f"bench timing: {what} did not complete")
    return _result(settings, profile, (lateness_ms, early), floor_s, clock.resleeps)


def _result(
    settings: TimingSettings,
    profile: Profile,
    transitions: tuple[list[float], int],
    floor_s: list[float],
    resleeps: int,
) -> dict[str, Any]:
    """The JSON object of the bench."""
    lateness_ms, early = transitions
    if not lateness_ms:
        raise BenchError("bench timing: the sessions reported no step transitions")
    timing = summarize_ms([value / 1000 for value in lateness_ms])
    floor = summarize_ms(floor_s)
    return {
        "bench": "timing", "n": len(lateness_ms), "sessions": settings.sessions,
        "transport": settings.transport, "loop": settings.loop, "mode": "host",
        "profile": profile.id, "steps_per_session": len(lateness_ms) // settings.sessions,
        **timing, "floor_p50_ms": floor["p50_ms"], "floor_p99_ms": floor["p99_ms"],
        "floor_max_ms": floor["max_ms"], "floor_n": len(floor_s),
        "ratio_p50": ratio(timing["p50_ms"], floor["p50_ms"]),
        "early_starts": early,
        "spin_ms": settings.spin_ms, "starts": "aligned" if settings.aligned else "spread",
        "resleeps": resleeps, "gc_disabled": True,
        "target_p99_ms": TARGET_P99_MS, "target_sessions": TARGET_SESSIONS,
        "goal_met": _goal_met(settings.sessions, settings.transport, timing["p99_ms"]),
    }  # fmt: skip


def _goal_met(sessions: int, transport: str, p99_ms: float) -> bool | None:
    """p99 within the goal; None when the run is not the one the goal is set for."""
    if sessions < TARGET_SESSIONS or transport != "serial":
        return None
    return p99_ms <= TARGET_P99_MS


def summarize(result: dict[str, Any]) -> None:
    """The human summary on stderr."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(
        f"bench timing: {result['sessions']} sessions on {result['transport']} guns, "
        f"{result['loop']} loop, host mode, profile {result['profile']} "
        f"({result['steps_per_session']} steps each), spin {result['spin_ms']:g} ms, GC off"
    )
    console.print(
        f"  step lateness   p50 {result['p50_ms']:.3f} ms  p99 {result['p99_ms']:.3f} ms  "
        f"max {result['max_ms']:.3f} ms  ({result['n']} transitions)"
    )
    console.print(
        f"  timer floor     p50 {result['floor_p50_ms']:.3f} ms  "
        f"p99 {result['floor_p99_ms']:.3f} ms  max {result['floor_max_ms']:.3f} ms  "
        f"({result['floor_n']} wakeups, {result['sessions']} tasks, no device)"
    )
    early = result["early_starts"]
    early_text = "[green]0[/green]" if early == 0 else f"[red]{early}[/red]"
    console.print(f"  ratio {result['ratio_p50']}x;  early starts {early_text}")
    goal = f"99 % of steps start within {TARGET_P99_MS:g} ms after they are due"
    applies_to = f"{TARGET_SESSIONS} or more sessions on serial guns"
    console.print(f"  {goal_text(goal, result.get('goal_met'), applies_to)}")


def check_settings(settings: TimingSettings) -> None:
    """CliError naming the first bad option."""
    if settings.transport not in FLEET_TRANSPORTS:
        known = ", ".join(FLEET_TRANSPORTS)
        raise CliError(f"--transport: {settings.transport!r} is not one of {known}")
    if not (math.isfinite(settings.seconds) and 2 <= settings.seconds <= 64):
        raise CliError(f"--seconds: {settings.seconds:g} must lie in 2..64")
    if not (math.isfinite(settings.spin_ms) and 0 <= settings.spin_ms <= 20):
        raise CliError(f"--spin-ms: {settings.spin_ms:g} must lie in 0..20")


def _profile(settings: TimingSettings) -> Profile:
    """The built-in timing profile, or a catalogue profile with --profile."""
    if settings.profile_id is None:
        return timing_profile(settings.seconds)
    from tpdevice.therapy.loader import load_catalogue

    return load_catalogue(settings.profiles_dirs).require(settings.profile_id).profile


def run(settings: TimingSettings) -> None:
    """Measure, print the summary on stderr, then the JSON line on stdout."""
    loop_name = resolve_loop_name(settings.loop)
    settings = TimingSettings(**{**_fields(settings), "loop": loop_name})
    check_settings(settings)
    profile = _profile(settings)
    result = run_on_loop(_measure(settings, profile), loop_name)
    summarize(result)
    emit(result)


def _fields(settings: TimingSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in TimingSettings.__slots__}
