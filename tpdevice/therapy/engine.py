"""The session engine: one profile run on one gun (host or firmware mode), told as events.

    session = Session(client, profile, side="left", clock=RealClock())
    events = session.subscribe()          # every event from now on, in order, none lost
    summary = await session.run()         # until completed / aborted / failed
    session.pause(); session.resume(); session.skip(); await session.stop()

One control loop (one task) runs step deadlines and heartbeats on the session clock; two
reader tasks take telemetry (contact, coaching, the over-pressure stop) and device events
(faults, STEP_EVENTs). See docs/session-engine.md. Choices made here:

- pause/resume/skip are queued and done by the loop; stop() sends STOP itself, at once.
  A skip while paused takes effect at resume. Nothing sends START/run/resume once a stop
  or an abort is under way.
- Link lost: session.paused(link_lost); within reconnect_grace_s of the client coming back,
  host mode re-sends the setpoint and START, firmware mode STOPs whatever still runs and
  uploads the rest (the current step with its remaining time) and runs it. A link lost
  while the user had paused stays paused.
- Any active device FAULT ends the session aborted(device_fault, detail=code) after a
  device.fault event: the device already stopped the motor, and a session is not resumed
  on its own after a fault. A watchdog fault raised while the link was down is expected.
- Firmware mode skip: abort the program, upload the steps after the skipped one, run.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math

from tpdevice.device.errors import DeviceConnectionError
from tpdevice.device.state import ConnectionState
from tpdevice.errors import TpDeviceError
from tpdevice.protocol import Fault, FaultCode, Telemetry
from tpdevice.therapy.coach import Verdict
from tpdevice.therapy.compat import SessionError
from tpdevice.therapy.events import DeviceFaultEvent
from tpdevice.therapy.session_base import LINKED, SessionBase
from tpdevice.therapy.session_state import (
    TERMINAL,
    Ending,
    ExecutionMode,
    SessionOptions,
    SessionState,
)
from tpdevice.therapy.summary import Summary

__all__ = ["ExecutionMode", "Session", "SessionOptions", "SessionState"]

_LOGGER = logging.getLogger(__name__)

_GONE = frozenset({ConnectionState.FAILED, ConnectionState.CLOSED})


class Session(SessionBase):
    """One run of a profile on a connected gun; build it, subscribe, then await run()."""

    # --- public API ----------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """True once pause() was asked for (until resume()); the motor is then stopped."""
        return self._pause_wanted

    def pause(self) -> None:
        """Stop the motor and freeze the step (remaining time kept); ignored unless running."""
        if self._command("pause"):
            self._pause_wanted = True

    def resume(self) -> None:
        """Continue after pause()."""
        if self._command("resume"):
            self._pause_wanted = False

    def skip(self) -> None:
        """End the current step now and start the next (while paused: right after resume)."""
        self._command("skip")

    async def stop(self, reason: str = "user") -> None:
        """STOP the motor at once and end the session aborted(reason); returns once ended."""
        if self._state in TERMINAL:
            return
        if not self._started:
            self._started = True
            self._finish_quietly(Ending(SessionState.ABORTED, reason, "stopped before it ran"))
            return
        self._request_end(Ending(SessionState.ABORTED, reason, "stopped"))
        await asyncio.gather(*self._stop_tasks, return_exceptions=True)
        await self._done.wait()

    async def run(self) -> Summary:
        """Run to completed / aborted / failed and return the summary (cancel: STOP, re-raise)."""
        if self._started:
            if self._state in TERMINAL:
                return self.summary()
            raise SessionError(f"session {self.id} is already running")
        self._started = True
        self._wake_future = asyncio.get_running_loop().create_future()
        readers = [
            asyncio.create_task(self._read_telemetry(), name=f"session {self.id} telemetry"),
            asyncio.create_task(self._read_events(), name=f"session {self.id} events"),
        ]
        unsubscribe = self.client.subscribe_state(self._on_link_state)
        try:
            ending = await self._guarded_drive()
        finally:
            unsubscribe()
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        return await self._finish(ending)

    # --- the control loop -----------------------------------------------------------------

    async def _guarded_drive(self) -> Ending:
        """_drive(); any exception or cancellation still ends with the motor stopped."""
        try:
            return await self._drive()
        except asyncio.CancelledError:
            ending = Ending(SessionState.ABORTED, "cancelled", "the session task was cancelled")
            await asyncio.shield(self._finish(ending))
            raise
        except TpDeviceError as err:
            return Ending(SessionState.FAILED, "device_error", str(err))
        except Exception as err:
            text = f"{type(err).__name__}: {err}"
            await asyncio.shield(self._finish(Ending(SessionState.FAILED, "internal_error", text)))
            raise

    async def _drive(self) -> Ending:
        """Start, then loop: heartbeat, flags, deadlines; sleep until the next one or a wake."""
        self._emit_started()
        self._state = SessionState.RUNNING
        self._t0_s = self.clock.now_s()
        try:
            self._t0_s = await self._runner.begin()
        except DeviceConnectionError:
            if self.client.state in LINKED:
                raise  # else the loop sees the link lost and recovers
        next_beat_s = self.clock.now_s()
        while True:
            now_s = self.clock.now_s()
            if now_s >= next_beat_s:
                next_beat_s = self._beat(next_beat_s, now_s)
            ending = await self._tick(now_s)
            if ending is not None:
                return ending
            await self._wait(min(next_beat_s, self._next_deadline_s()))

    def _beat(self, due_s: float, now_s: float) -> float:
        """One heartbeat; the next is due one interval later (never a burst to catch up)."""
        heartbeat = self.client.heartbeat
        heartbeat.beat()
        next_s = due_s + heartbeat.interval_s
        return next_s if next_s > now_s else now_s + heartbeat.interval_s

    async def _tick(self, now_s: float) -> Ending | None:
        """Handle what is due: an end, the link, commands, step deadlines."""
        try:
            return await self._tick_once(now_s)
        except DeviceConnectionError:
            if self.client.state in LINKED:
                raise
            return None  # the link dropped under a command: the next tick sees it lost

    async def _tick_once(self, now_s: float) -> Ending | None:
        if self._ending is not None:
            return self._ending
        if self._runner.device_abort is not None:
            return Ending(SessionState.ABORTED, "device_fault", self._runner.device_abort)
        ending = await self._check_link(now_s)
        if ending is not None or self._link_lost:
            return ending
        await self._run_commands()
        if self._ending is None and not self._user_paused:
            await self._runner.on_time(self.clock.now_s())
        if self._ending is None and self._runner.done:
            return Ending(SessionState.COMPLETED, "", "")
        return self._ending

    def _next_deadline_s(self) -> float:
        if self._link_lost:
            return self._grace_end_s
        return math.inf if self._user_paused else self._runner.next_deadline_s()

    async def _wait(self, deadline_s: float) -> None:
        """Sleep on the session clock until deadline_s, or until something wakes the loop."""
        wake = self._wake_future
        assert wake is not None
        if not wake.done():
            if math.isinf(deadline_s):
                await asyncio.wait((wake,))
            else:
                sleeper = asyncio.ensure_future(self.clock.sleep_until(deadline_s))
                try:
                    await asyncio.wait((sleeper, wake), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
        if wake.done():
            self._wake_future = asyncio.get_running_loop().create_future()

    # --- link loss and commands -------------------------------------------------------------

    async def _check_link(self, now_s: float) -> Ending | None:
        """Pause on a lost link, fail after the grace, recover when it is back."""
        state = self.client.state
        if state in _GONE:
            return Ending(SessionState.FAILED, "link_lost", f"{self.client.address}: {state.value}")
        if state not in LINKED:
            if not self._link_lost:
                self._on_link_lost(now_s)
            elif now_s >= self._grace_end_s:
                grace = f"{self.options.reconnect_grace_s:g}"
                text = f"{self.client.address}: the link did not come back within {grace} s"
                return Ending(SessionState.FAILED, "link_lost", text)
            return None
        if self._link_lost:
            await self._on_link_back()
        return None

    def _on_link_lost(self, now_s: float) -> None:
        self._link_lost = True
        self._grace_end_s = now_s + self.options.reconnect_grace_s
        if not self._user_paused:
            self._runner.link_lost(now_s)
            self._enter_pause(now_s, "link_lost")

    async def _on_link_back(self) -> None:
        if not self._user_paused:
            try:
                await self._runner.recover(self.clock.now_s())
            except DeviceConnectionError:
                if self.client.state in LINKED:
                    raise
                return  # lost again: keep waiting within the same grace
            self._leave_pause(self.clock.now_s(), "reconnected")
        self._link_lost = False
        self._link_back_s = self.clock.now_s()

    async def _run_commands(self) -> None:
        """pause / resume / skip in order; a skip while paused waits for the resume."""
        kept: collections.deque[str] = collections.deque()
        while self._commands and self._ending is None:
            command = self._commands.popleft()
            now_s = self.clock.now_s()
            if command == "pause" and not self._user_paused:
                await self._runner.pause(now_s)
                self._user_paused = True
                self._enter_pause(now_s, "user")
            elif command == "resume" and self._user_paused:
                await self._runner.resume(now_s)
                self._user_paused = False
                self._leave_pause(self.clock.now_s(), "user")
            elif command == "skip" and self._user_paused:
                kept.append(command)
            elif command == "skip":
                await self._runner.skip(now_s)
        self._commands.extendleft(reversed(kept))

    def _command(self, command: str) -> bool:
        if not self._started or self._state in TERMINAL or self._ending is not None:
            return False
        self._commands.append(command)
        self._wake()
        return True

    # --- readers ----------------------------------------------------------------------------

    async def _read_telemetry(self) -> None:
        stream = self.client.telemetry()
        try:
            async for sample in stream:
                self._on_sample(sample)
        finally:
            stream.close()

    def _on_sample(self, sample: Telemetry) -> None:
        """Contact and coaching from one sample; the cap stops the motor at once."""
        ctx, now_s = self._ctx, self.clock.now_s()
        ctx.time_map.add_arrival(sample.device_time_ms, now_s)
        changed = ctx.contact.update(sample)
        if self._state is not SessionState.RUNNING or self._ending is not None:
            return
        if changed and self._runner.on_contact(now_s):
            self._wake()
        if not self.timeline.fit.force_sensing:
            return
        step = ctx.progress.current
        coach_low = step is None or not step.contact_timed or ctx.contact.in_contact
        verdict = ctx.coach.sample(sample.force_n, now_s, coach_low=coach_low)
        if verdict is Verdict.OVER_CAP:
            cap = f"{self.timeline.fit.force_cap_n:g}"
            detail = f"{sample.force_n:.1f} N measured above the {cap} N cap"
            self._request_end(Ending(SessionState.ABORTED, "over_pressure", detail))
        elif verdict is not None:
            ctx.progress.coach(verdict, sample.force_n)

    async def _read_events(self) -> None:
        stream = self.client.events()
        try:
            async for event in stream:
                if isinstance(event, Fault):
                    self._on_fault(event)
                else:
                    self._runner.on_step_event(event)
                self._wake()
        finally:
            stream.close()

    def _on_fault(self, fault: Fault) -> None:
        """device.fault; an active fault (the device stopped the motor) aborts the session."""
        code = fault.code.name.lower()
        progress = self._ctx.progress
        current = progress.current
        index = progress.note_fault(code) if fault.active else None
        if fault.active:
            self._faults.append(code)
        self._emit(
            DeviceFaultEvent, code=code, active=fault.active, device_time_ms=fault.device_time_ms,
            step_index=index if index is not None else (current.index if current else None),
        )  # fmt: skip
        if fault.active and not self._expected_fault(fault):
            self._request_end(Ending(SessionState.ABORTED, "device_fault", code))

    def _expected_fault(self, fault: Fault) -> bool:
        """The watchdog tripping while the link was down (or a late report of that)."""
        if fault.code is not FaultCode.WATCHDOG:
            return False
        if self._link_lost:
            return True
        time_map = self._ctx.time_map
        return time_map.ready and time_map.to_session_s(fault.device_time_ms) < self._link_back_s

    def _on_link_state(self, old: ConnectionState, new: ConnectionState) -> None:
        self._wake()
