"""DeviceClient: one gun, connected: commands, telemetry, events (life cycle in the base)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from tpdevice.device.client_base import DeviceClientBase
from tpdevice.device.errors import DeviceError, DeviceRangeError
from tpdevice.device.feed import DeviceEvent, EventListener
from tpdevice.device.options import ClientOptions
from tpdevice.device.program import indexed_steps, upload_program
from tpdevice.device.state import ConnectionState, SetpointResult
from tpdevice.device.stream import LatestStream
from tpdevice.device.validate import check_feature, check_output, check_program
from tpdevice.protocol import (
    Feature,
    Message,
    MessageError,
    ProgramAction,
    ProgramControl,
    ProgramStep,
    SetOutput,
    Start,
    Stop,
    StopReason,
    Telemetry,
    TimeSync,
    TimeSyncReply,
)

__all__ = ["ClientOptions", "DeviceClient", "DeviceEvent", "EventListener"]


def _ignore(reply: Message) -> None:
    """A response hook with nothing to do."""


def _monotonic_us() -> int:
    """Host time for TIME_SYNC by default: time.monotonic in whole microseconds."""
    return time.monotonic_ns() // 1000


class DeviceClient(DeviceClientBase):
    """The front object for one device; build it with `open_client()` or connect() it."""

    # --- commands ----------------------------------------------------------------------

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
        """Send a setpoint (newest wins); DeviceRangeError without sending if out of range."""
        output = SetOutput(
            freq_hz, force_target_n, force_tolerance_n, force_cap_n, force_ramp_n_per_s,
            freq_ramp_hz_per_s,
        )  # fmt: skip
        check_output(self.address, self.capabilities, output)
        channel = self._setpoints
        if channel is None:
            raise self._not_connected()
        try:
            return await channel.submit(output)
        except MessageError as err:
            raise DeviceRangeError(f"{self.address}: {err}") from None

    async def start(self) -> None:
        """Run the motor at the current output (arms the watchdog; clears a stopped fault)."""
        connection = self._require_connection()
        await connection.wait(self._motor.send_run(connection, Start(), self._on_run_acked))

    async def stop(self, reason: StopReason = StopReason.USER) -> None:
        """Ramp the motor to zero (aborts a running program); pending STARTs are not resent."""
        connection = self._require_connection()
        pending = self._motor.send_halt(
            connection, Stop(reason), self._on_stop_acked, stops_motor=True
        )
        await connection.wait(pending)

    async def time_sync(self, now_s: Callable[[], float] | None = None) -> tuple[float, float]:
        """(offset_s, rtt_s): device clock minus host time (now_s(), default time.monotonic)."""
        check_feature(self.address, self.capabilities, Feature.TIME_SYNC, "time sync")
        host_us = _monotonic_us if now_s is None else (lambda: round(now_s() * 1e6))
        sent_us = host_us()
        if sent_us < 0:
            raise DeviceRangeError(f"{self.address}: time sync host clock {sent_us} us is < 0")
        # Never retransmitted: a replayed TIME_SYNC returns a stale clock (docs section 3).
        reply = await self._require_connection().request(TimeSync(sent_us), retries=0)
        received_us = host_us()
        if not isinstance(reply, TimeSyncReply):
            raise DeviceError(f"{self.address}: TIME_SYNC answered by {reply.TYPE.name}")
        midpoint_us = (reply.host_time_us + received_us) / 2
        return (reply.device_time_us - midpoint_us) / 1e6, (received_us - reply.host_time_us) / 1e6

    async def upload_program(self, steps: Sequence[ProgramStep]) -> int:
        """Upload and commit a flat program (indexes set by position); return its hash."""
        indexed = indexed_steps(steps)
        check_program(self.address, self.capabilities, indexed)
        connection = self._require_connection()
        return await upload_program(
            connection, indexed, pull_timeout_s=self.options.program_pull_timeout_s
        )

    async def program_control(self, action: ProgramAction) -> None:
        """Run, pause, resume or abort the committed program."""
        connection = self._require_connection()
        message = ProgramControl(action)
        motor = self._motor
        if action is ProgramAction.RUN:
            pending = motor.send_run(connection, message, self._on_run_acked)
        elif action is ProgramAction.RESUME:
            pending = motor.send_run(connection, message, _ignore)
        else:
            on_acked = self._on_stop_acked if action is ProgramAction.ABORT else _ignore
            pending = motor.send_halt(connection, message, on_acked, stops_motor=False)
        await connection.wait(pending)

    # --- telemetry and events ----------------------------------------------------------

    @property
    def last_telemetry(self) -> Telemetry | None:
        """The most recent TELEMETRY, if any arrived."""
        return self._feed.last_telemetry

    def telemetry(self) -> LatestStream[Telemetry]:
        """A new async iterator of TELEMETRY, one per consumer (newest kept); close() it."""
        return self._feed.telemetry()

    def events(self) -> LatestStream[DeviceEvent]:
        """A new async iterator of FAULT and STEP_EVENT (deduplicated), one per consumer."""
        return self._feed.events()

    def add_event_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call listener(event) for every FAULT and STEP_EVENT; returns the unsubscribe function."""
        return self._feed.add_event_listener(listener)

    def stats(self) -> dict[str, Any]:
        """Counters of the link, the decoder, heartbeats and setpoints, for logs and benches."""
        link: dict[str, Any] = {}
        if self._connection is not None:
            link["connection"] = self._connection.stats.as_dict()
            link["frames"] = self._connection.helper.stats.as_dict()
            link["decoder"] = self._connection.helper.decoder_stats()
        if self._setpoints is not None:
            link["setpoints_superseded"] = self._setpoints.superseded
        return self.link.stats(self.DRIVER, self.heartbeat, self._motor.may_run, link)

    # --- internals: response hooks (run in the data callback, in arrival order) ----------

    def _on_run_acked(self, reply: Message) -> None:
        """START / program run acknowledged: faults cleared, RUNNING, before later messages."""
        self._feed.faults_cleared()
        self._feed.set_linked_state(ConnectionState.RUNNING)
