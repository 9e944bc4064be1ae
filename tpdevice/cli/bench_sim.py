"""`tpdevice bench sim`: the simulator's own CPU for N guns at 20 Hz telemetry, against a floor.

A child `tpdevice sim` serves N guns; this process drives each one as a deliberately cheap
host (HELLO with a 1000 ms watchdog and 20 Hz telemetry, SET_OUTPUT and START, a HEARTBEAT
every 250 ms, telemetry counted and never decoded) and reads the child's user+system CPU
from /proc once a second. The floor is a child with the same links and byte traffic and no
firmware (tpdevice.cli.bench_sim_floor), measured the same way right after.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass
from typing import Any

from tpdevice.cli.bench_child import BenchError, python_module_argv
from tpdevice.cli.bench_fleet import FleetServer
from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.cli.bench_procstat import process_cpu_s
from tpdevice.cli.bench_sim_host import TELEMETRY_HZ, Host
from tpdevice.cli.bench_sim_report import Window, result, summarize
from tpdevice.cli.benchkit import emit
from tpdevice.cli.errors import CliError

__all__ = ["SimBenchSettings", "run"]

SIM_BENCH_TRANSPORTS = ("serial", "tcp")
MAX_DEVICES = 2000
WARM_UP_S = 1.0
SAMPLE_S = 1.0


@dataclass(frozen=True, slots=True)
class SimBenchSettings:
    """Validated `bench sim` options."""

    devices: int
    transport: str = "serial"
    seconds: float = 10.0
    loop: str = "auto"


def check_settings(settings: SimBenchSettings) -> None:
    """CliError naming the first bad option."""
    if settings.transport not in SIM_BENCH_TRANSPORTS:
        known = ", ".join(SIM_BENCH_TRANSPORTS)
        raise CliError(f"--transport: {settings.transport!r} is not one of {known}")
    if not 1 <= settings.devices <= MAX_DEVICES:
        raise CliError(f"--devices: {settings.devices} must lie in 1..{MAX_DEVICES}")
    if not (math.isfinite(settings.seconds) and 1 <= settings.seconds <= 600):
        raise CliError(f"--seconds: {settings.seconds:g} must lie in 1..600")


def _child_argv(settings: SimBenchSettings, floor: bool) -> list[str]:
    """The simulator, or the floor responder, serving `devices` links."""
    common = ("--transport", settings.transport, "--count", str(settings.devices))
    if floor:
        return python_module_argv("tpdevice.cli.bench_sim_floor", *common, "--loop", settings.loop)
    return python_module_argv("tpdevice", "sim", *common, "--loop", settings.loop)


async def _measure(settings: SimBenchSettings, floor: bool) -> Window:
    """Drive one child's links; its CPU and the telemetry received, sampled each second."""
    what = "floor responder" if floor else "simulator"
    server = FleetServer(_child_argv(settings, floor), f"{what} ({settings.devices} guns)",
                         settings.devices)  # fmt: skip
    async with server:
        pid = server.pid
        assert pid is not None
        host = Host(server.addresses)
        host.open()
        beating = asyncio.create_task(host.heartbeat())
        try:
            await asyncio.sleep(WARM_UP_S)
            return await _sample(host, pid, settings.seconds)
        finally:
            beating.cancel()
            host.close()


async def _sample(host: Host, pid: int, seconds: float) -> Window:
    """CPU seconds and telemetry frames of each SAMPLE_S slice of the window."""
    window = Window()
    start_s = time.monotonic()
    host_cpu0_s = time.process_time()
    mark = (start_s, process_cpu_s(pid), host.telemetry_frames)
    for index in range(1, math.ceil(seconds / SAMPLE_S) + 1):
        await asyncio.sleep(max(0.0, start_s + min(index * SAMPLE_S, seconds) - time.monotonic()))
        cpu_s = process_cpu_s(pid)
        if cpu_s is None or mark[1] is None:
            raise BenchError("bench sim: the child's CPU cannot be read from /proc")
        now = (time.monotonic(), cpu_s, host.telemetry_frames)
        window.add(now[0] - mark[0], now[1] - mark[1], now[2] - mark[2])
        mark = now
    window.host_cpu_s = time.process_time() - host_cpu0_s
    window.heartbeats_sent = host.heartbeats_sent
    window.write_stalls = host.write_stalls
    window.links_lost = host.links_lost
    return window


async def _measure_both(settings: SimBenchSettings) -> tuple[Window, Window]:
    """The simulator, then the floor, one after the other."""
    sim = await _measure(settings, floor=False)
    floor = await _measure(settings, floor=True)
    return sim, floor


def run(settings: SimBenchSettings) -> None:
    """Measure, print the summary on stderr, then the JSON line on stdout."""
    check_settings(settings)
    loop_name = resolve_loop_name(settings.loop)
    settings = SimBenchSettings(settings.devices, settings.transport, settings.seconds, loop_name)
    sim, floor = run_on_loop(_measure_both(settings), loop_name)
    final: dict[str, Any] = result(settings.devices, settings.transport, sim, floor)
    final["telemetry_hz_asked"] = TELEMETRY_HZ
    final["loop"] = loop_name
    final["load_avg_1m"] = round(os.getloadavg()[0], 2)
    summarize(final)
    emit(final)
