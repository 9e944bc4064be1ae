"""SessionBase: a session's state, events, pauses and ending; Session adds the loop."""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import uuid
from typing import Any

from tpdevice.device.api import GunClient
from tpdevice.device.state import ConnectionState
from tpdevice.errors import TpDeviceError
from tpdevice.protocol import StopReason
from tpdevice.therapy.clock import RealClock, SessionClock
from tpdevice.therapy.coach import PressureCoach
from tpdevice.therapy.eventbus import EventBus, EventSubscription
from tpdevice.therapy.events import (
    CueEvent,
    Event,
    EventStamper,
    SessionAborted,
    SessionCompleted,
    SessionFailed,
    SessionPaused,
    SessionResumed,
    SessionStarted,
)
from tpdevice.therapy.firmware_mode import FirmwareRunner
from tpdevice.therapy.host_mode import HostRunner
from tpdevice.therapy.modes import ContactSense, ModeRunner, RunContext
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.progress import Progress
from tpdevice.therapy.session_state import (
    TERMINAL,
    Ending,
    ExecutionMode,
    SessionOptions,
    SessionState,
    build_summary,
    resolve_mode,
)
from tpdevice.therapy.summary import Summary
from tpdevice.therapy.timeline import Overrides, Timeline, compile_profile

__all__ = ["LINKED", "SessionBase"]

_LOGGER = logging.getLogger(__name__)

LINKED = frozenset({ConnectionState.READY, ConnectionState.RUNNING, ConnectionState.FAULTED})
_STOP_REASONS = {
    "user": StopReason.USER,
    "over_pressure": StopReason.OVER_PRESSURE,
    "device_fault": StopReason.FAULT,
    "": StopReason.SESSION_END,
}


class SessionBase:
    """Compiling, state, the event bus, pause bookkeeping and the ending of a session."""

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
    ) -> None:
        """Compile and check against the device now: SessionError/ProfileError on a misfit.

        `side`: left | right | both | midline (None: both sides, or the midline).
        """
        self.client = client
        self.profile = profile
        self.clock: SessionClock = clock or RealClock()
        self.options = options or SessionOptions()
        self.id = session_id or uuid.uuid4().hex[:16]
        self.timeline: Timeline = compile_profile(
            profile, side, overrides, client.capabilities, address=client.address
        )
        self.mode = resolve_mode(mode, self.timeline, client.address)
        self._bus = EventBus()
        self._stamper = EventStamper(
            self.id, profile.id, client.address, self.clock.now_s, self.clock.wall_time
        )
        self._ctx = self._context()
        self._runner: ModeRunner = (
            FirmwareRunner(self._ctx) if self.mode is ExecutionMode.FIRMWARE
            else HostRunner(self._ctx)
        )  # fmt: skip
        self._init_run_state()

    def _init_run_state(self) -> None:
        """What changes while the session runs: state, flags, pauses, the end."""
        self._state = SessionState.CREATED
        self._ending: Ending | None = None
        self._commands: collections.deque[str] = collections.deque()
        self._wake_future: asyncio.Future[None] | None = None
        self._stop_tasks: set[asyncio.Future[Any]] = set()  # STOPs and endings under way
        self._done = asyncio.Event()
        self._started = False
        self._t0_s: float | None = None
        self._end_s: float | None = None
        self._link_lost = False
        self._watchdog_outages = 0  # watchdog trips on a live link, taken as short outages
        self._outages_taken = 0  # of those, how many the loop has recovered from
        self._link_back_s = -math.inf  # when the link last came back
        self._grace_end_s = math.inf
        self._user_paused = False  # the loop took the user's pause (ctx.pause_wanted: asked)
        self._pause_reason = ""  # of the session.paused in force
        self._next_beat_s = -math.inf
        self._paused_since_s: float | None = None
        self._paused_s = 0.0
        self._faults: list[str] = []

    def _context(self) -> RunContext:
        fit, options = self.timeline.fit, self.options
        coach = PressureCoach(fit.force_cap_n, options.coach_after_s, options.over_pressure_after_s)
        threshold_n = self.timeline.steps[0].contact_threshold_n if self.timeline.steps else 3.0
        return RunContext(
            client=self.client, clock=self.clock, timeline=self.timeline,
            progress=Progress(self.timeline, self._emit, coach), coach=coach,
            contact=ContactSense(threshold_n, by_force=fit.force_sensing),
        )  # fmt: skip

    # --- state and events --------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """created, running, paused, completed, aborted or failed."""
        return self._state

    @property
    def events(self) -> list[Event]:
        """Every event so far, in order."""
        return list(self._bus.history)

    @property
    def lateness_ms(self) -> list[float]:
        """Per started step: when its setpoint was issued (or it started) minus its deadline."""
        records = self._ctx.progress.records
        return [r.lateness_ms for r in records if r.lateness_ms is not None]

    def subscribe(self, *, replay: bool = False) -> EventSubscription:
        """An async iterator of every event from now on (replay=True: from the first one)."""
        return self._bus.subscribe(replay=replay)

    def summary(self) -> Summary:
        """Per step planned vs actual, time in band, peak force, cues, faults; totals."""
        end_s = self._end_s if self._end_s is not None else self.clock.now_s()
        paused_s = self._paused_s
        if self._paused_since_s is not None:
            paused_s += end_s - self._paused_since_s
        reason = self._ending.reason if self._ending is not None else ""
        return build_summary(
            session_id=self.id, profile_id=self.profile.id, device=self.client.address,
            timeline=self.timeline, mode=self.mode, state=self._state, reason=reason,
            records=self._ctx.progress.records, t0_s=self._t0_s, end_s=end_s,
            paused_s=paused_s, faults=self._faults,
        )  # fmt: skip

    def _enter_pause(self, now_s: float, reason: str) -> None:
        """session.paused(reason), unless already paused for that reason."""
        if self._state is SessionState.PAUSED and self._pause_reason == reason:
            return
        self._state, self._pause_reason = SessionState.PAUSED, reason
        if self._paused_since_s is None:
            self._paused_since_s = now_s
        self._emit(SessionPaused, reason=reason, **self._where(now_s))

    def _leave_pause(self, now_s: float, reason: str) -> None:
        """session.resumed, then the hold events of contact changed meanwhile."""
        self._state, self._pause_reason = SessionState.RUNNING, ""
        if self._paused_since_s is not None:
            self._paused_s += now_s - self._paused_since_s
            self._paused_since_s = None
        self._emit(SessionResumed, reason=reason, **self._where(now_s))
        self._ctx.progress.tell_contact(now_s, self._ctx.contact.force_n)
        if self._runner.on_contact(now_s):
            self._wake()

    def _where(self, now_s: float) -> dict[str, Any]:
        timer = self._ctx.progress.timer
        if timer is None:
            return {}
        return {"step_index": timer.step.index, "remaining_s": timer.remaining_s(now_s)}

    def _wake(self) -> None:
        wake = self._wake_future
        if wake is not None and not wake.done():
            wake.set_result(None)

    # --- ending -----------------------------------------------------------------------------

    def _request_end(self, ending: Ending) -> None:
        """End as soon as the loop runs; STOP goes out now, not at the next deadline."""
        if self._ending is not None or self._state in TERMINAL:
            return
        self._ending = ending
        self._ctx.halting = True
        self._keep(asyncio.get_running_loop().create_task(self._send_stop(ending.reason)))
        self._wake()

    def _keep(self, task: asyncio.Future[Any]) -> None:
        """Hold a STOP / ending task until it is done (stop() waits for these)."""
        self._stop_tasks.add(task)
        task.add_done_callback(self._stop_tasks.discard)

    async def _send_stop(self, reason: str) -> None:
        """STOP if the link is up (best effort: the device watchdog covers a dead link)."""
        if self.client.state not in LINKED:
            return
        try:
            await self.client.stop(_STOP_REASONS.get(reason, StopReason.HOST))
        except TpDeviceError as err:
            _LOGGER.warning("%s: STOP at the session end failed: %s", self.client.address, err)

    async def _finish(self, ending: Ending) -> Summary:
        """Motor stopped, final state, terminal event with the summary, bus closed."""
        if self._state in TERMINAL:
            return self.summary()
        if self._ending is None:
            self._ending = ending
        ending = self._ending
        self._ctx.halting = True
        await self._send_stop(ending.reason)
        self._finish_quietly(ending)
        return self.summary()

    async def _finish_shielded(self, ending: Ending) -> Summary:
        """_finish(); cancelled meanwhile, the session still ends (its STOP goes on), re-raised."""
        finishing = asyncio.ensure_future(self._finish(ending))
        self._keep(finishing)
        try:
            return await asyncio.shield(finishing)
        except asyncio.CancelledError:
            self._finish_quietly(ending)
            raise

    def _finish_quietly(self, ending: Ending) -> None:
        """The terminal state and event (no device I/O); the bus closes even if that fails."""
        if self._state in TERMINAL:
            return
        self._ending = ending = self._ending or ending
        now_s = self._end_s = self.clock.now_s()
        if self._paused_since_s is not None:
            self._paused_s += now_s - self._paused_since_s
            self._paused_since_s = None
        self._state = ending.state
        try:
            if ending.state is not SessionState.COMPLETED:
                self._ctx.progress.interrupt(now_s)
            self._emit_ending(ending)
        finally:
            self._bus.close()
            self._done.set()

    def _emit_ending(self, ending: Ending) -> None:
        """session.completed / aborted / failed with the summary."""
        summary = self.summary()
        if ending.state is SessionState.COMPLETED:
            self._emit(SessionCompleted, summary=summary)
        elif ending.state is SessionState.ABORTED:
            self._emit(SessionAborted, reason=ending.reason, detail=ending.detail, summary=summary)
        else:
            self._emit(SessionFailed, reason=ending.reason, error=ending.detail, summary=summary)

    # --- events -----------------------------------------------------------------------------

    def _emit(self, cls: type[Event], **fields: Any) -> Event:
        event = self._stamper.make(cls, **fields)
        if self._bus.closed:
            _LOGGER.debug("%s after the session ended: dropped", event.type)
            return event
        self._bus.publish(event)
        return event

    def _emit_started(self) -> None:
        timeline, fit = self.timeline, self.timeline.fit
        self._emit(
            SessionStarted, side=timeline.side_label, mode=self.mode.value,
            step_count=len(timeline.steps), planned_duration_s=timeline.duration_s,
            force_cap_n=fit.force_cap_n, freq_min_hz=fit.freq_min_hz, freq_max_hz=fit.freq_max_hz,
            force_sensing=fit.force_sensing,
        )  # fmt: skip
        for note in timeline.notes:
            self._emit(CueEvent, reason=note.reason, cue=note.text)
