"""GunClient: what the session engine needs from one gun, whatever its driver; capabilities.

The core protocol every driver's client satisfies; optional capability protocols (program
upload, time sync) are reached through program_runner() / time_syncer(), chosen by the
feature flags the gun reports, so no driver implements a method only to refuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from tpdevice.device.feed import DeviceEvent
from tpdevice.device.heartbeat import Heartbeat
from tpdevice.device.state import ConnectionState, SetpointResult
from tpdevice.device.stream import LatestStream
from tpdevice.errors import TpDeviceError
from tpdevice.protocol import (
    Capabilities,
    Feature,
    ProgramAction,
    ProgramStep,
    StopReason,
    Telemetry,
)

__all__ = [
    "GunClient",
    "Identity",
    "ProgramRunner",
    "TelemetryPolling",
    "TimeSyncing",
    "program_runner",
    "time_syncer",
]

StateListener = Callable[[ConnectionState, ConnectionState], None]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a gun is: its driver, what it reported, and the device id sessions report."""

    device_id: str
    driver: str
    model: str
    serial: str
    firmware: str


class GunClient(Protocol):
    """Every driver's client satisfies this core (checked by mypy); features vary by gun.

    A gun without a feature reports it absent in `capabilities.features` (for example no
    FORCE_SENSOR, no PROGRAM); its optional protocols then come back None (program_runner()).
    """

    address: str
    heartbeat: Heartbeat

    @property
    def identity(self) -> Identity:
        """Driver, device id and, once connected, model, serial and firmware."""
        ...

    @property
    def last_error(self) -> TpDeviceError | None:
        """Why the last link was lost or could not be made."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters in one shape for every driver (see LinkSupervisor.stats)."""
        ...

    @property
    def state(self) -> ConnectionState:
        """What the client can do now."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What the device reported (or, for a dialect without a handshake, what is known)."""
        ...

    @property
    def motor_may_run(self) -> bool:
        """True from a START until an acknowledged STOP."""
        ...

    @property
    def last_telemetry(self) -> Telemetry | None:
        """The most recent telemetry, if any."""
        ...

    async def connect(self) -> Capabilities:
        """Connect now (unless connected); raise why it failed."""
        ...

    def connect_in_background(self) -> None:
        """Connect with backoff in the background until a link is up."""
        ...

    def subscribe_state(self, listener: StateListener) -> Callable[[], None]:
        """Call listener(old, new) on every state change; returns the unsubscribe function."""
        ...

    async def wait_for_state(self, *states: ConnectionState) -> ConnectionState:
        """Wait until the state is one of `states`."""
        ...

    async def set_output(
        self,
        freq_hz: float,
        *,
        force_target_n: float = 0.0,
        force_tolerance_n: float = 0.0,
        force_cap_n: float = 0.0,
        force_ramp_n_per_s: float = 0.0,
        freq_ramp_hz_per_s: float = 0.0,
    ) -> SetpointResult:
        """Send a setpoint (newest wins)."""
        ...

    async def start(self) -> None:
        """Run the motor at the current output."""
        ...

    async def stop(self, reason: StopReason = StopReason.USER) -> None:
        """Ramp the motor to zero."""
        ...

    def telemetry(self) -> LatestStream[Telemetry]:
        """A new async iterator of telemetry, one per consumer."""
        ...

    def events(self) -> LatestStream[DeviceEvent]:
        """A new async iterator of FAULT and STEP_EVENT, one per consumer."""
        ...

    async def close(self) -> None:
        """Stop the motor if it may run, then close the link."""
        ...


@runtime_checkable
class TelemetryPolling(Protocol):
    """A gun that reports its state only when asked (and sends no telemetry by itself)."""

    def poll_telemetry(self) -> bool:
        """Ask for one telemetry answer now; False when no link is up."""
        ...


@runtime_checkable
class ProgramRunner(Protocol):
    """A gun that runs uploaded programs itself (Feature.PROGRAM)."""

    async def upload_program(self, steps: Sequence[ProgramStep]) -> int:
        """Upload and commit a program; return its hash."""
        ...

    async def program_control(self, action: ProgramAction) -> None:
        """Run, pause, resume or abort the committed program."""
        ...


@runtime_checkable
class TimeSyncing(Protocol):
    """A gun whose clock can be read (Feature.TIME_SYNC)."""

    async def time_sync(self, now_s: Callable[[], float] | None = None) -> tuple[float, float]:
        """(offset_s, rtt_s) of the device clock against now_s()."""
        ...


def program_runner(client: GunClient) -> ProgramRunner | None:
    """The client's program upload and control if the gun offers PROGRAM, else None."""
    if client.capabilities.features & Feature.PROGRAM and isinstance(client, ProgramRunner):
        return client
    return None


def time_syncer(client: GunClient) -> TimeSyncing | None:
    """The client's time sync if the gun offers TIME_SYNC, else None."""
    if client.capabilities.features & Feature.TIME_SYNC and isinstance(client, TimeSyncing):
        return client
    return None
