"""The gun firmware as a pure state machine: frames in, raw frames out; no I/O, no asyncio."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tpdevice.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Capabilities,
    FaultCode,
    Feature,
    Frame,
    FrameFlag,
    Heartbeat,
    Hello,
    HoldPolicy,
    Message,
    MessageError,
    MotorState,
    MsgType,
    ProgramAction,
    ProgramBegin,
    ProgramCommit,
    ProgramControl,
    ProgramStep,
    ResultCode,
    SetOutput,
    Stop,
    TimeSync,
    TimeSyncReply,
    decode_message,
    msg_type_name,
)
from tpdevice_sim.config import FirmwareConfig
from tpdevice_sim.core import FirmwareCore
from tpdevice_sim.invariants import InvariantMonitor
from tpdevice_sim.physics import GunPhysics
from tpdevice_sim.program import (
    ProgramRunner,
    ProgramUpload,
)
from tpdevice_sim.reliable import DedupWindow, seq_behind
from tpdevice_sim.telemetry import encode_response

__all__ = ["Firmware"]

_LOGGER = logging.getLogger(__name__)
_RESPONSE = int(FrameFlag.RESPONSE)  # plain ints: IntFlag arithmetic is slow per frame
_FROM_DEVICE = int(FrameFlag.FROM_DEVICE)
_HEARTBEAT = int(MsgType.HEARTBEAT)

Handler = Callable[[Any, Frame, float], Message]

_EPSILON = 1e-9  # wire values are exact in 0.01 Hz / 0.1 N; absorb float noise only
_RUN_ACTIONS = frozenset({ProgramAction.RUN, ProgramAction.RESUME})
_STOP_ACTIONS = frozenset({ProgramAction.PAUSE, ProgramAction.ABORT})


def _ack(frame: Frame, result: ResultCode = ResultCode.OK) -> Ack:
    return Ack(frame.msg_type, result)


class Firmware(FirmwareCore):
    """One gun's protocol handler: `handle_frame` answers the host, `tick` runs time forward."""

    def __init__(
        self,
        config: FirmwareConfig,
        physics: GunPhysics,
        monitor: InvariantMonitor | None = None,
        *,
        start_s: float = 0.0,
    ) -> None:
        super().__init__(config, physics, monitor, start_s=start_s)
        self._window = DedupWindow()
        self._setpoint_seq: int | None = None  # the newest SET_OUTPUT applied
        self._stop_seq: int | None = None  # the newest STOP / abort / pause applied
        self._handlers = self._build_handlers()

    def handle_frame(self, frame: Frame, now_s: float) -> list[bytes]:
        """Handle one valid frame from the host at device time now_s; return raw frames to send."""
        physics_free = frame.msg_type == _HEARTBEAT or bool(frame.flags & _RESPONSE)
        self._catch_up_for_request(now_s, physics_free=physics_free)
        if frame.flags & _RESPONSE:
            self._on_host_response(frame)
            return self._drain()
        hello = frame.msg_type == MsgType.HELLO  # always handled, never from the window
        stored = None if hello else self._window.get(frame)
        if stored is not None:
            _LOGGER.debug("seq %d answered from the window, not acted on", frame.seq)
            return [*self._drain(), stored]
        before = self._drain()
        response = encode_response(self._handle_request(frame, now_s), frame.seq)
        if not hello:
            self._window.store(frame, response)
        if self.monitor is not None:
            self.monitor.on_request(frame, now_s)
        return [*before, response, *self._drain()]

    def new_connection(self, now_s: float) -> list[bytes]:
        """A new host connection began: it must HELLO first, and the last one's run stops."""
        self._catch_up_for_request(now_s)
        self._stop_for_new_host(now_s)
        self.hello_done = False
        self.session += 1
        return self._drain()

    def _stop_for_new_host(self, now_s: float) -> None:
        """A motor runs only for the host that started it: a new host stops it (new_host)."""
        if self.runner is not None or self.state in (MotorState.RUNNING, MotorState.PAUSED):
            self._trip(FaultCode.NEW_HOST, now_s)

    def _build_handlers(self) -> dict[int, Handler]:
        """The requests this build understands; the others are `unsupported`."""
        handlers: dict[int, Handler] = {
            MsgType.HELLO: self._on_hello,
            MsgType.HEARTBEAT: self._on_heartbeat,
            MsgType.SET_OUTPUT: self._on_set_output,
            MsgType.START: self._on_start,
            MsgType.STOP: self._on_stop,
        }
        if self.config.has(Feature.TIME_SYNC):
            handlers[MsgType.TIME_SYNC] = self._on_time_sync
        if self.config.has(Feature.PROGRAM):
            handlers[MsgType.PROGRAM_BEGIN] = self._on_program_begin
            handlers[MsgType.PROGRAM_STEP] = self._on_program_step
            handlers[MsgType.PROGRAM_COMMIT] = self._on_program_commit
            handlers[MsgType.PROGRAM_CONTROL] = self._on_program_control
        return handlers

    def _handle_request(self, frame: Frame, now_s: float) -> Message:
        """Check the request is known, allowed and decodable, then act on it once."""
        handler = self._handlers.get(frame.msg_type)
        if handler is None:
            return _ack(frame, ResultCode.UNSUPPORTED)
        if not self.hello_done and frame.msg_type != MsgType.HELLO:
            return _ack(frame, ResultCode.BAD_STATE)
        try:
            message = decode_message(frame)
        except MessageError as err:
            _LOGGER.debug("malformed request seq %d: %s", frame.seq, err)
            return _ack(frame, ResultCode.MALFORMED)
        return handler(message, frame, now_s)

    def _on_host_response(self, frame: Frame) -> None:
        """The host acknowledged a FAULT or STEP_EVENT (by the device's sequence number)."""
        if frame.msg_type == MsgType.ACK and frame.flags & _FROM_DEVICE:
            self._outbox.ack(frame.seq)

    def _on_hello(self, hello: Hello, frame: Frame, now_s: float) -> Message:
        """Open a session: stop what runs, forget the last host, grant watchdog and telemetry."""
        self._stop_for_new_host(now_s)
        self.session += 1
        self._forget_host(now_s)
        self.hello_done = True
        self.watchdog.timeout_ms = self.config.grant_watchdog_ms(hello.watchdog_ms)
        self.telemetry_hz = self.config.grant_telemetry_hz(hello.telemetry_hz)
        self._pace_telemetry(now_s - self.config.telemetry_phase / self.telemetry_hz)
        _LOGGER.info(
            "%s: hello, watchdog %d ms, telemetry %d Hz",
            self.config.serial,
            self.watchdog.timeout_ms,
            self.telemetry_hz,
        )
        return self._capabilities()

    def _forget_host(self, now_s: float) -> None:
        """Clear the window, both orders, an open upload and the setpoint (nothing runs now)."""
        self._window.clear()
        self._setpoint_seq = self._stop_seq = None
        self.upload = None  # the last host's upload: its pulls would go to the new one
        self.output = SetOutput(0.0)
        self._apply_output(now_s)

    def _capabilities(self) -> Capabilities:
        config, spec = self.config, self.config.spec
        return Capabilities(
            protocol_version=PROTOCOL_VERSION,
            features=int(config.features),
            freq_min_hz=spec.freq_min_hz,
            freq_max_hz=spec.freq_max_hz,
            force_max_n=spec.force_max_n,
            telemetry_hz=self.telemetry_hz,
            telemetry_max_hz=config.telemetry_max_hz,
            max_program_steps=config.max_program_steps,
            watchdog_ms=self.watchdog.timeout_ms,
            watchdog_min_ms=config.watchdog_min_ms,
            watchdog_max_ms=config.watchdog_max_ms,
            model=spec.model,
            serial=config.serial,
            firmware=config.firmware_version,
        )

    def _on_heartbeat(self, heartbeat: Heartbeat, frame: Frame, now_s: float) -> Message:
        """Feed the watchdog of a motor this session started; any other heartbeat is only ok."""
        if self.owner == self.session:
            self._feed(now_s)
        return _ack(frame)

    def _on_time_sync(self, sync: TimeSync, frame: Frame, now_s: float) -> Message:
        return TimeSyncReply(sync.host_time_us, round(now_s * 1e6))

    def _on_set_output(self, output: SetOutput, frame: Frame, now_s: float) -> Message:
        """Apply a setpoint unless out of range, a program runs, or a newer one was applied."""
        if self.runner is not None:
            return _ack(frame, ResultCode.BAD_STATE)
        if not self._output_in_range(output):
            return _ack(frame, ResultCode.OUT_OF_RANGE)
        if self._setpoint_seq is not None and seq_behind(frame.seq, self._setpoint_seq):
            _LOGGER.debug("stale setpoint %d dropped (newest %d)", frame.seq, self._setpoint_seq)
            return _ack(frame)
        self._setpoint_seq = frame.seq
        self.output = output
        self._apply_output(now_s)
        return _ack(frame)

    def _on_start(self, message: Message, frame: Frame, now_s: float) -> Message:
        """Run the motor at the current output and arm the watchdog; clears latched faults."""
        if self._stale_start(frame):
            return _ack(frame)
        if self.runner is not None:  # a program drives the motor; pause is left by `resume`
            return _ack(frame, ResultCode.BAD_STATE if self.runner.paused else ResultCode.OK)
        if self.state is MotorState.RUNNING:
            return _ack(frame)
        refusal = self._start_refusal()
        if refusal is not None:
            return _ack(frame, refusal)
        if self.output.freq_hz <= 0.0:  # nothing to run: after a fault, SET_OUTPUT comes first
            return _ack(frame, ResultCode.BAD_STATE)
        self._run_motor(now_s, "start")
        return _ack(frame)

    def _on_stop(self, stop: Stop, frame: Frame, now_s: float) -> Message:
        """Ramp to zero and abort a program; always ok (even late), and a fault stays latched."""
        _LOGGER.info("%s: stop (%s)", self.config.serial, stop.reason.name.lower())
        self._note_stop(frame)
        self._stop_motor(now_s, "stop")
        return _ack(frame)

    def _stale_start(self, frame: Frame) -> bool:
        """A START / run / resume sent before the newest applied stop: it must not undo it."""
        if self._stop_seq is None or not seq_behind(frame.seq, self._stop_seq):
            return False
        name = msg_type_name(frame.msg_type)
        _LOGGER.debug("stale %s %d ignored (stop %d)", name, frame.seq, self._stop_seq)
        return True

    def _note_stop(self, frame: Frame) -> None:
        """Remember the newest applied stop; a late, older one stops too but moves nothing."""
        if self._stop_seq is None or not seq_behind(frame.seq, self._stop_seq):
            self._stop_seq = frame.seq

    def _on_program_begin(self, begin: ProgramBegin, frame: Frame, now_s: float) -> Message:
        """Empty the staging buffer and pull step 0 (the committed program stays)."""
        if not 1 <= begin.step_count <= self.config.max_program_steps:
            return _ack(frame, ResultCode.OUT_OF_RANGE)
        self.upload = ProgramUpload(begin.step_count, begin.program_hash)
        self._pull(self.upload, now_s)
        return _ack(frame)

    def _on_program_step(self, step: ProgramStep, frame: Frame, now_s: float) -> Message:
        """Stage the pulled step if its values are in range, then pull the next one."""
        upload = self.upload
        if upload is None or upload.complete or step.index != upload.next_index:
            return _ack(frame, ResultCode.BAD_STATE)
        if not self._step_in_range(step):
            return _ack(frame, ResultCode.OUT_OF_RANGE)
        if step.hold_policy is HoldPolicy.CONTACT and not self._senses_contact():
            return _ack(frame, ResultCode.UNSUPPORTED)
        result = upload.add(step, frame.payload)
        if result is ResultCode.OK:
            self._pull(upload, now_s)
        return _ack(frame, result)

    def _on_program_commit(self, commit: ProgramCommit, frame: Frame, now_s: float) -> Message:
        """Swap in the staged program atomically if the hashes match; `crc` discards it."""
        upload = self.upload
        if upload is None or not upload.complete or self.runner is not None:
            return _ack(frame, ResultCode.BAD_STATE)
        self.upload = None
        program = upload.commit(commit.program_hash)
        if program is None:
            return _ack(frame, ResultCode.CRC)
        self.program = program
        _LOGGER.info("%s: program of %d steps committed", self.config.serial, len(program.steps))
        return _ack(frame)

    def _on_program_control(self, control: ProgramControl, frame: Frame, now_s: float) -> Message:
        """run / pause / resume / abort; a run or resume older than the newest stop is stale."""
        action = control.action
        if action in _RUN_ACTIONS and self._stale_start(frame):
            return _ack(frame)
        actions = {
            ProgramAction.RUN: self._program_run,
            ProgramAction.PAUSE: self._program_pause,
            ProgramAction.RESUME: self._program_resume,
            ProgramAction.ABORT: self._program_abort,
        }
        result = actions[action](now_s)
        if action in _STOP_ACTIONS and result is ResultCode.OK:
            self._note_stop(frame)
        return _ack(frame, result)

    def _program_run(self, now_s: float) -> ResultCode:
        """Start the committed program from its first step; arms the watchdog."""
        if self.program is None or self.runner is not None:
            return ResultCode.BAD_STATE
        refusal = self._start_refusal()
        if refusal is not None:
            return refusal
        self.runner = ProgramRunner(self.program)
        self._report(self.runner.start(now_s), now_s)
        self._run_motor(now_s, "program run")
        return ResultCode.OK

    def _program_pause(self, now_s: float) -> ResultCode:
        """Stop the motor and freeze the step timers."""
        runner = self.runner
        if runner is None or runner.paused:
            return ResultCode.BAD_STATE
        self._report([runner.pause(now_s)], now_s)
        self._set_state(MotorState.PAUSED, now_s, "program paused")
        return ResultCode.OK

    def _program_resume(self, now_s: float) -> ResultCode:
        """Restart the motor and the timers; like START, it feeds the watchdog."""
        runner = self.runner
        if runner is None or not runner.paused:
            return ResultCode.BAD_STATE
        self._report([runner.resume(now_s)], now_s)
        self._feed(now_s)
        self.owner = self.session
        self._set_state(MotorState.RUNNING, now_s, "program resumed")
        return ResultCode.OK

    def _program_abort(self, now_s: float) -> ResultCode:
        """Abort a running program (ok if none runs, like STOP)."""
        self._stop_motor(now_s, "program abort")
        return ResultCode.OK

    def _output_in_range(self, output: SetOutput | ProgramStep) -> bool:
        """A rate of 0 or in the model's range; target, tolerance and cap within its maximum,
        and the target not above the cap (0 = the maximum)."""
        spec = self.config.spec
        freq_hz = output.freq_hz
        freq_ok = freq_hz == 0.0 or (
            spec.freq_min_hz - _EPSILON <= freq_hz <= spec.freq_max_hz + _EPSILON
        )
        force_max_n = spec.force_max_n + _EPSILON
        cap_n = output.force_cap_n or force_max_n
        return (
            freq_ok
            and output.force_cap_n <= force_max_n
            and output.force_tolerance_n <= force_max_n
            and output.force_target_n <= cap_n + _EPSILON
        )

    def _step_in_range(self, step: ProgramStep) -> bool:
        """A step's output in range, a duration of at least 1 ms, a reachable contact threshold."""
        force_max_n = self.config.spec.force_max_n + _EPSILON
        return (
            self._output_in_range(step)
            and step.duration_ms >= 1
            and step.contact_threshold_n <= force_max_n
        )
