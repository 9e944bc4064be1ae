"""The session engine: one profile run on one gun (host or firmware mode), told as events.

    session = Session(client, profile, side="left", clock=RealClock())
    events = session.subscribe()          # every event from now on, in order, none lost
    summary = await session.run()         # until completed / aborted / failed
    session.pause(); session.resume(); session.skip(); await session.stop()

One control loop (one task) runs step deadlines and heartbeats on the session clock; while
it awaits a command's ACK a helper task it owns goes on beating, so the device watchdog never
starves. Two reader tasks take telemetry (contact, coaching, the over-pressure stop) and
device events (faults, STEP_EVENTs). A session is composed of parts (session_parts.py), each
owning its state: events, pause, link, heartbeat, ending. See docs/session-engine.md.

- pause/resume/skip answer a CommandResult at once and are done by the loop in order;
  stop() sends STOP itself, at once. A skip while paused takes effect at resume. A pause is
  taken before its STOP goes out, so a link lost under that STOP cannot undo it; a pause
  asked while a setpoint is in flight wins (host mode sends no START after it). Nothing
  sends START/run/resume once a stop or an abort is under way.
- Link lost: session.paused(link_lost); within reconnect_grace_s of the client coming back,
  device time is synced again, then host mode re-sends the setpoint and START, firmware mode
  STOPs whatever still runs and uploads the rest and runs it. A link lost while the user
  had paused, or a pause asked during the outage, stays paused: STOP, no START.
- Any active device FAULT ends the session aborted(device_fault, detail=code) after a
  device.fault event; a watchdog fault raised while the link was down is expected.
- Cancelling run() still ends the session (STOP, aborted(cancelled)) before re-raising.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from collections.abc import Callable

from tpdevice.device.api import GunClient
from tpdevice.device.state import ConnectionState
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.clock import RealClock, SessionClock
from tpdevice.therapy.coach import PressureCoach
from tpdevice.therapy.commands import CommandResult, EndReason, Rejection, SessionCommand
from tpdevice.therapy.commands import end_reason as as_end_reason
from tpdevice.therapy.compat import SessionError
from tpdevice.therapy.eventbus import EventSink, EventSubscription
from tpdevice.therapy.events import Event, EventStamper
from tpdevice.therapy.firmware_mode import FirmwareRunner
from tpdevice.therapy.host_mode import HostRunner
from tpdevice.therapy.modes import ContactSense, ModeRunner, RunContext
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.progress import Progress
from tpdevice.therapy.session_ending import LINKED, SessionEnd
from tpdevice.therapy.session_events import SessionEvents
from tpdevice.therapy.session_heartbeat import SessionHeartbeat
from tpdevice.therapy.session_link import SessionLink
from tpdevice.therapy.session_loop import SessionLoop
from tpdevice.therapy.session_parts import SessionParts, enter_pause, leave_pause
from tpdevice.therapy.session_pause import PauseState
from tpdevice.therapy.session_readers import SessionReaders
from tpdevice.therapy.session_state import (
    Ending,
    ExecutionMode,
    SessionOptions,
    SessionProgress,
    SessionState,
    build_progress,
    build_summary,
    resolve_mode,
)
from tpdevice.therapy.summary import Summary
from tpdevice.therapy.timeline import Overrides, Timeline, compile_profile

__all__ = ["ExecutionMode", "Session", "SessionOptions", "SessionState"]

_LOGGER = logging.getLogger(__name__)


class Session:
    """One run of a profile on a connected gun; build it, subscribe, then await run()."""

    def __init__(
        self,
        client: GunClient,
        profile: Profile,
        side: str | None = None,
        clock: SessionClock | None = None,
        mode: ExecutionMode = ExecutionMode.AUTO,
        overrides: Overrides | None = None,
        options: SessionOptions | None = None,
        *,
        session_id: str | None = None,
        device_id: str | None = None,
    ) -> None:
        """Compile and check against the device now: SessionError/ProfileError on a misfit.

        `side`: left | right | both | midline (None: both sides, or the midline).
        `device_id` names the gun in events and the summary (default: its address).
        """
        self.client = client
        self.profile = profile
        self.clock: SessionClock = clock or RealClock()
        self.options = options or SessionOptions()
        self.id = session_id or os.urandom(8).hex()
        self.device_id = device_id or client.address
        self.timeline: Timeline = compile_profile(
            profile, side, overrides, client.capabilities, address=client.address
        )
        self.mode = resolve_mode(mode, self.timeline, client.address)
        self._parts = self._compose()
        self._heartbeat = SessionHeartbeat(client, self.clock)
        self._link = SessionLink(self._parts, self.options.reconnect_grace_s)
        self._loop = SessionLoop(self._parts, self._heartbeat, self._link)
        self._commands: collections.deque[SessionCommand] = collections.deque()
        self._started = False

    def _compose(self) -> SessionParts:
        fit, options, clock = self.timeline.fit, self.options, self.clock
        events = SessionEvents(
            EventStamper(self.id, self.profile.id, self.device_id, clock.now_s, clock.wall_time)
        )
        coach = PressureCoach(fit.force_cap_n, options.coach_after_s, options.over_pressure_after_s)
        threshold_n = self.timeline.steps[0].contact_threshold_n if self.timeline.steps else 3.0
        pause = PauseState()
        ctx = RunContext(
            client=self.client, clock=clock, timeline=self.timeline,
            progress=Progress(self.timeline, events.emit, coach), coach=coach,
            contact=ContactSense(threshold_n, by_force=fit.force_sensing), pause=pause,
        )  # fmt: skip
        runner: ModeRunner = (
            FirmwareRunner(ctx) if self.mode is ExecutionMode.FIRMWARE else HostRunner(ctx)
        )
        end = SessionEnd(self.client, clock, ctx, events, pause)
        return SessionParts(
            client=self.client, clock=clock, timeline=self.timeline, ctx=ctx, runner=runner,
            events=events, pause=pause, end=end, wake=self._wake,
        )  # fmt: skip

    # --- state and events --------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """created, running, paused, completed, aborted or failed."""
        parts = self._parts
        if parts.end.final is not None:
            return parts.end.final.state
        if not parts.begun:
            return SessionState.CREATED
        return SessionState.PAUSED if parts.pause.paused else SessionState.RUNNING

    @property
    def events(self) -> list[Event]:
        """Every event so far, in order."""
        return self._parts.events.history

    @property
    def lateness_ms(self) -> list[float]:
        """Per started step: when its setpoint was issued (or it started) minus its deadline."""
        records = self._parts.ctx.progress.records
        return [r.lateness_ms for r in records if r.lateness_ms is not None]

    def subscribe(self, *, replay: bool = False) -> EventSubscription:
        """An async iterator of every event from now on (replay=True: from the first one)."""
        return self._parts.events.subscribe(replay=replay)

    def add_sink(self, sink: EventSink) -> Callable[[], None]:
        """Call sink(event) for each event, in order, before any subscriber sees it."""
        return self._parts.events.add_sink(sink)

    def progress(self) -> SessionProgress:
        """Steps done, elapsed and planned time as the summary has them, without its rows."""
        end_s, _, cause = self._ending()
        records = self._parts.ctx.progress.records
        return build_progress(self.timeline, records, self._loop.t0_s, end_s, cause)

    def summary(self) -> Summary:
        """Per step planned vs actual, time in band, peak force, cues, faults; totals."""
        parts = self._parts
        end_s, reason, cause = self._ending()
        return build_summary(
            session_id=self.id, profile_id=self.profile.id, device=self.device_id,
            timeline=self.timeline, mode=self.mode, state=self.state, reason=reason, cause=cause,
            records=parts.ctx.progress.records, t0_s=self._loop.t0_s, end_s=end_s,
            paused_s=parts.pause.paused_s(end_s), faults=parts.faults,
        )  # fmt: skip

    def _ending(self) -> tuple[float, EndReason, str]:
        """The end (or now, while running), why the session ends and what caused it."""
        end = self._parts.end
        end_s = end.end_s if end.end_s is not None else self.clock.now_s()
        if end.asked is None:
            return end_s, EndReason.NONE, ""
        return end_s, end.asked.reason, end.asked.detail

    # --- commands -----------------------------------------------------------------------

    @property
    def safety_confirmation(self) -> str:
        """How the safety notes were confirmed before the start: enter, --yes or simulator."""
        return self._parts.events.safety_confirmation

    @safety_confirmation.setter
    def safety_confirmation(self, how: str) -> None:
        self._parts.events.safety_confirmation = how

    @property
    def paused(self) -> bool:
        """True once pause() was accepted (until resume()); the motor is then stopped."""
        return self._parts.pause.asked

    def pause(self) -> CommandResult:
        """Stop the motor and freeze the step (remaining time kept)."""
        if self._parts.pause.asked:
            return self._answer(SessionCommand.PAUSE, Rejection.ALREADY_PAUSED)
        result = self._queue(SessionCommand.PAUSE)
        if result.accepted:
            self._parts.pause.asked = True
        return result

    def resume(self) -> CommandResult:
        """Continue after pause()."""
        if not self._parts.pause.asked:
            return self._answer(SessionCommand.RESUME, Rejection.NOT_PAUSED)
        result = self._queue(SessionCommand.RESUME)
        if result.accepted:
            self._parts.pause.asked = False
        return result

    def skip(self) -> CommandResult:
        """End the current step now and start the next (while paused: right after resume)."""
        return self._queue(SessionCommand.SKIP)

    async def stop(self, reason: EndReason = EndReason.USER) -> CommandResult:
        """STOP the motor at once and end the session aborted(reason); returns once ended.

        Refused `ended` when the session already ended, or was already ending for another
        reason (that reason stands; this still returns once it ended). SessionError when
        `reason` is not an EndReason (or its value).
        """
        reason = as_end_reason(reason)
        end = self._parts.end
        if end.final is not None:
            return self._answer(SessionCommand.STOP, Rejection.ENDED)
        if not self._started:
            self._started = True
            end.finish_quietly(
                Ending(SessionState.ABORTED, reason, "stopped before it ran"), self.summary
            )
            return CommandResult.ok(SessionCommand.STOP)
        ending_already = end.asked is not None  # e.g. over the cap: that reason stands
        end.request(Ending(SessionState.ABORTED, reason, "stopped"), self._wake)
        await asyncio.gather(*end.tasks, return_exceptions=True)
        await end.done.wait()
        if ending_already:
            return CommandResult.refused(SessionCommand.STOP, Rejection.ENDED)
        return CommandResult.ok(SessionCommand.STOP)

    def _answer(self, command: SessionCommand, rejection: Rejection) -> CommandResult:
        """Refused: an ended session answers `ended` whatever was asked."""
        end = self._parts.end
        if end.final is not None or end.asked is not None:
            rejection = Rejection.ENDED
        elif not self._started:
            rejection = Rejection.NOT_STARTED
        return CommandResult.refused(command, rejection)

    def _queue(self, command: SessionCommand) -> CommandResult:
        end = self._parts.end
        if not self._started or end.final is not None or end.asked is not None:
            return self._answer(command, Rejection.ENDED)
        self._commands.append(command)
        self._wake()
        return CommandResult.ok(command)

    # --- running ------------------------------------------------------------------------

    async def run(self) -> Summary:
        """Run to completed / aborted / failed and return the summary (cancel: STOP, re-raise)."""
        if self._started:
            if self._parts.end.final is not None:
                return self.summary()
            raise SessionError(f"session {self.id} is already running")
        # Held until the motor is stopped: an idle beater takes over only after that.
        with self._heartbeat.acquire(f"session {self.id}"):
            self._started = True
            return await self._run_to_end()

    async def _run_to_end(self) -> Summary:
        self._loop.arm()
        readers = SessionReaders(self._parts, f"session {self.id}").start()
        unsubscribe = self.client.subscribe_state(self._on_link_state)
        try:
            ending = await self._guarded_drive()
        finally:
            unsubscribe()
            for reader in readers:
                reader.cancel()
        summary = await self._parts.end.finish_shielded(ending, self.summary)
        await asyncio.gather(*readers, return_exceptions=True)
        return summary

    async def _guarded_drive(self) -> Ending:
        """The loop; any exception or cancellation still ends with the motor stopped."""
        end = self._parts.end
        try:
            return await self._loop.drive(self.mode.value, self._run_commands)
        except asyncio.CancelledError:
            ending = Ending(
                SessionState.ABORTED, EndReason.CANCELLED, "the session task was cancelled"
            )
            await end.finish_shielded(ending, self.summary)
            raise
        except TpDeviceError as err:
            return Ending(SessionState.FAILED, EndReason.DEVICE_ERROR, str(err))
        except Exception as err:
            text = f"{type(err).__name__}: {err}"
            ending = Ending(SessionState.FAILED, EndReason.INTERNAL_ERROR, text)
            await end.finish_shielded(ending, self.summary)
            raise

    async def _run_commands(self) -> None:
        """pause / resume / skip in order (also those asked meanwhile); a skip while paused
        waits for the resume."""
        kept: collections.deque[SessionCommand] = collections.deque()
        try:
            while self._commands and self._parts.end.asked is None:
                command = self._commands.popleft()
                if command is SessionCommand.SKIP and self._parts.pause.taken:
                    kept.append(command)
                else:
                    await self._run_command(command)
        finally:
            self._commands.extendleft(reversed(kept))

    async def _run_command(self, command: SessionCommand) -> None:
        parts = self._parts
        pause, runner, now_s = parts.pause, parts.runner, self.clock.now_s()
        if command is SessionCommand.PAUSE and not pause.taken:
            pause.taken = True  # first: a link lost under the STOP must not undo it
            try:
                await runner.pause(now_s)
            finally:
                enter_pause(parts, now_s, "user")
        elif command is SessionCommand.RESUME and pause.taken:
            pause.taken = False  # first: a link lost under the START pauses for it
            await runner.resume(now_s)
            leave_pause(parts, self.clock.now_s(), "user")
        elif command is SessionCommand.SKIP:
            await runner.skip(now_s)

    def _on_link_state(self, old: ConnectionState, new: ConnectionState) -> None:
        if new is ConnectionState.READY and old not in LINKED:
            self._link.came_back()
            self._heartbeat.beat_now()
        self._wake()

    def _wake(self) -> None:
        self._loop.wake()
