"""What a simulator run did, per gun and in one line: faults injected, trips, violations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tpdevice.protocol import FaultCode
from tpdevice_sim.gun import SimulatedGun, SimulatorFleet
from tpdevice_sim.invariants import Violation

__all__ = ["FleetRecord", "GunRecord", "fleet_record", "report_violations"]

_INJECTED = ("drop", "corrupt", "dup", "disconnect")


def _counted(count: int, noun: str) -> str:
    """'1 watchdog trip', '2 watchdog trips'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class GunRecord:
    """One gun's run: link faults injected (both directions), watchdog trips, violations."""

    serial: str
    faults_injected: int
    watchdog_trips: int
    violations: int

    @classmethod
    def of(cls, gun: SimulatedGun) -> GunRecord:
        """The gun's counts so far."""
        link = gun.link
        injected = sum(
            injector.counts[kind]
            for injector in (link.rx_faults, link.tx_faults)
            for kind in _INJECTED
        )
        trips = gun.firmware.trips[FaultCode.WATCHDOG]
        return cls(gun.config.serial, injected, trips, len(gun.violations))


@dataclass(frozen=True, slots=True)
class FleetRecord:
    """Every gun's record; str() is the one-line total the simulator prints when it exits."""

    guns: tuple[GunRecord, ...]

    @property
    def faults_injected(self) -> int:
        """Link faults injected on every gun's link, both directions."""
        return sum(gun.faults_injected for gun in self.guns)

    @property
    def watchdog_trips(self) -> int:
        """Times a watchdog stopped a motor, on every gun."""
        return sum(gun.watchdog_trips for gun in self.guns)

    @property
    def violations(self) -> int:
        """Invariant violations on every gun."""
        return sum(gun.violations for gun in self.guns)

    def __str__(self) -> str:
        return (
            f"sim: {_counted(len(self.guns), 'gun')}, "
            f"{self.faults_injected} fault{'' if self.faults_injected == 1 else 's'} injected, "
            f"{_counted(self.watchdog_trips, 'watchdog trip')}, "
            f"{_counted(self.violations, 'violation')}"
        )


def fleet_record(fleet: SimulatorFleet) -> FleetRecord:
    """The fleet's counts so far."""
    return FleetRecord(tuple(GunRecord.of(gun) for gun in fleet.guns))


def report_violations(fleet: SimulatorFleet, write_line: Callable[[str], None]) -> None:
    """Have every gun's monitor write one line per violation as it is recorded."""
    for gun in fleet.guns:
        gun.monitor.on_violation = _line_writer(gun.config.serial, write_line)


def _line_writer(serial: str, write_line: Callable[[str], None]) -> Callable[[Violation], None]:
    def write(violation: Violation) -> None:
        write_line(f"sim: {serial}: invariant violated at {violation}")

    return write
