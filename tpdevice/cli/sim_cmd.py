"""`tpdevice sim`: run simulated guns on ptys, TCP ports or BLE until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import importlib
import math
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.util import find_spec

from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.cli.errors import CliError
from tpdevice.errors import TpDeviceError
from tpdevice.install import install_command
from tpdevice.transport.ble_errors import HciOpenError, check_hci_spec, hci_open_error
from tpdevice.transport.registry import DriverSpec, registered
from tpdevice_sim.ble.spec import BUMBLE_HINT, SIM_MAX_GUNS, BleHciError, BleUnavailableError
from tpdevice_sim.faults import FaultSpec, FaultSpecError, parse_fault_spec
from tpdevice_sim.gun import SimulatorFleet
from tpdevice_sim.gun import serve as serve_fleet
from tpdevice_sim.physics import PRESETS, ContactScenario
from tpdevice_sim.record import fleet_record, report_violations

__all__ = ["SimError", "SimSettings", "parse_settings", "run"]

SIM_TRANSPORTS = ("serial", "tcp", "ble")
# A driver's simulated guns on BLE: (model, count, time_scale, hci, print_address, stop).
BleSimulator = Callable[
    [str, int, float, str | None, Callable[[str], None], asyncio.Event], Awaitable[None]
]


def driver_models() -> dict[str, tuple[DriverSpec, str]]:
    """`--model` names other drivers simulate on BLE -> (driver, the model it plays)."""
    return {
        name: (spec, played) for spec in registered() for name, played in spec.sim_models.items()
    }


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
    hci: str | None = None  # a real BLE controller (e.g. usb:0) instead of the virtual radio

    @property
    def driver_model(self) -> tuple[DriverSpec, str] | None:
        """(driver, the model it plays) for another driver's model, None for a native gun."""
        return driver_models().get(self.model)

    def describe(self) -> str:
        """One line saying what runs."""
        guns = f"{self.count} simulated gun{'s' if self.count != 1 else ''}"
        where = f"{self.transport} (HCI {self.hci})" if self.hci else self.transport
        if self.driver_model is not None:
            return f"{guns} on {where}: model {self.model}, time scale {self.time_scale:g}x"
        return (
            f"{guns} on {where}: model {self.model}, seed {self.seed}, "
            f"faults {str(self.faults) or 'none'}, time scale {self.time_scale:g}x, "
            f"contact {self.scenario.value}"
        )


def _transport(transport: str) -> str:
    """The link kind, or CliError naming what is possible."""
    if transport in SIM_TRANSPORTS:
        return transport
    if transport == "loopback":
        raise CliError("--transport: loopback lives in one process; use the address `sim` instead")
    raise CliError(f"--transport: {transport!r} is not supported (one of serial, tcp, ble)")


def _check_ble(settings: SimSettings) -> SimSettings:
    """Options that only make sense together: --hci and other drivers' models need BLE."""
    if settings.hci is not None and settings.transport != "ble":
        raise CliError("--hci: a BLE controller needs --transport ble")
    if settings.transport == "ble" and settings.count > SIM_MAX_GUNS:
        raise CliError(f"--count: at most {SIM_MAX_GUNS} guns fit on the BLE radio")
    if settings.hci is not None and settings.count != 1:
        raise CliError(f"--hci: a real controller serves one gun, not --count {settings.count}")
    if settings.driver_model is not None:
        if settings.transport != "ble":
            raise CliError(
                f"--model: {settings.model} is reachable over BLE only (--transport ble)"
            )
        if settings.faults.active:
            raise CliError(f"--faults: not supported for {settings.model}")
    return settings


def parse_settings(
    transport: str,
    count: int,
    seed: int,
    faults: str,
    time_scale: float,
    model: str,
    scenario: str = ContactScenario.FOLLOW_BAND.value,
    hci: str | None = None,
) -> SimSettings:
    """Check every option; CliError (one line, exit 2) names the first bad one."""
    try:
        fault_spec = parse_fault_spec(faults, source="--faults")
    except FaultSpecError as err:
        raise CliError(str(err)) from None
    if model not in PRESETS and model not in driver_models():
        known = ", ".join([*PRESETS, *driver_models()])
        raise CliError(f"--model: unknown gun model {model!r} (known: {known})")
    if not (math.isfinite(time_scale) and time_scale > 0.0):
        raise CliError(f"--time-scale: {time_scale:g} must be a number > 0")
    if scenario not in {s.value for s in ContactScenario}:
        known = ", ".join(s.value for s in ContactScenario)
        raise CliError(f"--scenario: unknown contact scenario {scenario!r} (known: {known})")
    settings = SimSettings(
        _transport(transport),
        count,
        seed,
        fault_spec,
        time_scale,
        model,
        ContactScenario(scenario),
        hci or None,
    )
    return _check_ble(settings)


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
    try:
        if settings.hci is not None:
            check_hci_spec(settings.hci)  # before bumble: some bad specs abort uvloop
        if settings.driver_model is not None:
            await _serve_driver_model(settings, *settings.driver_model, stop)
        else:
            await _serve_native(settings, stop)
    except HciOpenError as err:
        raise SimError(f"simulator: {err}") from err
    except BleHciError as err:
        raise SimError(f"simulator: {_hci_text(settings, err)}") from err
    except BleUnavailableError as err:
        text = bumble_hint() if str(err) == BUMBLE_HINT else str(err)
        raise SimError(f"simulator: {text}") from err
    except OSError as err:
        where = f"HCI {settings.hci}" if settings.hci else f"a {settings.transport} link"
        raise SimError(f"simulator: cannot open {where}: {err}") from err
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def _print_line(line: str) -> None:
    """One line on stderr, flushed at once: it is said whatever the verbosity."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def _serve_native(settings: SimSettings, stop: asyncio.Event) -> None:
    """Native guns until stop is set; violations said as they happen, the record at the end."""
    fleet = _native_fleet(settings)
    report_violations(fleet, _print_line)
    served: list[str] = []

    def print_address(address: str) -> None:
        served.append(address)
        _print_address(address)

    try:
        await serve_fleet(fleet, print_address, stop)
    finally:
        if served:  # a fleet that never started has nothing to report
            _print_line(str(fleet_record(fleet)))


def _hci_text(settings: SimSettings, err: BleHciError) -> str:
    """The controller's failure in the client's words (what failed, what to do)."""
    cause = err.__cause__
    if settings.hci is None or not isinstance(cause, Exception):
        return str(err)
    return str(hci_open_error(settings.hci, cause))


def _native_fleet(settings: SimSettings) -> SimulatorFleet:
    """Native guns on any transport (on ble, peripherals of one virtual radio or --hci)."""
    return SimulatorFleet(
        settings.transport,
        settings.count,
        seed=settings.seed,
        faults=settings.faults,
        time_scale=settings.time_scale,
        model=settings.model,
        scenario=settings.scenario,
        ble_hci=settings.hci,
    )


async def _serve_driver_model(
    settings: SimSettings, spec: DriverSpec, played: str, stop: asyncio.Event
) -> None:
    """Another driver's simulated guns on BLE until stop is set."""
    module_name, _, attribute = (spec.ble_simulator or "").partition(":")
    try:
        serve_ble: BleSimulator = getattr(importlib.import_module(module_name), attribute)
    except ImportError:  # the driver's BLE simulator needs bumble
        raise BleUnavailableError(bumble_hint()) from None
    await serve_ble(played, settings.count, settings.time_scale, settings.hci, _print_address, stop)


def bumble_hint() -> str:
    """What the BLE simulator needs, with the install command for how tpdevice was installed."""
    return f"BLE simulation needs bumble: {install_command('ble-sim')}"


def run(
    transport: str,
    count: int,
    seed: int,
    faults: str,
    time_scale: float,
    model: str,
    scenario: str = ContactScenario.FOLLOW_BAND.value,
    loop: str | None = None,
    hci: str | None = None,
) -> None:
    """Validate the options, say what runs on stderr, serve until a stop signal."""
    settings = parse_settings(transport, count, seed, faults, time_scale, model, scenario, hci)
    if settings.transport == "ble" and find_spec("bumble") is None:  # before saying what runs
        raise SimError(f"simulator: {bumble_hint()}")
    loop_name = resolve_loop_name(loop)
    sys.stderr.write(f"tpdevice sim: {settings.describe()}, {loop_name} loop; Ctrl-C stops\n")
    sys.stderr.flush()
    run_on_loop(serve(settings), loop_name)
