"""Firmware-run programs: the upload staging buffer and the step timer (wall or contact)."""

from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass

from tpdevice.protocol import HoldPolicy, ProgramStep, ResultCode, StepEventKind

__all__ = [
    "PULL_RETRIES",
    "PULL_TIMEOUT_S",
    "PendingPull",
    "Program",
    "ProgramRunner",
    "ProgramUpload",
    "StepChange",
]

_LOGGER = logging.getLogger(__name__)

PULL_TIMEOUT_S = 0.5
PULL_RETRIES = 5
_EPSILON_S = 1e-9


@dataclass(frozen=True, slots=True)
class Program:
    """A committed program: flat steps in order and the hash they were committed with."""

    steps: tuple[ProgramStep, ...]
    program_hash: int


@dataclass(slots=True)
class PendingPull:
    """The PROGRAM_PULL the device waits on: repeated with the same seq until answered."""

    index: int
    seq: int
    due_s: float
    retries_left: int = PULL_RETRIES


class ProgramUpload:
    """The staging buffer of one upload; the committed program is never touched by it."""

    __slots__ = ("_crc", "begin_hash", "pull", "step_count", "steps")

    def __init__(self, step_count: int, begin_hash: int) -> None:
        self.step_count = step_count
        self.begin_hash = begin_hash
        self.steps: list[ProgramStep] = []
        self.pull: PendingPull | None = None
        self._crc = 0

    @property
    def next_index(self) -> int:
        """The index of the step the device pulls next (step_count once all arrived)."""
        return len(self.steps)

    @property
    def complete(self) -> bool:
        """True once every step arrived."""
        return len(self.steps) == self.step_count

    def add(self, step: ProgramStep, payload: bytes) -> ResultCode:
        """Stage the step if it is the one pulled; the hash covers the payload as received."""
        if step.index != self.next_index or self.complete:
            return ResultCode.BAD_STATE
        self.steps.append(step)
        self._crc = zlib.crc32(payload, self._crc)
        return ResultCode.OK

    def commit(self, commit_hash: int) -> Program | None:
        """The program if the staged hash equals both BEGIN's and COMMIT's hash, else None."""
        if not self.begin_hash == commit_hash == self._crc:
            _LOGGER.info(
                "program hash mismatch: staged %08x, begin %08x, commit %08x",
                self._crc,
                self.begin_hash,
                commit_hash,
            )
            return None
        return Program(tuple(self.steps), self._crc)


@dataclass(frozen=True, slots=True)
class StepChange:
    """Something that happened to a running program, at device time `time_s`."""

    time_s: float
    index: int
    kind: StepEventKind


def _hold_cap_s(step: ProgramStep) -> float:
    """Wall-time cap of a contact-policy step (0 on the wire means twice the duration)."""
    cap_ms = step.hold_cap_ms or 2 * step.duration_ms
    return cap_ms / 1000.0


class ProgramRunner:
    """Times the steps of a program in device time, without drift; reports step changes."""

    __slots__ = ("_counted_s", "_holding", "_steps", "_wall_s", "done", "index", "paused")

    def __init__(self, program: Program) -> None:
        self._steps = program.steps
        self.index = 0
        self.paused = False
        self.done = False
        self._counted_s = 0.0  # time counted toward duration_ms
        self._wall_s = 0.0  # unpaused time in this step, for the contact-policy cap
        self._holding = True  # a contact-policy timer counts (head in contact)

    @property
    def step(self) -> ProgramStep:
        """The step running now (the last one once done)."""
        return self._steps[min(self.index, len(self._steps) - 1)]

    def start(self, now_s: float) -> list[StepChange]:
        """The program begins with its first step."""
        return [StepChange(now_s, 0, StepEventKind.STARTED)]

    def pause(self, now_s: float) -> StepChange:
        """Freeze the timers."""
        self.paused = True
        return StepChange(now_s, self.index, StepEventKind.PAUSED)

    def resume(self, now_s: float) -> StepChange:
        """Let the timers run again."""
        self.paused = False
        return StepChange(now_s, self.index, StepEventKind.RESUMED)

    def abort(self, now_s: float) -> StepChange:
        """Stop for good."""
        self.done = True
        return StepChange(now_s, self.index, StepEventKind.ABORTED)

    def advance(self, dt_s: float, now_s: float, in_contact: bool) -> list[StepChange]:
        """Count the interval (now_s - dt_s, now_s]; a step ends at its exact time, not the tick."""
        changes: list[StepChange] = []
        left_s = dt_s
        while not (self.done or self.paused):
            used_s, finished = self._consume(left_s, now_s - left_s, in_contact, changes)
            left_s = max(0.0, left_s - used_s)
            if not finished:
                break
            self._finish_step(now_s - left_s, changes)
        return changes

    def next_deadline_s(self, now_s: float, in_contact: bool) -> float | None:
        """When the current step ends if contact stays as it is now; None if paused or done."""
        if self.done or self.paused:
            return None
        step = self.step
        to_count_s = step.duration_ms / 1000.0 - self._counted_s
        if step.hold_policy is HoldPolicy.WALL:
            return now_s + to_count_s
        to_cap_s = _hold_cap_s(step) - self._wall_s
        return now_s + (min(to_count_s, to_cap_s) if in_contact else to_cap_s)

    def _consume(
        self, left_s: float, start_s: float, in_contact: bool, changes: list[StepChange]
    ) -> tuple[float, bool]:
        """Spend up to left_s on the current step; return the time used and whether it ended."""
        step = self.step
        to_count_s = step.duration_ms / 1000.0 - self._counted_s
        if step.hold_policy is HoldPolicy.WALL:
            in_contact, to_cap_s = True, math.inf
        else:
            self._note_contact(in_contact, start_s, changes)
            to_cap_s = _hold_cap_s(step) - self._wall_s
        to_end_s = min(to_count_s if in_contact else math.inf, to_cap_s)
        used_s = max(0.0, min(left_s, to_end_s))
        self._wall_s += used_s
        if in_contact:
            self._counted_s += used_s
        # Sums of float ticks miss an exact end by an ulp or so; a nanosecond is no lateness.
        return used_s, to_end_s <= left_s + _EPSILON_S

    def _note_contact(self, in_contact: bool, time_s: float, changes: list[StepChange]) -> None:
        """Report a contact-policy hold pausing or resuming."""
        if in_contact == self._holding:
            return
        self._holding = in_contact
        kind = StepEventKind.HOLD_RESUMED if in_contact else StepEventKind.HOLD_PAUSED
        changes.append(StepChange(time_s, self.index, kind))

    def _finish_step(self, end_s: float, changes: list[StepChange]) -> None:
        """Close the current step at end_s and start the next, or finish the program."""
        changes.append(StepChange(end_s, self.index, StepEventKind.COMPLETED))
        if self.index + 1 >= len(self._steps):
            self.done = True
            changes.append(StepChange(end_s, self.index, StepEventKind.PROGRAM_DONE))
            return
        self.index += 1
        self._counted_s = self._wall_s = 0.0
        self._holding = True
        changes.append(StepChange(end_s, self.index, StepEventKind.STARTED))
