"""Host mode: the engine sends each step's setpoint at its absolute deadline."""

from __future__ import annotations

import logging

from tpdevice.protocol import StopReason
from tpdevice.therapy.modes import ModeRunner, RunContext
from tpdevice.therapy.timeline import PlannedStep

__all__ = ["HostRunner"]

_LOGGER = logging.getLogger(__name__)


class HostRunner(ModeRunner):
    """Streams SET_OUTPUT at step deadlines and times holds itself (contact from telemetry).

    Each step is due when the previous one ends (its deadline plus its pauses, or the
    contact timer's computed end), never "when the loop noticed", so lateness never adds up.
    At a transition the next setpoint goes out first; the events of the step that ended and
    of the one that began are built after it.
    """

    mode = "host"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._motor_started = False
        self._switching = False  # a transition's setpoint is in flight

    async def begin(self) -> float:
        """Issue step 0 now; now is t0."""
        t0_s = self.ctx.progress.t0_s = self.ctx.clock.now_s()
        await self._start_next(t0_s)
        return t0_s

    def next_deadline_s(self) -> float:
        """The running step's end."""
        timer = self.ctx.progress.timer
        return timer.end_s() if timer is not None else super().next_deadline_s()

    async def on_time(self, now_s: float) -> None:
        """Complete every step whose end passed and start its successor at that end."""
        progress = self.ctx.progress
        timer = progress.timer
        while timer is not None and now_s >= (end_s := timer.end_s()):
            if progress.next_index >= len(progress.steps):  # the last step: nothing to send
                progress.complete(end_s)
                self.done = True
                return
            await self._switch(end_s)
            now_s, timer = self.ctx.clock.now_s(), progress.timer

    async def _switch(self, end_s: float) -> None:
        """Send the next step's setpoint, then complete the running step at end_s and start
        the next one as issued (a link lost under the setpoint still completes the step)."""
        ctx = self.ctx
        progress = ctx.progress
        issued_s = ctx.clock.now_s()
        self._switching = True
        try:
            await self._apply(progress.steps[progress.next_index])
        finally:
            self._switching = False
            progress.complete(end_s)
        contact = ctx.contact
        progress.start(end_s, issued_s, in_contact=contact.in_contact, force_n=contact.force_n)

    def on_contact(self, now_s: float) -> bool:
        """Pause/resume a contact-policy hold's timer; True if its end moved.

        Not while a transition is in flight: the ending step's end is fixed, and the next
        one takes the contact of the moment it starts.
        """
        if self._switching:
            return False
        contact = self.ctx.contact
        return self.ctx.progress.set_contact(contact.in_contact, now_s, contact.force_n)

    async def pause(self, now_s: float) -> None:
        """STOP, freeze."""
        self.freeze(now_s)
        self._motor_started = False
        await self.halt(StopReason.USER)

    async def resume(self, now_s: float) -> None:
        """Re-send the step's setpoint and START, then thaw (or start the step a lost link
        cut off); the frozen timer takes the contact now, told after session.resumed."""
        ctx = self.ctx
        progress = ctx.progress
        step = progress.current
        if step is None:
            self.thaw(now_s)
            if not progress.finished:
                await self._start_next(now_s)
            return
        progress.set_contact(ctx.contact.in_contact, now_s, ctx.contact.force_n)
        await self._apply(step)
        self.thaw(ctx.clock.now_s())

    async def skip(self, now_s: float) -> None:
        """Complete the step now (skipped); the next one is due now."""
        progress = self.ctx.progress
        if progress.timer is None:
            return
        progress.complete(now_s, skipped=True)
        if progress.finished:
            self.done = True
            return
        await self._start_next(now_s)

    def link_lost(self, now_s: float) -> None:
        """The device watchdog stops the motor: a START is needed after the reconnect."""
        super().link_lost(now_s)
        self._motor_started = False

    async def recover(self, now_s: float) -> None:
        """Same as resume: setpoint and START again."""
        await self.resume(now_s)

    async def _start_next(self, deadline_s: float) -> None:
        """Send the next step's setpoint, then record it started when it was issued.

        The events come after the send so that building them never delays the setpoint.
        """
        ctx = self.ctx
        step = ctx.progress.steps[ctx.progress.next_index]
        issued_s = ctx.clock.now_s()
        await self._apply(step)
        contact = ctx.contact
        ctx.progress.start(
            deadline_s, issued_s, in_contact=contact.in_contact, force_n=contact.force_n
        )

    async def _apply(self, step: PlannedStep) -> None:
        """SET_OUTPUT with the step's capped values, then START unless the motor runs."""
        ctx = self.ctx
        await ctx.client.set_output(
            step.freq_hz, force_target_n=step.force_target_n,
            force_tolerance_n=step.force_tolerance_n, force_cap_n=step.force_cap_n,
            force_ramp_n_per_s=step.force_ramp_n_per_s,
        )  # fmt: skip
        # A 0 Hz step (a rest) leaves a stopped motor stopped: START needs a rate to run.
        idle = step.freq_hz <= 0.0
        if not self._motor_started and not idle and not ctx.halting and not ctx.pause.asked:
            await ctx.client.start()
            self._motor_started = True
