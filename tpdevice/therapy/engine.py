"""The session engine: one profile run on one gun (host or firmware mode), told as events.

    session = Session(client, profile, side="left", clock=RealClock())
    events = session.subscribe()          # every event from now on, in order, none lost
    summary = await session.run()         # until completed / aborted / failed
    session.pause(); session.resume(); session.skip(); await session.stop()

One control loop (one task) runs step deadlines and heartbeats on the session clock; while
it awaits a command's ACK a helper task it owns goes on beating, so the device watchdog never
starves. Two reader tasks take telemetry (contact, coaching, the over-pressure stop) and
device events (faults, STEP_EVENTs). See docs/session-engine.md. Choices made here:

- pause/resume/skip are queued and done by the loop in order; stop() sends STOP itself, at
  once. A skip while paused takes effect at resume. A pause is taken before its STOP goes
  out, so a link lost under that STOP cannot undo it; a pause asked while a setpoint is in
  flight wins (host mode sends no START after it). Nothing sends START/run/resume once a
  stop or an abort is under way.
- Link lost: session.paused(link_lost); within reconnect_grace_s of the client coming back,
  device time is synced again (TIME_SYNC; a rebooted device is mapped anew), then host mode
  re-sends the setpoint and START, firmware mode STOPs whatever still runs and uploads the
  rest (the current step with its remaining time) and runs it. A link lost while the user
  had paused, or a pause asked during the outage, stays paused: STOP, no START.
- Any active device FAULT ends the session aborted(device_fault, detail=code) after a
  device.fault event: the device already stopped the motor, and a session is not resumed
  on its own after a fault. A watchdog fault raised while the link was down is expected.
- Firmware mode skip: abort the program, upload the steps after the skipped one, run.
- Cancelling run() still ends the session (STOP, aborted(cancelled)) before re-raising.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
from collections.abc import Awaitable
from typing import TypeVar

from tpdevice.device.errors import DeviceConnectionError
from tpdevice.device.state import ConnectionState
from tpdevice.errors import TpDeviceError
from tpdevice.protocol import StopReason
from tpdevice.therapy.compat import SessionError
from tpdevice.therapy.session_base import LINKED
from tpdevice.therapy.session_readers import SessionReaders
from tpdevice.therapy.session_state import (
    TERMINAL,
    Ending,
    ExecutionMode,
    SessionOptions,
    SessionState,
)
from tpdevice.therapy.summary import Summary
from tpdevice.therapy.timesync import sync_time

__all__ = ["ExecutionMode", "Session", "SessionOptions", "SessionState"]

_LOGGER = logging.getLogger(__name__)

_GONE = frozenset({ConnectionState.FAILED, ConnectionState.CLOSED})
T = TypeVar("T")


class Session(SessionReaders):
    """One run of a profile on a connected gun; build it, subscribe, then await run()."""

    # --- public API ----------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """True once pause() was asked for (until resume()); the motor is then stopped."""
        return self._ctx.pause_wanted

    def pause(self) -> None:
        """Stop the motor and freeze the step (remaining time kept); ignored unless running."""
        if self._command("pause"):
            self._ctx.pause_wanted = True

    def resume(self) -> None:
        """Continue after pause()."""
        if self._command("resume"):
            self._ctx.pause_wanted = False

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
        readers = self._start_readers()
        unsubscribe = self.client.subscribe_state(self._on_link_state)
        try:
            ending = await self._guarded_drive()
        finally:
            unsubscribe()
            for reader in readers:
                reader.cancel()
        summary = await self._finish_shielded(ending)
        await asyncio.gather(*readers, return_exceptions=True)
        return summary

    # --- the control loop -----------------------------------------------------------------

    async def _guarded_drive(self) -> Ending:
        """_drive(); any exception or cancellation still ends with the motor stopped."""
        try:
            return await self._drive()
        except asyncio.CancelledError:
            ending = Ending(SessionState.ABORTED, "cancelled", "the session task was cancelled")
            await self._finish_shielded(ending)
            raise
        except TpDeviceError as err:
            return Ending(SessionState.FAILED, "device_error", str(err))
        except Exception as err:
            text = f"{type(err).__name__}: {err}"
            await self._finish_shielded(Ending(SessionState.FAILED, "internal_error", text))
            raise

    async def _drive(self) -> Ending:
        """Start, then loop: flags and deadlines, heartbeat; sleep until the next one or a wake.

        A step due at a beat goes first: its setpoint is written, and while its ACK is awaited
        the helper beats (the beat is late by that one write, never by the ACK).
        """
        self._emit_started()
        self._state = SessionState.RUNNING
        self._t0_s = self._ctx.progress.t0_s = self._next_beat_s = self.clock.now_s()
        try:
            self._t0_s = await self._beating(self._runner.begin())
        except DeviceConnectionError:
            if self.client.state in LINKED:
                raise  # else the loop sees the link lost and recovers
        while True:
            ending = await self._tick(self.clock.now_s())
            if ending is not None:
                return ending
            self._beat_if_due()
            await self._wait(min(self._next_beat_s, self._next_deadline_s()))

    def _beat_if_due(self) -> None:
        """One heartbeat when due; the next one interval later (never a burst to catch up)."""
        now_s = self.clock.now_s()
        if now_s < self._next_beat_s:
            return
        heartbeat = self.client.heartbeat
        heartbeat.beat()
        next_s = self._next_beat_s + heartbeat.interval_s
        self._next_beat_s = next_s if next_s > now_s else now_s + heartbeat.interval_s

    async def _beating(self, work: Awaitable[T]) -> T:
        """Await the loop's device I/O; meanwhile a helper task goes on with the heartbeat."""
        beater = asyncio.ensure_future(self._beat_meanwhile())
        try:
            return await work
        finally:
            beater.cancel()

    async def _beat_meanwhile(self) -> None:
        """Beat a due beat at the first await of the loop's I/O, then on every deadline."""
        while True:
            self._beat_if_due()
            await self.clock.sleep_until(self._next_beat_s)

    async def _tick(self, now_s: float) -> Ending | None:
        """Handle what is due: an end, the link, commands, step deadlines."""
        try:
            return await self._beating(self._tick_once(now_s))
        except DeviceConnectionError:
            if self.client.state in LINKED:
                raise
            if not self._link_lost:  # the link dropped under a command: freeze right now
                self._on_link_lost(self.clock.now_s())
            return None

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
        """Sleep on the session clock until deadline_s, or until something wakes the loop.

        The sleeper resolves the wake future itself: at a deadline the loop runs one hop
        after the clock wakes, not two (asyncio.wait's callback would add one).
        """
        wake = self._wake_future
        assert wake is not None
        if not wake.done():
            if math.isinf(deadline_s):
                await wake
            else:
                alarm = asyncio.ensure_future(self._alarm(deadline_s, wake))
                try:
                    await wake
                finally:
                    alarm.cancel()
        self._wake_future = asyncio.get_running_loop().create_future()

    async def _alarm(self, deadline_s: float, wake: asyncio.Future[None]) -> None:
        """Resolve `wake` at deadline_s on the session clock (unless something did first)."""
        await self.clock.sleep_until(deadline_s)
        if not wake.done():
            wake.set_result(None)

    # --- link loss and commands -------------------------------------------------------------

    async def _check_link(self, now_s: float) -> Ending | None:
        """Pause on a lost link, fail after the grace, recover when it is back."""
        state = self.client.state
        if self._watchdog_outages > self._outages_taken and state in LINKED:
            self._outages_taken = self._watchdog_outages  # a watchdog trip: as a lost link
            self._on_link_lost(now_s)
        if state in _GONE:
            return Ending(SessionState.FAILED, "link_lost", f"{self.client.address}: {state.value}")
        if state not in LINKED:
            if not self._link_lost:
                self._on_link_lost(now_s)
            elif now_s >= self._grace_end_s:
                grace = f"{self.options.reconnect_grace_s:g} s"
                text = f"{self.client.address}: the link did not come back within {grace}"
                if self._link_returns:  # back, but lost again before the session resumed
                    text = (
                        f"{self.client.address}: the session could not resume within {grace}:"
                        f" the link came back {_times(self._link_returns)}, lost each time"
                    )
                return Ending(SessionState.FAILED, "link_lost", text)
            return None
        if self._link_lost:
            await self._on_link_back()
        return None

    def _on_link_lost(self, now_s: float) -> None:
        self._link_lost = True
        self._link_returns = 0
        self._grace_end_s = now_s + self.options.reconnect_grace_s
        self._runner.link_lost(now_s)
        if not self._user_paused:
            self._enter_pause(now_s, "link_lost")

    async def _on_link_back(self) -> None:
        """Sync device time again; go on, unless a pause is in force or asked (then STOP).

        Lost again meanwhile: the DeviceConnectionError leaves the link lost, same grace.
        """
        await sync_time(self._ctx)
        wanted = self._ctx.pause_wanted
        if self._user_paused:
            await self._runner.halt(StopReason.USER)
        elif not wanted:  # else the queued pause comes next: it STOPs, nothing STARTs
            await self._runner.recover(self.clock.now_s())
        self._link_lost = False
        self._link_back_s = self.clock.now_s()
        if not self._user_paused and not wanted:
            self._leave_pause(self._link_back_s, "reconnected")

    async def _run_commands(self) -> None:
        """pause / resume / skip in order (also those asked meanwhile); a skip while paused
        waits for the resume."""
        kept: collections.deque[str] = collections.deque()
        try:
            while self._commands and self._ending is None:
                command = self._commands.popleft()
                if command == "skip" and self._user_paused:
                    kept.append(command)
                else:
                    await self._run_command(command)
        finally:
            self._commands.extendleft(reversed(kept))

    async def _run_command(self, command: str) -> None:
        now_s = self.clock.now_s()
        if command == "pause" and not self._user_paused:
            self._user_paused = True  # first: a link lost under the STOP must not undo it
            try:
                await self._runner.pause(now_s)
            finally:
                self._enter_pause(now_s, "user")
        elif command == "resume" and self._user_paused:
            self._user_paused = False  # first: a link lost under the START pauses for it
            await self._runner.resume(now_s)
            self._leave_pause(self.clock.now_s(), "user")
        elif command == "skip":
            await self._runner.skip(now_s)

    def _command(self, command: str) -> bool:
        if not self._started or self._state in TERMINAL or self._ending is not None:
            return False
        self._commands.append(command)
        self._wake()
        return True

    def _on_link_state(self, old: ConnectionState, new: ConnectionState) -> None:
        if new is ConnectionState.READY and old not in LINKED:
            if self._link_lost:
                self._link_returns += 1
            # Beat at once on a new link: a motor still running from before the outage is
            # fed now, not one interval later, when its watchdog may already have tripped.
            self._next_beat_s = self.clock.now_s()
            self._beat_if_due()
        self._wake()


def _times(count: int) -> str:
    """'1 time', '3 times'."""
    return f"{count} time" if count == 1 else f"{count} times"
