"""The timer of one running step: wall time, or contact time capped by wall time; pausable."""

from __future__ import annotations

import math

from tpdevice.therapy.timeline import PlannedStep

__all__ = ["StepTimer"]


class StepTimer:
    """When a step ends, from its start deadline, its pauses and (contact policy) its contact.

    Wall steps end at start deadline + paused time + duration: an absolute deadline, so
    lateness of one transition never shifts the next. A contact-policy step counts only while
    in contact and ends at the earlier of "counted == duration" and the wall cap; once the
    count is full it stays ended at that moment, even if contact is lost just after.
    """

    def __init__(self, step: PlannedStep, deadline_s: float, *, in_contact: bool = True) -> None:
        self.step = step
        self.deadline_s = deadline_s  # when the step was due to start
        self.paused_s = 0.0  # session pauses inside this step
        self._paused_at_s: float | None = None
        self._counted_s = 0.0  # contact seconds before the current contact segment
        self._contact = in_contact or not step.contact_timed
        self._contact_since_s = deadline_s
        self._full_at_s: float | None = None  # when a contact step's count reached duration_s

    @property
    def paused(self) -> bool:
        """True while the session is paused."""
        return self._paused_at_s is not None

    @property
    def full(self) -> bool:
        """True once a contact step counted its whole duration (contact no longer matters)."""
        return self._full_at_s is not None

    @property
    def in_contact(self) -> bool:
        """Whether the timer counts contact now (always True for wall steps)."""
        return self._contact

    def active_s(self, now_s: float) -> float:
        """Wall seconds the step has run, pauses excluded."""
        pause_s = self.paused_s + (
            now_s - self._paused_at_s if self._paused_at_s is not None else 0.0
        )
        return max(0.0, now_s - self.deadline_s - pause_s)

    def counted_s(self, now_s: float) -> float:
        """Seconds counted toward the duration."""
        if not self.step.contact_timed:
            return self.active_s(now_s)
        if self._contact and self._paused_at_s is None:
            return self._counted_s + max(0.0, now_s - self._contact_since_s)
        return self._counted_s

    def remaining_s(self, now_s: float) -> float:
        """Seconds still to count."""
        return max(0.0, self.step.duration_s - self.counted_s(now_s))

    def cap_end_s(self) -> float:
        """When the wall-time cap ends the step (pauses shift it)."""
        return self.deadline_s + self.paused_s + self.step.hold_cap_s

    def end_s(self) -> float:
        """The absolute time the step ends if nothing changes; inf while paused."""
        if self._paused_at_s is not None:
            return math.inf
        step = self.step
        if not step.contact_timed:
            return self.deadline_s + self.paused_s + step.duration_s
        if self._full_at_s is not None:
            return min(self._full_at_s, self.cap_end_s())
        if not self._contact:
            return self.cap_end_s()
        return min(self._counted_end_s(), self.cap_end_s())

    def _counted_end_s(self) -> float:
        """When the running contact segment fills the count."""
        return self._contact_since_s + (self.step.duration_s - self._counted_s)

    def _close_segment(self, now_s: float) -> None:
        """Add the running contact segment to the count; note when the count got full."""
        if self._full_at_s is None and now_s >= self._counted_end_s():
            self._full_at_s = self._counted_end_s()
        self._counted_s += max(0.0, now_s - self._contact_since_s)

    def set_contact(self, in_contact: bool, now_s: float) -> bool:
        """Contact changed (contact steps only); True if the timer's counting changed.

        False once the count is full: the step ends when it filled, whatever contact does.
        """
        if not self.step.contact_timed or in_contact == self._contact:
            return False
        if self._paused_at_s is None:
            if self._contact:
                self._close_segment(now_s)
            self._contact_since_s = now_s
        self._contact = in_contact
        return self._full_at_s is None

    def pause(self, now_s: float) -> None:
        """Freeze the timer (session pause or lost link)."""
        if self._paused_at_s is not None:
            return
        if self.step.contact_timed and self._contact:
            self._close_segment(now_s)
        self._paused_at_s = now_s

    def resume(self, now_s: float) -> float:
        """Run again; returns the pause's length."""
        if self._paused_at_s is None:
            return 0.0
        pause_s = max(0.0, now_s - self._paused_at_s)
        self.paused_s += pause_s
        self._paused_at_s = None
        if self._full_at_s is not None:
            self._full_at_s += pause_s  # a pause shifts a due end, as for wall steps
        self._contact_since_s = now_s
        return pause_s
