"""The firmware's inner machine: motor state, safety, program timing, device-originated frames."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable

from tpdevice.protocol import (
    NO_STEP,
    Fault,
    FaultCode,
    Feature,
    FrameFlag,
    Message,
    MotorState,
    ProgramPull,
    ProgramStep,
    ResultCode,
    SetOutput,
    StepEvent,
    Telemetry,
    encode_message,
)
from tpdevice_sim.config import FirmwareConfig
from tpdevice_sim.invariants import InvariantMonitor
from tpdevice_sim.physics import GunPhysics
from tpdevice_sim.program import (
    PULL_TIMEOUT_S,
    PendingPull,
    Program,
    ProgramRunner,
    ProgramUpload,
    StepChange,
)
from tpdevice_sim.reliable import RETRY_INTERVAL_S, ReliableOutbox
from tpdevice_sim.safety import FaultTable, ForceCapGuard, Watchdog
from tpdevice_sim.stepping import (
    ARMED,
    CONTACT_DEBOUNCE_S,
    CONTACT_HYSTERESIS_N,
    EPSILON_S,
    StepPlanner,
)
from tpdevice_sim.telemetry import encode_telemetry, pack_telemetry

__all__ = ["CONTACT_DEBOUNCE_S", "FirmwareCore"]

_LOGGER = logging.getLogger(__name__)

_DEVICE = FrameFlag.FROM_DEVICE
_DEVICE_FLAGS = int(_DEVICE)
_RETRANSMIT = FrameFlag.FROM_DEVICE | FrameFlag.RETRANSMIT
# A request steps physics first only if it lags by 1 ms or more (or the watchdog expired):
# requests arrive far more often than physics needs steps, so the command->ACK path stays short.
_REQUEST_LAG_S = 0.001
_MAX_FREQ_HZ, _MAX_FORCE_N, _MAX_TEMP_C = 655.35, 6553.5, 3276.7


def _device_ms(time_s: float) -> int:
    """Device time in ms since boot as the u32 on the wire (wraps after 49.7 days)."""
    return round(time_s * 1000.0) & 0xFFFF_FFFF


class FirmwareCore(StepPlanner):
    """Motor state, physics, safety guards, program timing and the frames the device originates."""

    def __init__(
        self,
        config: FirmwareConfig,
        physics: GunPhysics,
        monitor: InvariantMonitor | None = None,
        *,
        start_s: float = 0.0,
    ) -> None:
        self.config = config
        self.physics = physics
        self.monitor = monitor
        self.state = MotorState.IDLE
        self.output = SetOutput(0.0)
        self.faults = FaultTable()
        self.trips: Counter[FaultCode] = Counter()  # how often each fault stopped the motor
        self.watchdog = Watchdog(config.watchdog_default_ms, config.time_scale)
        self.telemetry_hz = 0
        self.hello_done = False  # on this connection
        self.session = 0  # bumped by each new connection and each HELLO
        self.owner: int | None = None  # the session whose START / run drives the motor
        self.program: Program | None = None
        self.upload: ProgramUpload | None = None
        self.runner: ProgramRunner | None = None
        self._outbox = ReliableOutbox(config.link_s(RETRY_INTERVAL_S))
        self._force_guard = ForceCapGuard()
        self._force_sensor = config.has(Feature.FORCE_SENSOR)
        self._senses_contact_cached = self._senses_contact()
        self._out: list[bytes] = []
        self._seq = 0
        self._active = self.output  # what the motor follows: manual output or the program step
        self._hand_n = 0.0
        self._contact = False  # as the program's hold timer sees it (debounced)
        self._contact_seen = False  # the reading before the debounce
        self._contact_seen_s = start_s  # when that reading began
        self._physics_s = start_s
        self._telemetry_due_s = math.inf
        self._telemetry_origin_s = start_s
        self._telemetry_sent = 0
        self._reading = physics.reading()
        self._quiet_until_s = -math.inf
        self._quiet_key = ()

    @property
    def unacked(self) -> int:
        """FAULT / STEP_EVENT frames still being retransmitted."""
        return len(self._outbox)

    def tick(self, now_s: float) -> list[bytes]:
        """Advance physics, safety and program to now_s; telemetry and retransmissions due."""
        self._catch_up(now_s)
        if now_s >= self._telemetry_due_s - EPSILON_S:
            self._seq = (self._seq + 1) & 0xFFFF
            self._out.append(self._telemetry_frame(now_s))
            self._telemetry_sent += 1
            self._telemetry_due_s = (
                self._telemetry_origin_s + (self._telemetry_sent + 1) / self.telemetry_hz
            )
            if self._telemetry_due_s <= now_s:  # fell behind: keep the pace, do not burst
                self._pace_telemetry(now_s)
        self._out.extend(self._outbox.due(now_s))
        self._repeat_pull(now_s)
        return self._drain()

    def next_deadline_s(self) -> float:
        """Device time by which `tick` should run next."""
        deadline_s = min(
            self._physics_s + self._step_limit_s(),
            self._telemetry_due_s,
            self._internal_deadline_s(),
        )
        retransmit_s = self._outbox.next_due_s()
        if retransmit_s is not None and retransmit_s < deadline_s:
            deadline_s = retransmit_s
        upload = self.upload
        pull = upload.pull if upload is not None else None
        if pull is not None and pull.due_s < deadline_s:
            deadline_s = pull.due_s
        return deadline_s

    def _pace_telemetry(self, origin_s: float) -> None:
        """Telemetry every 1/telemetry_hz from origin_s on, computed from the origin (no drift)."""
        self._telemetry_origin_s, self._telemetry_sent = origin_s, 0
        self._telemetry_due_s = origin_s + 1.0 / self.telemetry_hz

    def _pull(self, upload: ProgramUpload, now_s: float) -> None:
        """Ask for the next step (index == step_count: everything arrived)."""
        seq = self._emit(ProgramPull(upload.next_index))
        due_s = now_s + self.config.link_s(PULL_TIMEOUT_S)
        upload.pull = PendingPull(upload.next_index, seq, due_s)

    def _repeat_pull(self, now_s: float) -> None:
        """Repeat an unanswered pull with its sequence number; abandon the upload after 5."""
        upload = self.upload
        pull = upload.pull if upload is not None else None
        if pull is None or now_s < pull.due_s:
            return
        if pull.retries_left <= 0:
            _LOGGER.info("%s: upload abandoned at step %d", self.config.serial, pull.index)
            self.upload = None
            return
        pull.retries_left -= 1
        pull.due_s = now_s + self.config.link_s(PULL_TIMEOUT_S)
        self._out.append(encode_message(ProgramPull(pull.index), pull.seq, _RETRANSMIT))

    def _set_state(self, state: MotorState, now_s: float, why: str) -> None:
        """The one place the motor state changes; the motor follows it."""
        if state is self.state:
            return
        _LOGGER.debug(
            "%s: motor %s -> %s (%s)", self.config.serial, self.state.name, state.name, why
        )
        self.state = state
        self._apply_output(now_s)

    def _apply_output(self, now_s: float) -> None:
        """Point the motor at the active output (0 Hz unless running)."""
        step = self.runner.step if self.runner is not None else None
        self._active = self.output if step is None else _step_output(step)
        freq_hz = self._active.freq_hz if self.state is MotorState.RUNNING else 0.0
        motor, slew_hz_per_s = self.physics.motor, self.config.spec.slew_hz_per_s
        motor.target_freq_hz = freq_hz
        ramp = self._active.freq_ramp_hz_per_s
        motor.slew_hz_per_s = min(ramp, slew_hz_per_s) if ramp > 0.0 else slew_hz_per_s
        if freq_hz > 0.0 and self.monitor is not None:
            self.monitor.on_output(now_s, freq_hz)

    def _run_motor(self, now_s: float, why: str) -> None:
        """START / run: clear latched faults, arm the watchdog, drive the motor."""
        for code in self.faults.latched():
            self.faults.clear(code)
            self._emit_fault(code, False, now_s)
        self._feed(now_s)
        self.owner = self.session
        # No guard reset: a motor stopped and restarted at one instant never stopped pressing.
        self._set_state(MotorState.RUNNING, now_s, why)
        self._apply_output(now_s)

    def _stop_motor(self, now_s: float, why: str) -> None:
        """Abort a program and ramp down; a faulted or idle motor keeps its state."""
        self._abort_program(now_s)
        if self.state in ARMED:
            self._set_state(self._stopped_state(), now_s, why)

    def _stopped_state(self) -> MotorState:
        return MotorState.STOPPING if self.physics.motor.running else MotorState.IDLE

    def _abort_program(self, now_s: float) -> None:
        if self.runner is not None:
            self._report([self.runner.abort(now_s)], now_s)
            self.runner = None
            self._apply_output(now_s)

    def _start_refusal(self) -> ResultCode | None:
        """Why the motor may not start now, or None."""
        if self.physics.thermal.overheated:
            return ResultCode.OVERHEAT
        if self.physics.battery.low_battery:
            return ResultCode.LOW_BATTERY
        return None

    def _feed(self, now_s: float) -> None:
        """A fresh HEARTBEAT, START, run or resume (the monitor watches the inbound frames)."""
        self.watchdog.feed(now_s)

    def _senses_contact(self) -> bool:
        return self.config.has(Feature.FORCE_SENSOR) or self.config.has(Feature.CONTACT_SENSOR)

    def _catch_up_for_request(self, now_s: float, *, physics_free: bool = False) -> None:
        """Before a request: physics may lag under a millisecond, an expired watchdog may not.

        A physics_free request (a heartbeat, a host's ACK) changes nothing physics acts on, so
        physics may lag any time (the next tick catches up); an expired watchdog still trips.
        """
        lag_s = math.inf if physics_free else _REQUEST_LAG_S
        if now_s - self._physics_s >= lag_s or (
            self.state in ARMED and self.watchdog.expired(now_s)
        ):
            self._catch_up(now_s)

    def _step(self, dt_s: float, now_s: float) -> None:
        """One physics step, then the guards, the program timer and the invariant monitor."""
        active, physics = self._active, self.physics
        self._reading = physics.step(
            dt_s,
            target_n=self._hand_target_n(dt_s),
            tolerance_n=active.force_tolerance_n,
            cap_n=active.force_cap_n or self.config.spec.force_max_n,
        )
        self._check_safety(now_s)
        runner = self.runner
        if runner is not None and not runner.paused:
            self._advance_program(runner, dt_s, now_s)
        motor = physics.motor
        if self.state is MotorState.STOPPING and motor.freq_hz <= 0.0:
            self._set_state(MotorState.IDLE, now_s, "motor stopped")
        if self.monitor is not None:
            self.monitor.on_sample(
                now_s,
                dt_s,
                freq_hz=motor.freq_hz,
                driven=motor.target_freq_hz > 0.0,
                force_n=self._reading.force_n,
                force_cap_n=self._enforced_cap_n(),
            )

    def _hand_target_n(self, dt_s: float) -> float:
        """The simulated hand presses toward the band at the output's ramp, releases at once."""
        goal_n = self._active.force_target_n if self.state is MotorState.RUNNING else 0.0
        ramp = self._active.force_ramp_n_per_s
        if ramp <= 0.0 or goal_n <= self._hand_n:
            self._hand_n = goal_n
        else:
            self._hand_n = min(goal_n, self._hand_n + ramp * dt_s)
        return self._hand_n

    def _check_safety(self, now_s: float) -> None:
        """Watchdog, force cap, temperature and battery, in that order."""
        if self.state in ARMED and self.watchdog.expired(now_s):
            self._trip(FaultCode.WATCHDOG, now_s)
        cap_n = self._enforced_cap_n()
        driven = self.physics.motor.target_freq_hz > 0.0
        if cap_n is not None and self._force_guard.update(
            now_s, self._reading.force_n, cap_n, driven=driven
        ):
            self._trip(FaultCode.OVER_FORCE, now_s)
        reading = self._reading
        if reading.overheated or reading.low_battery or self.faults:  # else nothing to track
            self._track_condition(FaultCode.OVERHEAT, reading.overheated, now_s)
            self._track_condition(FaultCode.LOW_BATTERY, reading.low_battery, now_s)

    def _trip(self, code: FaultCode, now_s: float) -> None:
        """Stop the motor and any program, drop the setpoint, raise the fault, hold FAULTED."""
        _LOGGER.warning("%s: %s at %.3f s", self.config.serial, code.name.lower(), now_s)
        self.trips[code] += 1
        self._abort_program(now_s)
        self._force_guard.reset()
        self.output = SetOutput(0.0)  # a START after a fault needs a fresh SET_OUTPUT
        self.owner = None
        if self.faults.raise_fault(code):
            self._emit_fault(code, True, now_s)
        self._set_state(MotorState.FAULTED, now_s, code.name.lower())

    def _track_condition(self, code: FaultCode, present: bool, now_s: float) -> None:
        """Raise a condition fault when it appears; clear it (and FAULTED) when it ends."""
        if present and code not in self.faults:
            self._trip(code, now_s)
        elif not present and self.faults.clear(code):
            self._emit_fault(code, False, now_s)
            if self.state is MotorState.FAULTED and not self.faults:
                self._set_state(self._stopped_state(), now_s, f"{code.name.lower()} cleared")

    def _advance_program(self, runner: ProgramRunner, dt_s: float, now_s: float) -> None:
        self._contact = self._debounced_contact(runner.step, now_s)
        changes = runner.advance(dt_s, now_s, self._contact)
        if not changes:
            return
        self._report(changes, now_s)
        if runner.done:
            self.runner = None
            self._set_state(self._stopped_state(), now_s, "program done")
        self._apply_output(now_s)

    def _debounced_contact(self, step: ProgramStep, now_s: float) -> bool:
        """The reading once it has held for the debounce time; until then the last state."""
        reading = self._in_contact(step)
        if reading == self._contact:
            self._contact_seen = reading
            return reading
        if reading != self._contact_seen:
            self._contact_seen, self._contact_seen_s = reading, now_s
        if now_s - self._contact_seen_s >= CONTACT_DEBOUNCE_S - EPSILON_S:
            return reading
        return self._contact

    def _in_contact(self, step: ProgramStep) -> bool:
        """Head on the tissue: the step's force threshold (with hysteresis), or the sensor."""
        if not self._force_sensor:
            return self._reading.contact
        threshold_n = step.contact_threshold_n
        if self._contact:  # sensor noise must not flicker a hold on and off at the threshold
            threshold_n = max(threshold_n - CONTACT_HYSTERESIS_N, threshold_n / 2.0)
        return self._reading.force_n >= threshold_n

    def _telemetry_frame(self, now_s: float) -> bytes:
        """The TELEMETRY frame for now, packed from the reading (the hot path of every gun)."""
        reading, runner = self._reading, self.runner
        temp_c = reading.motor_temp_c
        frame = pack_telemetry(
            self._seq,
            _DEVICE_FLAGS,
            round(now_s * 1000.0) & 0xFFFF_FFFF,
            min(reading.freq_hz, _MAX_FREQ_HZ),
            min(reading.force_n, _MAX_FORCE_N) if self._force_sensor else 0.0,
            reading.contact and self._senses_contact_cached,
            round(reading.battery_pct),
            -_MAX_TEMP_C if temp_c < -_MAX_TEMP_C else min(temp_c, _MAX_TEMP_C),
            self.state,
            NO_STEP if runner is None else runner.index,
        )
        if frame is None:  # not finite: the checked path raises the field's error
            return encode_telemetry(self._telemetry(now_s), self._seq, _DEVICE)
        return frame

    def _telemetry(self, now_s: float) -> Telemetry:
        reading = self._reading
        force_n = reading.force_n if self._force_sensor else 0.0
        return Telemetry(
            device_time_ms=_device_ms(now_s),
            freq_hz=min(reading.freq_hz, _MAX_FREQ_HZ),
            force_n=min(force_n, _MAX_FORCE_N),
            contact=reading.contact and self._senses_contact(),
            battery_pct=round(reading.battery_pct),
            motor_temp_c=max(-_MAX_TEMP_C, min(reading.motor_temp_c, _MAX_TEMP_C)),
            state=self.state,
            step_index=self.runner.index if self.runner is not None else NO_STEP,
        )

    def _report(self, changes: Iterable[StepChange], now_s: float) -> None:
        for change in changes:
            event = StepEvent(_device_ms(change.time_s), change.index, change.kind)
            self._emit_reliable(event, now_s)

    def _emit_fault(self, code: FaultCode, active: bool, now_s: float) -> None:
        self._emit_reliable(Fault(_device_ms(now_s), code, active), now_s)

    def _emit(self, message: Message) -> int:
        """Queue a device-originated frame with the next device sequence number; return it."""
        self._seq = (self._seq + 1) & 0xFFFF
        self._out.append(encode_message(message, self._seq, _DEVICE))
        return self._seq

    def _emit_reliable(self, message: Message, now_s: float) -> None:
        """Queue a frame the host must ACK; it is repeated until it does."""
        seq = self._emit(message)
        self._outbox.track(seq, encode_message(message, seq, _RETRANSMIT), now_s)

    def _drain(self) -> list[bytes]:
        out, self._out = self._out, []
        return out


def _step_output(step: ProgramStep) -> SetOutput:
    """The output a program step asks for."""
    return SetOutput(
        step.freq_hz,
        step.force_target_n,
        step.force_tolerance_n,
        step.force_cap_n,
        step.force_ramp_n_per_s,
    )
