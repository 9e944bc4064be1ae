"""The two reader tasks of a session: telemetry (contact, coaching, the cap) and device events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from tpdevice.device.stream import LatestStream
from tpdevice.protocol import Fault, FaultCode, Telemetry
from tpdevice.therapy.coach import Verdict
from tpdevice.therapy.commands import EndReason
from tpdevice.therapy.events import DeviceFaultEvent
from tpdevice.therapy.session_parts import SessionParts
from tpdevice.therapy.session_state import Ending, SessionState
from tpdevice.therapy.timesync import note_arrival

__all__ = ["SessionReaders"]

# Watchdog trips on a live link taken as outages the host did not notice; one more aborts.
_MAX_WATCHDOG_OUTAGES = 3
# Faults that mean "the link was interrupted": the watchdog, and a new HELLO stopping the motor.
_LINK_FAULTS = frozenset({FaultCode.WATCHDOG, FaultCode.NEW_HOST})

_LOGGER = logging.getLogger(__name__)


class SessionReaders:
    """Reads telemetry and device events beside the control loop; wakes it when needed."""

    def __init__(self, parts: SessionParts, name: str) -> None:
        self._parts = parts
        self._name = name

    def start(self) -> list[asyncio.Task[None]]:
        """Subscribe to both streams now (nothing sent from here on is missed), then read.

        A reader that dies of an error ends the session failed; its stream closes with it.
        """
        client = self._parts.client
        telemetry, events = client.telemetry(), client.events()
        return [
            self._reader(self._read_telemetry(telemetry), "telemetry", telemetry),
            self._reader(self._read_events(events), "events", events),
        ]

    def _reader(
        self, work: Coroutine[Any, Any, None], what: str, stream: LatestStream[Any]
    ) -> asyncio.Task[None]:
        reader = asyncio.create_task(work, name=f"{self._name} {what}")
        reader.add_done_callback(lambda _: stream.close())
        reader.add_done_callback(self._on_reader_done)
        return reader

    def _on_reader_done(self, reader: asyncio.Task[None]) -> None:
        """A reader that raised: end the session failed with that error (the STOP goes out)."""
        if reader.cancelled() or (error := reader.exception()) is None:
            return
        parts = self._parts
        _LOGGER.error("%s: %s died", parts.client.address, reader.get_name(), exc_info=error)
        detail = f"{reader.get_name()}: {type(error).__name__}: {error}"
        self._end(Ending(SessionState.FAILED, EndReason.INTERNAL_ERROR, detail))

    def _end(self, ending: Ending) -> None:
        self._parts.end.request(ending, self._parts.wake)

    async def _read_telemetry(self, stream: LatestStream[Telemetry]) -> None:
        async for sample in stream:
            self._on_sample(sample)

    def _on_sample(self, sample: Telemetry) -> None:
        """Contact and coaching from one sample; the cap stops the motor at once."""
        parts = self._parts
        ctx, now_s = parts.ctx, parts.clock.now_s()
        note_arrival(ctx, sample.device_time_ms, now_s)
        changed = ctx.contact.update(sample)
        if not parts.begun or parts.pause.paused or parts.end.asked or parts.end.final:
            return
        if changed and parts.runner.on_contact(now_s):
            parts.wake()
        fit = parts.timeline.fit
        if not fit.force_sensing:
            return
        step = ctx.progress.current
        coach_low = step is None or not step.contact_timed or ctx.contact.in_contact
        verdict = ctx.coach.sample(sample.force_n, now_s, coach_low=coach_low)
        if verdict is Verdict.OVER_CAP:
            detail = f"{sample.force_n:.1f} N measured above the {fit.force_cap_n:g} N cap"
            self._end(Ending(SessionState.ABORTED, EndReason.OVER_PRESSURE, detail))
        elif verdict is not None:
            ctx.progress.coach(verdict, sample.force_n)

    async def _read_events(self, stream: LatestStream[Any]) -> None:
        async for event in stream:
            if isinstance(event, Fault):
                self._on_fault(event)
            else:
                self._parts.runner.on_step_event(event)
            self._parts.wake()

    def _on_fault(self, fault: Fault) -> None:
        """device.fault; an active fault (the device stopped the motor) aborts the session."""
        parts = self._parts
        code = fault.code.name.lower()
        progress = parts.ctx.progress
        current = progress.current
        index = progress.note_fault(code) if fault.active else None
        if fault.active:
            parts.faults.append(code)
        parts.events.emit(
            DeviceFaultEvent, code=code, active=fault.active, device_time_ms=fault.device_time_ms,
            step_index=index if index is not None else (current.index if current else None),
        )  # fmt: skip
        if not fault.active or self._expected_fault(fault):
            return
        if self._outage_missed(fault):
            parts.link.watchdog_outages += 1
            parts.runner.device_abort = None  # the program stopped for this same trip
            parts.runner.link_lost(parts.clock.now_s())  # its later reports are stale
            parts.wake()  # the loop recovers as after a lost link
            return
        self._end(Ending(SessionState.ABORTED, EndReason.DEVICE_FAULT, code))

    def _outage_missed(self, fault: Fault) -> bool:
        """A watchdog trip on a live link: heartbeats lost in an outage too short to notice."""
        parts = self._parts
        return (
            fault.code in _LINK_FAULTS
            and parts.end.final is None
            and not parts.pause.taken
            and parts.link.watchdog_outages < _MAX_WATCHDOG_OUTAGES
        )

    def _expected_fault(self, fault: Fault) -> bool:
        """The watchdog tripping while the link was down, or our reconnect's HELLO stopping the
        motor (or a late report of either): the recovery after the outage starts it again."""
        if fault.code not in _LINK_FAULTS:
            return False
        link = self._parts.link
        if link.lost:
            return True
        time_map = self._parts.ctx.time_map
        return time_map.ready and time_map.to_session_s(fault.device_time_ms) < link.back_s
