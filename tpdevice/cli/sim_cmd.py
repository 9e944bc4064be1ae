"""`tpdevice sim`: run simulated guns on ptys or TCP ports until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import math
import signal
import sys
from dataclasses import dataclass

from simulator.faults import FaultSpec, FaultSpecError, parse_fault_spec
from simulator.gun import SimulatorFleet
from simulator.gun import serve as serve_fleet
from simulator.physics import PRESETS, ContactScenario
from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.cli.errors import CliError
from tpdevice.errors import TpDeviceError

__all__ = ["SimError", "SimSettings", "parse_settings", "run"]

SIM_TRANSPORTS = ("serial", "tcp")


class SimError(TpDeviceError):
    """The simulator could not start (no pty, no port)."""


@dataclass(frozen=True, slots=True)
class SimSettings:
    """Validated `tpdevice sim` options."""

    transport: str
    count: int
    seed: int
    faults: FaultSpec
    time_scale: float
    model: str
    scenario: ContactScenario

    def describe(self) -> str:
        """One line saying what runs."""
        guns = f"{self.count} simulated gun{'s' if self.count != 1 else ''}"
        return (
            f"{guns} on {self.transport}: model {self.model}, seed {self.seed}, "
            f"faults {str(self.faults) or 'none'}, time scale {self.time_scale:g}x, "
            f"contact {self.scenario.value}"
        )


def _transport(transport: str) -> str:
    """The link kind, or CliError naming what is possible."""
    if transport in SIM_TRANSPORTS:
        return transport
    if transport == "loopback":
        raise CliError("--transport: loopback lives in one process; use the address `sim` instead")
    raise CliError(f"--transport: {transport!r} is not supported (one of serial, tcp)")


def parse_settings(
    transport: str,
    count: int,
    seed: int,
    faults: str,
    time_scale: float,
    model: str,
    scenario: str = ContactScenario.FOLLOW_BAND.value,
) -> SimSettings:
    """Check every option; CliError (one line, exit 2) names the first bad one."""
    try:
        fault_spec = parse_fault_spec(faults, source="--faults")
    except FaultSpecError as err:
        raise CliError(str(err)) from None
    if model not in PRESETS:
        raise CliError(f"--model: unknown gun model {model!r} (known: {', '.join(PRESETS)})")
    if not (math.isfinite(time_scale) and time_scale > 0.0):
        raise CliError(f"--time-scale: {time_scale:g} must be a number > 0")
    if scenario not in {s.value for s in ContactScenario}:
        known = ", ".join(s.value for s in ContactScenario)
        raise CliError(f"--scenario: unknown contact scenario {scenario!r} (known: {known})")
    return SimSettings(
        _transport(transport), count, seed, fault_spec, time_scale, model, ContactScenario(scenario)
    )


def _print_address(address: str) -> None:
    """One address per line, flushed at once: a parent process is reading."""
    sys.stdout.write(address + "\n")
    sys.stdout.flush()


async def serve(settings: SimSettings) -> None:
    """Start the fleet, print the addresses, wait for SIGINT/SIGTERM, stop cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    fleet = SimulatorFleet(
        settings.transport,
        settings.count,
        seed=settings.seed,
        faults=settings.faults,
        time_scale=settings.time_scale,
        model=settings.model,
        scenario=settings.scenario,
    )
    try:
        await serve_fleet(fleet, _print_address, stop)
    except OSError as err:
        raise SimError(f"simulator: cannot open a {settings.transport} link: {err}") from err
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def run(
    transport: str,
    count: int,
    seed: int,
    faults: str,
    time_scale: float,
    model: str,
    scenario: str = ContactScenario.FOLLOW_BAND.value,
    loop: str | None = None,
) -> None:
    """Validate the options, say what runs on stderr, serve until a stop signal."""
    settings = parse_settings(transport, count, seed, faults, time_scale, model, scenario)
    loop_name = resolve_loop_name(loop)
    sys.stderr.write(f"tpdevice sim: {settings.describe()}, {loop_name} loop; Ctrl-C stops\n")
    sys.stderr.flush()
    run_on_loop(serve(settings), loop_name)
