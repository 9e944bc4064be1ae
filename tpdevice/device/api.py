"""GunClient: what the session engine needs from one connected gun, whatever its driver."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from tpdevice.device.feed import DeviceEvent
from tpdevice.device.heartbeat import Heartbeat
from tpdevice.device.state import ConnectionState, SetpointResult
from tpdevice.device.stream import LatestStream
from tpdevice.protocol import (
    Capabilities,
    ProgramAction,
    ProgramStep,
    StopReason,
    Telemetry,
)

__all__ = ["GunClient", "TelemetryPolling"]

StateListener = Callable[[ConnectionState, ConnectionState], None]


class GunClient(Protocol):
    """The native DeviceClient and the Theragun client both satisfy this (checked by mypy).

    A driver without a feature reports it absent in `capabilities.features` (for example no
    FORCE_SENSOR, no PROGRAM) and raises DeviceUnsupportedError if the call is made anyway.
    """

    address: str
    heartbeat: Heartbeat

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

    async def upload_program(self, steps: Sequence[ProgramStep]) -> int:
        """Upload and commit a program; return its hash."""
        ...

    async def program_control(self, action: ProgramAction) -> None:
        """Run, pause, resume or abort the committed program."""
        ...

    async def time_sync(self, now_s: Callable[[], float] | None = None) -> tuple[float, float]:
        """(offset_s, rtt_s) of the device clock against now_s() (Feature.TIME_SYNC only)."""
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
