"""Sessions in the daemon: one per gun at a time, checked (gun, profile, dose) and journaled."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable

from tpdevice.daemon.control import (
    CommandReply,
    ControlError,
    ErrorCode,
    SessionInfo,
    StartRequest,
    TelemetrySample,
)
from tpdevice.daemon.dose import DoseCheck, DoseRefusal, check_dose
from tpdevice.daemon.guns import GunSlot
from tpdevice.daemon.journal import Journal
from tpdevice.daemon.journal_feed import SessionJournal
from tpdevice.daemon.journal_queries import JournalReader
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.clock import SessionClock
from tpdevice.therapy.commands import EndReason, SessionCommand
from tpdevice.therapy.engine import ExecutionMode, Session
from tpdevice.therapy.events import Event
from tpdevice.therapy.loader import Catalogue
from tpdevice.therapy.profile import Profile

__all__ = ["SessionManager"]

_LOGGER = logging.getLogger(__name__)
Sink = Callable[[Event], object]


@dataclasses.dataclass(slots=True)
class _Running:
    session: Session
    slot: GunSlot
    client: str | None
    feed: SessionJournal
    task: asyncio.Task[None] | None = None


class SessionManager:
    """Starts, commands and stops the daemon's sessions; ended ones stay listed until restart."""

    def __init__(
        self,
        journal: Journal,
        catalogue: Callable[[], Catalogue],
        sink: Sink,
        clock: Callable[[], SessionClock],
        on_change: Callable[[GunSlot], None],
        mode: ExecutionMode = ExecutionMode.AUTO,
    ) -> None:
        self._journal = journal
        self._mode = mode  # who times the steps: AUTO lets each gun's abilities decide
        self._catalogue = catalogue
        self._sink = sink
        self._clock = clock
        self._on_change = on_change
        self._sessions: dict[str, _Running] = {}
        self._by_device: dict[str, str] = {}  # device id -> its running session

    async def start(self, slot: GunSlot, request: StartRequest) -> SessionInfo:
        """Check everything, then start at once; ControlError with a specific code otherwise."""
        self._check_free(slot)
        profile = self._profile(request.profile)
        if request.override is None:
            await self._check_dose(profile, request, slot.config.id)
        assert slot.client is not None
        try:
            session = Session(
                slot.client, profile, side=request.side, clock=self._clock(),
                device_id=slot.config.id, mode=self._mode,
            )  # fmt: skip
        except TpDeviceError as err:
            raise ControlError(ErrorCode.INVALID_FIELD, str(err)) from None
        session.safety_confirmation = "control API"
        feed = SessionJournal(self._journal, session, self._sink)
        feed.attach(request.client, request.override)
        running = _Running(session, slot, request.client, feed)
        self._sessions[session.id] = running
        self._by_device[slot.config.id] = session.id
        slot.session_id = session.id
        running.task = asyncio.create_task(self._run(running))
        self._on_change(slot)
        return self.info(session.id)

    def info(self, session_id: str) -> SessionInfo:
        """One session as the API and MQTT describe it."""
        running = self._get(session_id)
        session = running.session
        progress = session.progress()
        return SessionInfo(
            id=session.id, device_id=session.device_id, profile_id=session.profile.id,
            side=progress.side, state=session.state.value, client=running.client,
            step_index=progress.steps_completed if session.state.value == "running" else None,
            steps_total=progress.steps_planned, elapsed_s=progress.elapsed_s,
            remaining_s=max(0.0, progress.planned_duration_s - progress.elapsed_s),
            cause=progress.cause,
        )  # fmt: skip

    def all(self) -> list[SessionInfo]:
        """Every session since the daemon started, newest last."""
        return [self.info(session_id) for session_id in self._sessions]

    async def command(self, session_id: str, command: SessionCommand) -> CommandReply:
        """Pause, resume, skip or stop; the session says whether it took it."""
        session = self._get(session_id).session
        if command is SessionCommand.STOP:
            result = await session.stop(EndReason.USER)
        else:
            result = {
                SessionCommand.PAUSE: session.pause, SessionCommand.RESUME: session.resume,
                SessionCommand.SKIP: session.skip,
            }[command]()  # fmt: skip
        reason = "" if result.reason is None else result.reason.value
        return CommandReply(
            session_id=session_id, command=command, accepted=result.accepted, reason=reason
        )

    async def stop_device(self, device_id: str) -> bool:
        """Stop the session on this gun (STOP goes out at once); False if none runs there."""
        session_id = self._by_device.get(device_id)
        if session_id is None:
            return False
        await self._sessions[session_id].session.stop(EndReason.USER)
        return True

    async def stop_all(self, reason: EndReason = EndReason.HOST) -> None:
        """End every running session (the daemon is stopping)."""
        running = [r for r in self._sessions.values() if r.task is not None and not r.task.done()]
        await asyncio.gather(*(r.session.stop(reason) for r in running), return_exceptions=True)
        await asyncio.gather(*(r.task for r in running if r.task), return_exceptions=True)

    def on_telemetry(self, sample: TelemetrySample) -> None:
        """Keep the telemetry of a gun that runs a session (the journal thins it to 5 Hz)."""
        session_id = self._by_device.get(sample.device_id)
        running = self._sessions.get(session_id) if session_id else None
        if running is not None:
            running.feed.sample(
                sample.freq_hz, sample.force_n, sample.contact, sample.battery_pct,
                sample.motor_temp_c,
            )  # fmt: skip

    async def _run(self, running: _Running) -> None:
        try:
            summary = await running.session.run()
            _LOGGER.info("session %s %s", running.session.id, summary.outcome)
        except Exception:
            _LOGGER.exception("session %s failed", running.session.id)
        finally:
            running.slot.session_id = None
            self._by_device.pop(running.slot.config.id, None)
            self._on_change(running.slot)

    def _get(self, session_id: str) -> _Running:
        running = self._sessions.get(session_id)
        if running is None:
            raise ControlError(ErrorCode.UNKNOWN_SESSION, f"no session {session_id!r}")
        return running

    def _check_free(self, slot: GunSlot) -> None:
        if slot.session_id is not None:
            other = self._sessions[slot.session_id].session
            raise ControlError(
                ErrorCode.DEVICE_BUSY,
                f"{slot.config.id} is running session {other.id} ({other.profile.id})",
            )
        if not slot.connected:
            why = slot.info().last_error or slot.info().state
            raise ControlError(
                ErrorCode.DEVICE_OFFLINE, f"{slot.config.id} is not connected: {why}"
            )

    def _profile(self, profile_id: str) -> Profile:
        entry = self._catalogue().get(profile_id)
        if entry is None:
            raise ControlError(ErrorCode.UNKNOWN_PROFILE, f"no profile {profile_id!r}")
        return entry.profile

    async def _check_dose(self, profile: Profile, request: StartRequest, device_id: str) -> None:
        check = DoseCheck(
            request.client, profile.region, request.side or "both",
            profile.motor_on_s_per_side(), profile.caps.max_work_s, profile.caps.min_recovery_h,
            device_id,
        )  # fmt: skip
        await asyncio.to_thread(self._journal.flush)
        refusal = await asyncio.to_thread(_dose, self._journal, check)
        if refusal is not None:
            raise ControlError(ErrorCode.DOSE_REFUSED, f"{refusal} (override with a reason)")


def _dose(journal: Journal, check: DoseCheck) -> DoseRefusal | None:
    reader = JournalReader(journal.path)
    try:
        return check_dose(reader, check, time.time())
    finally:
        reader.close()
