"""Whether the motor may be running, from the commands sent and what the device reported."""

from __future__ import annotations

from tpdevice.device.connection import DeviceConnection
from tpdevice.device.errors import DeviceRejectedError
from tpdevice.device.request import OnResponse, PendingRequest
from tpdevice.protocol import Message, MotorState, msg_type_name

__all__ = ["MotorGuard"]

_RUNNING = frozenset({MotorState.RUNNING, MotorState.PAUSED})
_STOPPED = frozenset({MotorState.IDLE, MotorState.FAULTED})


class MotorGuard:
    """Sends the motor commands and keeps `may_run`, which decides the STOP on close.

    `may_run` is set BEFORE a START / PROGRAM_CONTROL run or resume is written, so a lost ACK,
    a cancelled caller or a reconnect still leave it set. It is cleared by an acknowledged
    STOP sent after the last run request, or by telemetry showing the motor stopped once every
    run request was answered. A halting command (STOP, pause, abort) first stops the
    retransmission of pending run requests: no copy of them reaches the device after it.
    """

    def __init__(self) -> None:
        self.may_run = False
        self._runs: list[PendingRequest] = []  # run requests not known to be answered
        self._runs_sent = 0
        self._halts_sent = 0

    def send_run(
        self, connection: DeviceConnection, message: Message, on_acked: OnResponse
    ) -> PendingRequest:
        """Send START / run / resume; `on_acked` runs at its ACK unless a halt was sent since."""
        self.may_run = True
        self._runs_sent += 1
        halts = self._halts_sent

        def acked(reply: Message) -> None:
            if self._halts_sent == halts:  # a STOP sent after this request wins
                on_acked(reply)

        pending = connection.send_request(message, on_response=acked)
        self._runs = [run for run in self._runs if not _answered(run)]
        self._runs.append(pending)
        return pending

    def send_halt(
        self,
        connection: DeviceConnection,
        message: Message,
        on_acked: OnResponse,
        *,
        stops_motor: bool,
        timeout_s: float | None = None,
        retries: int | None = None,
    ) -> PendingRequest:
        """Send STOP / pause / abort after stopping the retransmission of pending runs."""
        self._halts_sent += 1
        reason = f"{msg_type_name(message.TYPE)} sent after it"
        for run in self._runs:
            run.stop_retransmits(reason)
        runs = self._runs_sent

        def acked(reply: Message) -> None:
            if stops_motor and self._runs_sent == runs:
                self.may_run = False
                self._runs.clear()
            on_acked(reply)

        return connection.send_request(
            message, on_response=acked, timeout_s=timeout_s, retries=retries
        )

    def new_link(self) -> None:
        """A new link was handshaken: requests of the old one can no longer be answered."""
        self._runs = [run for run in self._runs if not run.future.done()]

    def observe(self, state: MotorState) -> None:
        """Telemetry: a running motor sets `may_run`; a stopped one clears it when it is safe."""
        if state in _RUNNING:
            self.may_run = True
        elif state in _STOPPED and self.may_run and self._runs_settled():
            self.may_run = False

    def _runs_settled(self) -> bool:
        """True when the device answered every run request (so telemetry is not older news)."""
        self._runs = [run for run in self._runs if not _answered(run)]
        return not self._runs


def _answered(run: PendingRequest) -> bool:
    """True if the device answered the request (ACK or NACK), not just a local give-up."""
    future = run.future
    if not future.done() or future.cancelled():
        return False
    error = future.exception()
    return error is None or isinstance(error, DeviceRejectedError)
