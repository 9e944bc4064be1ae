"""The two reader tasks of a session: telemetry (contact, coaching, the cap) and device events."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tpdevice.device.stream import LatestStream
from tpdevice.protocol import Fault, FaultCode, Telemetry
from tpdevice.therapy.coach import Verdict
from tpdevice.therapy.events import DeviceFaultEvent
from tpdevice.therapy.session_base import SessionBase
from tpdevice.therapy.session_state import Ending, SessionState
from tpdevice.therapy.timesync import note_arrival

__all__ = ["SessionReaders"]

_LOGGER = logging.getLogger(__name__)
# Watchdog trips on a live link taken as outages the host did not notice; one more aborts.
_MAX_WATCHDOG_OUTAGES = 3


class SessionReaders(SessionBase):
    """Reads telemetry and device events beside the control loop; wakes it when needed."""

    def _start_readers(self) -> list[asyncio.Task[None]]:
        """Subscribe to both streams now (nothing sent from here on is missed), then read.

        A reader that dies of an error ends the session failed; its stream closes with it.
        """
        telemetry, events = self.client.telemetry(), self.client.events()
        return [
            self._reader(self._read_telemetry(telemetry), "telemetry", telemetry),
            self._reader(self._read_events(events), "events", events),
        ]

    def _reader(self, work: Any, what: str, stream: LatestStream[Any]) -> asyncio.Task[None]:
        reader: asyncio.Task[None] = asyncio.create_task(work, name=f"session {self.id} {what}")
        reader.add_done_callback(lambda _: stream.close())
        reader.add_done_callback(self._on_reader_done)
        return reader

    def _on_reader_done(self, reader: asyncio.Task[None]) -> None:
        """A reader that raised: end the session failed with that error (the STOP goes out)."""
        if reader.cancelled() or (error := reader.exception()) is None:
            return
        _LOGGER.error("%s: %s died", self.client.address, reader.get_name(), exc_info=error)
        detail = f"{reader.get_name()}: {type(error).__name__}: {error}"
        self._request_end(Ending(SessionState.FAILED, "internal_error", detail))

    async def _read_telemetry(self, stream: LatestStream[Telemetry]) -> None:
        async for sample in stream:
            self._on_sample(sample)

    def _on_sample(self, sample: Telemetry) -> None:
        """Contact and coaching from one sample; the cap stops the motor at once."""
        ctx, now_s = self._ctx, self.clock.now_s()
        note_arrival(ctx, sample.device_time_ms, now_s)
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

    async def _read_events(self, stream: LatestStream[Any]) -> None:
        async for event in stream:
            if isinstance(event, Fault):
                self._on_fault(event)
            else:
                self._runner.on_step_event(event)
            self._wake()

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
        if not fault.active or self._expected_fault(fault):
            return
        if self._outage_missed(fault):
            self._watchdog_outages += 1
            self._runner.device_abort = None  # the program stopped for this same trip
            self._runner.link_lost(self.clock.now_s())  # its later reports are stale
            self._wake()  # the loop recovers as after a lost link
            return
        self._request_end(Ending(SessionState.ABORTED, "device_fault", code))

    def _outage_missed(self, fault: Fault) -> bool:
        """A watchdog trip on a live link: heartbeats lost in an outage too short to notice."""
        return (
            fault.code is FaultCode.WATCHDOG
            and self._state is SessionState.RUNNING
            and self._ending is None
            and self._watchdog_outages < _MAX_WATCHDOG_OUTAGES
        )

    def _expected_fault(self, fault: Fault) -> bool:
        """The watchdog tripping while the link was down (or a late report of that)."""
        if fault.code is not FaultCode.WATCHDOG:
            return False
        if self._link_lost:
            return True
        time_map = self._ctx.time_map
        return time_map.ready and time_map.to_session_s(fault.device_time_ms) < self._link_back_s
