"""`tpdevice bench scale`: N simulated guns in one daemon, each streaming telemetry at 20 Hz and
running a session, the daemon timing every step itself (host mode).

It reports the daemon's CPU and memory per gun, the lag from an event to its journal commit,
and step lateness against the timer floor of the same run (measured as `bench timing` does:
one task per session sleeping to absolute deadlines on the same loop and clock, no device).
The daemon runs on one CPU; serial guns are served by a child `tpdevice sim` moved to the
other CPUs, so the simulator's CPU is measured apart; in-process (`sim`) guns share the daemon's CPU
and are included in its figures. `--find-max` doubles N until the goal is missed.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpdevice.cli.bench_child import BenchError, python_module_argv
from tpdevice.cli.bench_fleet import FleetServer
from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.cli.bench_procstat import CpuWindow, pin_to_one_cpu, rss_kib
from tpdevice.cli.bench_scale_report import TARGET_DEVICES, result, summarize
from tpdevice.cli.bench_timing import (
    BENCH_PROFILE_ID,
    FLOOR_PERIOD_S,
    FLOOR_SHARE,
    START_LEAD_S,
    STEP_S,
    measure_floor,
    timing_profile,
)
from tpdevice.cli.benchkit import emit
from tpdevice.cli.errors import CliError
from tpdevice.daemon.config import DaemonConfig, DeviceConfig
from tpdevice.daemon.control import StartRequest
from tpdevice.daemon.core import GunDaemon
from tpdevice.daemon.journal import Journal
from tpdevice.daemon.journal_queries import JournalReader
from tpdevice.therapy.clock import SessionClock
from tpdevice.therapy.engine import ExecutionMode
from tpdevice.therapy.loader import Catalogue, LoadedProfile, ProfileSource
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.runner import session_clock

__all__ = ["ScaleSettings", "run"]

SCALE_TRANSPORTS = ("serial", "sim")
TELEMETRY_HZ = 20
MAX_DEVICES = 1000
_CONNECT_S = 20.0  # plus _CONNECT_S_PER_GUN for each gun
_CONNECT_S_PER_GUN = 0.2
_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class ScaleSettings:
    """Validated `bench scale` options."""

    devices: int
    transport: str = "serial"
    seconds: float = 10.0
    time_scale: float = 1.0
    find_max: bool = False
    max_devices: int = MAX_DEVICES
    loop: str = "auto"
    one_cpu: bool = True

    def offsets_s(self, count: int) -> list[float]:
        """Session starts spread evenly over one step, as independent starts would be."""
        return [i * STEP_S / count for i in range(count)]

    def counts(self) -> list[int]:
        """The gun counts to run: N, or N, 2N, 4N ... up to --max-devices with --find-max."""
        if not self.find_max:
            return [self.devices]
        counts = [self.devices]
        while counts[-1] * 2 <= self.max_devices:
            counts.append(counts[-1] * 2)
        return counts


def check_settings(settings: ScaleSettings) -> None:
    """CliError naming the first bad option."""
    if settings.transport not in SCALE_TRANSPORTS:
        known = ", ".join(SCALE_TRANSPORTS)
        raise CliError(f"--transport: {settings.transport!r} is not one of {known}")
    if not 1 <= settings.devices <= MAX_DEVICES:
        raise CliError(f"--devices: {settings.devices} must lie in 1..{MAX_DEVICES}")
    if not settings.devices <= settings.max_devices <= MAX_DEVICES:
        raise CliError(
            f"--max-devices: {settings.max_devices} must lie in {settings.devices}..{MAX_DEVICES}"
        )
    if not (math.isfinite(settings.seconds) and 2 <= settings.seconds <= 64):
        raise CliError(f"--seconds: {settings.seconds:g} must lie in 2..64")
    if not (math.isfinite(settings.time_scale) and 0 < settings.time_scale <= 1000):
        raise CliError(f"--time-scale: {settings.time_scale:g} must lie in 0..1000 (above 0)")


async def _fleet(settings: ScaleSettings, count: int, stack: AsyncExitStack) -> tuple[
    list[str], int | None
]:  # fmt: skip
    """The guns' addresses, and the simulator process's id when it has one of its own."""
    if settings.transport == "sim":
        return [f"sim?id={i}" for i in range(1, count + 1)], None
    argv = python_module_argv(
        "tpdevice", "sim", "--transport", "serial", "--count", str(count),
        "--loop", settings.loop, "--time-scale", f"{settings.time_scale:g}",
    )  # fmt: skip
    server = FleetServer(argv, f"serial simulator ({count} guns)", count)
    await stack.enter_async_context(server)
    return server.addresses, server.pid


def _daemon(settings: ScaleSettings, addresses: list[str], journal: Journal) -> GunDaemon:
    """A daemon of these guns whose sessions run host-timed on the bench's clock."""
    profile = timing_profile(settings.seconds)
    config = DaemonConfig(
        devices=[DeviceConfig(id=f"gun-{i}", address=a) for i, a in enumerate(addresses, 1)]
    )
    sim_options = {"time_scale": settings.time_scale} if settings.transport == "sim" else None
    return GunDaemon(
        config, journal, client_options={"telemetry_hz": TELEMETRY_HZ}, sim_options=sim_options,
        catalogue=Catalogue((LoadedProfile(profile, Path("bench"), ProfileSource.EXTRA),)),
        clock=lambda: session_clock(settings.time_scale), session_mode=ExecutionMode.HOST,
    )  # fmt: skip


async def _until_connected(daemon: GunDaemon, count: int) -> None:
    deadline_s = time.monotonic() + _CONNECT_S + _CONNECT_S_PER_GUN * count
    while sum(slot.connected for slot in daemon.slots.values()) < count:
        if time.monotonic() > deadline_s:
            linked = sum(slot.connected for slot in daemon.slots.values())
            raise BenchError(f"bench scale: {linked} of {count} guns connected")
        await asyncio.sleep(_POLL_S)


async def _run_sessions(
    daemon: GunDaemon, clock: SessionClock, offsets_s: list[float], profile: Profile
) -> list[str]:
    """One session a gun, started at its offset; wait until every one has ended."""
    begin_s = clock.now_s() + START_LEAD_S

    async def start_at(device_id: str, offset_s: float) -> str:
        await clock.sleep_until(begin_s + offset_s)
        request = StartRequest(profile=BENCH_PROFILE_ID, device=device_id)
        return (await daemon.start_session(request)).id

    ids = await asyncio.gather(*map(start_at, daemon.slots, offsets_s))
    planned_s = profile.pass_duration_s() + STEP_S + START_LEAD_S
    deadline_s = clock.now_s() + 3 * planned_s + 30.0 * _scale_of(clock)
    while any(daemon.session(i).state in ("created", "running", "paused") for i in ids):
        if clock.now_s() > deadline_s:
            raise BenchError("bench scale: sessions still running long after their end")
        await asyncio.sleep(_POLL_S)
    return list(ids)


def _scale_of(clock: SessionClock) -> float:
    return float(getattr(clock, "scale", 1.0))


def _lateness_ms(path: Path, daemon: GunDaemon, ids: list[str]) -> tuple[list[float], int]:
    """Every step transition's lateness (the start, step 0, left out) and the sessions that
    did not complete."""
    reader = JournalReader(path)
    try:
        late = [s.lateness_ms for i in ids for s in reader.steps(i)[1:] if not s.skipped]
    finally:
        reader.close()
    incomplete = sum(daemon.session(i).state != "completed" for i in ids)
    return late, incomplete


async def _measure(settings: ScaleSettings, count: int) -> dict[str, Any]:
    """One run at `count` guns: the floor, then the daemon, its guns and their sessions."""
    async with AsyncExitStack() as stack:
        addresses, sim_pid = await _fleet(settings, count, stack)
        cpus = pin_to_one_cpu(sim_pid) if settings.one_cpu else None
        if cpus is not None:
            stack.callback(os.sched_setaffinity, 0, cpus)
        clock = session_clock(settings.time_scale)
        floor_steps = max(2, round(settings.seconds * FLOOR_SHARE / FLOOR_PERIOD_S))
        offsets_s = settings.offsets_s(count)
        floor_s = await measure_floor(clock, offsets_s, floor_steps, FLOOR_PERIOD_S)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tpdevice-scale-")))
        rss_before = rss_kib()
        journal = Journal.open(folder / "journal.sqlite3", now_wall=time.time())
        stack.callback(journal.close)
        daemon = _daemon(settings, addresses, journal)
        stack.push_async_callback(daemon.close)
        lags_s: list[float] = []
        journal.on_event_lag = _also(lags_s, journal.on_event_lag)
        await daemon.start()
        await _until_connected(daemon, count)
        rss_after = rss_kib()
        samples = [0]
        counting = asyncio.create_task(_count_telemetry(daemon, samples))
        stack.callback(counting.cancel)
        window = CpuWindow(sim_pid)
        window.start()
        ids = await _run_sessions(daemon, clock, offsets_s, timing_profile(settings.seconds))
        window.stop()
        window.telemetry_samples = samples[0]
        await asyncio.to_thread(journal.flush)
        late_ms, incomplete = _lateness_ms(journal.path, daemon, ids)
    memory = (rss_before, rss_after)
    return result(
        settings, count, late_ms, floor_s, lags_s, window, memory, incomplete, cpus is not None
    )


async def _count_telemetry(daemon: GunDaemon, samples: list[int]) -> None:
    """Count the telemetry samples the daemon takes in, as an API reader of them would."""
    async for _ in daemon.telemetry():
        samples[0] += 1


def _also(kept: list[float], observe: Callable[[float], None] | None) -> Callable[[float], None]:
    """An event-lag observer that keeps each lag and passes it on to `observe`."""

    def both(lag_s: float) -> None:
        kept.append(lag_s)
        if observe is not None:
            observe(lag_s)

    return both


async def _measure_all(settings: ScaleSettings) -> dict[str, Any]:
    """One run, or (--find-max) doubling runs until one misses the goal."""
    runs: list[dict[str, Any]] = []
    for count in settings.counts():
        runs.append(await _measure(settings, count))
        if not runs[-1]["ratio_ok"]:
            break
    final = dict(runs[-1])
    if settings.find_max:
        met = [run["devices"] for run in runs if run["ratio_ok"]]
        best = final["max_devices_meeting_goal"] = max(met, default=0)
        judged = best >= TARGET_DEVICES or not runs[-1]["ratio_ok"]
        final["goal_met"] = best >= TARGET_DEVICES if judged else None
        final["runs"] = [
            {k: run[k] for k in ("devices", "p99_ms", "floor_p99_ms", "ratio_p99", "ratio_ok")}
            for run in runs
        ]
    return final


def run(settings: ScaleSettings) -> None:
    """Measure, print the summary on stderr, then the JSON line on stdout."""
    loop_name = resolve_loop_name(settings.loop)
    settings = ScaleSettings(**{**_fields(settings), "loop": loop_name})
    check_settings(settings)
    final = run_on_loop(_measure_all(settings), loop_name)
    summarize(final)
    emit(final)


def _fields(settings: ScaleSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in ScaleSettings.__slots__}
