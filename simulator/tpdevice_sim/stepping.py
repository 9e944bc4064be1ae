"""Event-driven physics stepping: how far physics may step before anything can change."""

from __future__ import annotations

import math

from tpdevice.protocol import HoldPolicy, MotorState, SetOutput
from tpdevice_sim.config import FirmwareConfig
from tpdevice_sim.physics import GunPhysics
from tpdevice_sim.program import ProgramRunner
from tpdevice_sim.safety import ForceCapGuard, Watchdog

__all__ = [
    "ARMED",
    "BUSY",
    "CONTACT_DEBOUNCE_S",
    "CONTACT_HYSTERESIS_N",
    "EPSILON_S",
    "StepPlanner",
]

ARMED = frozenset({MotorState.RUNNING, MotorState.PAUSED})  # the watchdog guards these
BUSY = frozenset({MotorState.RUNNING, MotorState.STOPPING, MotorState.PAUSED})
CONTACT_HYSTERESIS_N = 1.0
# A contact change counts once it has held this long: noise must not flicker a hold.
CONTACT_DEBOUNCE_S = 0.1
EPSILON_S = 1e-6


class StepPlanner:
    """Physics catch-up in spans that end where a guard, timer, threshold or telemetry may act.

    The firmware core fills these fields; `_step` runs one physics step and its checks.
    """

    config: FirmwareConfig
    physics: GunPhysics
    state: MotorState
    runner: ProgramRunner | None
    watchdog: Watchdog
    telemetry_hz: int
    _active: SetOutput
    _force_guard: ForceCapGuard
    _force_sensor: bool  # config.has(Feature.FORCE_SENSOR), asked several times per step
    _hand_n: float
    _contact: bool
    _contact_seen: bool
    _contact_seen_s: float
    _physics_s: float
    _telemetry_due_s: float
    _telemetry_origin_s: float
    _telemetry_sent: int
    _quiet_until_s: float  # the force cannot reach a watched threshold before
    _quiet_key: tuple[object, ...]  # ... while these stay the same

    def _step(self, dt_s: float, now_s: float) -> None:
        """One physics step to now_s, then the guards and timers (the core implements it)."""
        raise NotImplementedError

    def _catch_up(self, now_s: float) -> None:
        """Step physics to now_s in bounded steps, splitting at watchdog/cap/step deadlines."""
        while self._physics_s < now_s:
            end_s = self._physics_s + self._step_limit_s()
            if self._overruns_quiet_span(end_s, now_s):
                end_s = now_s  # one step, not a second one for the timer's lateness
            time_s = min(now_s, end_s, self._internal_deadline_s())
            dt_s, self._physics_s = time_s - self._physics_s, time_s
            self._step(dt_s, time_s)

    def _overruns_quiet_span(self, end_s: float, now_s: float) -> bool:
        """True if a step to end_s ends a quiet span only a timer's lateness before now_s.

        Spans end on a telemetry instant and the timer wakes a little after it; the span's
        threshold check covered this overrun (not for a ramp down: IDLE comes on time).
        """
        span_end_s = self._quiet_until_s
        return (
            span_end_s - EPSILON_S <= end_s < now_s <= span_end_s + self._span_overrun_s()
            and self.state is not MotorState.STOPPING
        )

    def _span_overrun_s(self) -> float:
        """How far past its end a quiet span may be stepped: half a fine tick."""
        return self.config.tick_s / 2.0

    def _step_limit_s(self) -> float:
        """Longest physics step from now: tick_s while the force may cross a watched threshold."""
        motor = self.physics.motor
        if not (self.state in BUSY or motor.running):
            return self.config.idle_step_s
        key = self._quiet_plan_key()
        if self._physics_s < self._quiet_until_s and key == self._quiet_key:
            return self._quiet_until_s - self._physics_s
        step_s = self.config.busy_step_s
        if self._threshold_in_reach(step_s + self._span_overrun_s()):
            self._quiet_until_s = -math.inf
            return self.config.tick_s
        if self.state is MotorState.STOPPING:  # go IDLE when the ramp down ends, not a step later
            step_s = min(step_s, motor.freq_hz / motor.slew_down_hz_per_s + EPSILON_S)
        until_s = self._last_telemetry_by_s(self._physics_s + step_s)
        self._quiet_until_s, self._quiet_key = until_s, key
        return until_s - self._physics_s

    def _last_telemetry_by_s(self, end_s: float) -> float:
        """The last telemetry instant in (physics time, end_s], else end_s: spans end on a tick."""
        due_s = self._telemetry_due_s
        if not self._physics_s < due_s <= end_s:
            return end_s
        hz = self.telemetry_hz
        later = math.floor((end_s - due_s) * hz + EPSILON_S)
        last_s = self._telemetry_origin_s + (self._telemetry_sent + 1 + later) / hz
        return last_s if self._physics_s < last_s <= end_s else end_s

    def _quiet_plan_key(self) -> tuple[object, ...]:
        """What a quiet span depends on besides physics: state, output, program step, script."""
        runner = self.runner
        index = -1 if runner is None else runner.index
        return (self.state, self._active, runner, index, self.physics.contact.revision)

    def _threshold_in_reach(self, span_s: float) -> bool:
        """True if the force may reach the cap, a contact threshold or stall within span_s."""
        if self._force_guard.deadline_s is not None:
            return True
        goal_n = self._active.force_target_n if self.state is MotorState.RUNNING else 0.0
        motor = self.physics.motor
        bounds = self.physics.contact.force_bounds_n(
            min(self._hand_n, goal_n),
            max(self._hand_n, goal_n),
            self._active.force_tolerance_n,
            span_s,
            motor_running=motor.running or motor.target_freq_hz > 0.0,
        )
        if bounds is None:
            return True
        low_n, high_n = bounds
        return any(low_n <= limit_n <= high_n for limit_n in self._watched_forces_n())

    def _watched_forces_n(self) -> list[float]:
        """Forces at which the firmware or the motor changes behaviour now."""
        watched = [self.physics.motor.stall_force_n]
        cap_n = self._enforced_cap_n()
        if cap_n is not None and self.physics.motor.target_freq_hz > 0.0:
            watched.append(cap_n)
        runner = self.runner
        if runner is not None and runner.step.hold_policy is HoldPolicy.CONTACT:
            if self._force_sensor:
                threshold_n = runner.step.contact_threshold_n
                low_n = max(threshold_n - CONTACT_HYSTERESIS_N, threshold_n / 2.0)
                watched += [low_n, threshold_n]  # hysteresis: only its edges flip contact
            else:
                watched.append(self.physics.contact.contact_threshold_n)
        return watched

    def _internal_deadline_s(self) -> float:
        """The next time a safety guard or the program timer must act (after physics time)."""
        guard_s, runner = self._force_guard.deadline_s, self.runner
        if guard_s is None and runner is None:  # the common case, once per step: no list
            if self.state not in ARMED:
                return math.inf
            watchdog_s = self.watchdog.deadline_s
            return watchdog_s if watchdog_s > self._physics_s else math.inf
        deadlines: list[float | None] = [guard_s]
        if self.state in ARMED:
            deadlines.append(self.watchdog.deadline_s)
        if runner is not None:
            in_contact = self._contact
            deadlines.append(runner.next_deadline_s(self._physics_s, in_contact))
            if self._contact_seen != in_contact:
                deadlines.append(self._contact_seen_s + CONTACT_DEBOUNCE_S)
        after_s = self._physics_s
        return min((d for d in deadlines if d is not None and d > after_s), default=math.inf)

    def _enforced_cap_n(self) -> float | None:
        """The force cap in force, or None on a gun that cannot measure force."""
        if not self._force_sensor:
            return None
        return self._active.force_cap_n or self.config.spec.force_max_n
