"""The daemon: many guns in one process, their events journaled, served to API and MQTT clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tpdevice.daemon.config import DaemonConfig, DeviceConfig
from tpdevice.daemon.control import (
    CommandReply,
    ControlError,
    DeviceInfo,
    ErrorCode,
    EventEnvelope,
    ProfileSummary,
    SessionInfo,
    StartRequest,
    StopAllReply,
    TelemetrySample,
)
from tpdevice.daemon.fanout import Fanout
from tpdevice.daemon.guns import GunSlot
from tpdevice.daemon.journal import Journal
from tpdevice.daemon.journal_queries import JournalReader
from tpdevice.daemon.metrics import DaemonMetrics
from tpdevice.daemon.sessions import SessionManager
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.clock import SessionClock
from tpdevice.therapy.commands import SessionCommand
from tpdevice.therapy.engine import ExecutionMode
from tpdevice.therapy.events import Event
from tpdevice.therapy.loader import Catalogue, load_catalogue
from tpdevice.therapy.runner import session_clock

__all__ = ["GunDaemon"]

_LOGGER = logging.getLogger(__name__)
_STOP_TIMEOUT_S = 2.0
_SESSION_ENDS = frozenset({"session.completed", "session.aborted", "session.failed"})
REMOVED_STATE = "removed"  # a watched gun's last state once it left the configuration


class GunDaemon:
    """The guns of one config: connected, fed while idle, stoppable at once, their events kept."""

    def __init__(
        self,
        config: DaemonConfig,
        journal: Journal,
        *,
        client_options: dict[str, Any] | None = None,
        sim_options: dict[str, Any] | None = None,
        catalogue: Catalogue | None = None,
        clock: Callable[[], SessionClock] | None = None,
        session_mode: ExecutionMode = ExecutionMode.AUTO,
    ) -> None:
        self.config = config
        self.journal = journal
        self.catalogue = catalogue or load_catalogue()
        time_scale = float((sim_options or {}).get("time_scale", 1.0))
        self.metrics = DaemonMetrics()
        journal.on_event_lag = self.metrics.event_lag.observe
        self._device_updates: Fanout[DeviceInfo] = Fanout(1024, "devices")
        self._telemetry: Fanout[TelemetrySample] = Fanout(64, "telemetry")
        self._events: Fanout[EventEnvelope] = Fanout(100_000, "events")
        self._client_options = client_options
        self._sim_options = sim_options
        self.slots = {device.id: self._new_slot(device) for device in config.devices}
        self.metrics.guns_configured.set(len(self.slots))
        self.session_manager = SessionManager(
            journal, lambda: self.catalogue, self.record,
            clock or (lambda: session_clock(time_scale)), self._changed, session_mode,
        )  # fmt: skip

    def _new_slot(self, device: DeviceConfig) -> GunSlot:
        return GunSlot(
            device, on_change=self._changed, on_telemetry=self._on_telemetry,
            client_options=self._client_options, sim_options=self._sim_options,
        )  # fmt: skip

    async def add_device(self, device: DeviceConfig) -> DeviceInfo:
        """Adopt a gun now; ControlError(DEVICE_EXISTS) when its id or address is driven."""
        for slot in self.slots.values():
            if device.id == slot.config.id or device.address == slot.config.address:
                raise ControlError(
                    ErrorCode.DEVICE_EXISTS,
                    f"{slot.config.id} already drives {slot.config.address}"
                    if device.address == slot.config.address
                    else f"a gun with id {device.id!r} is already driven ({slot.config.address})",
                )
        slot = self.slots[device.id] = self._new_slot(device)
        self.config = self.config.model_copy(update={"devices": [*self.config.devices, device]})
        self.metrics.guns_configured.set(len(self.slots))
        if device.auto_connect:
            await slot.open()
        else:
            self._changed(slot)
        return slot.info()

    async def remove_device(self, device_id: str) -> DeviceInfo:
        """Drop a gun (its link closed, which stops the motor); refused while a session runs."""
        slot = self.slot(device_id)
        if slot.session_id is not None:
            raise ControlError(
                ErrorCode.DEVICE_BUSY, f"{device_id} is running session {slot.session_id}"
            )
        del self.slots[device_id]
        devices = [d for d in self.config.devices if d.id != device_id]
        self.config = self.config.model_copy(update={"devices": devices})
        self.metrics.guns_configured.set(len(self.slots))
        await slot.close()
        self.metrics.guns_connected.set(sum(s.connected for s in self.slots.values()))
        removed = slot.info().model_copy(update={"state": REMOVED_STATE})
        self._device_updates.publish(removed)  # watchers (the MQTT bridge) forget the gun
        return removed

    async def start(self) -> None:
        """Open every auto-connect gun (each connects in the background)."""
        await asyncio.gather(
            *(slot.open() for slot in self.slots.values() if slot.config.auto_connect)
        )

    async def close(self) -> None:
        """End every session, stop every motor, close every link, end every stream."""
        await self.session_manager.stop_all()
        await asyncio.gather(*(slot.close() for slot in self.slots.values()))
        for fanout in (self._device_updates, self._telemetry, self._events):
            fanout.close()

    def slot(self, device_id: str) -> GunSlot:
        """The configured gun `device_id`; ControlError(UNKNOWN_DEVICE) if none."""
        slot = self.slots.get(device_id)
        if slot is None:
            known = ", ".join(sorted(self.slots)) or "none configured"
            raise ControlError(ErrorCode.UNKNOWN_DEVICE, f"no device {device_id!r} ({known})")
        return slot

    def devices(self) -> list[DeviceInfo]:
        """Every configured gun now."""
        return [slot.info() for slot in self.slots.values()]

    def watch_devices(self) -> AsyncIterator[DeviceInfo]:
        """Each gun now, then each change."""
        return self._device_updates.subscribe(self.devices())

    def telemetry(self) -> AsyncIterator[TelemetrySample]:
        """Every gun's telemetry (a slow reader loses the oldest samples)."""
        return self._telemetry.subscribe()

    def profiles(self) -> list[ProfileSummary]:
        """The profiles sessions can run."""
        return [
            ProfileSummary(
                id=entry.profile.id,
                title=entry.profile.title,
                region=entry.profile.region,
                laterality=entry.profile.laterality.value,
                duration_s_per_side=entry.profile.pass_duration_s(),
            )
            for entry in self.catalogue.entries
        ]

    def select_profile(self, device_id: str, profile_id: str) -> DeviceInfo:
        """Choose what a start without a profile runs on this gun."""
        slot = self.slot(device_id)
        if self.catalogue.get(profile_id) is None:
            raise ControlError(ErrorCode.UNKNOWN_PROFILE, f"no profile {profile_id!r}")
        slot.selected_profile = profile_id
        self._changed(slot)
        return slot.info()

    def sessions(self) -> list[SessionInfo]:
        """Sessions running now and those ended since the daemon started."""
        return self.session_manager.all()

    def session(self, session_id: str) -> SessionInfo:
        """One session."""
        return self.session_manager.info(session_id)

    async def start_session(self, request: StartRequest) -> SessionInfo:
        """Start a profile on a configured gun."""
        return await self.session_manager.start(self.slot(request.device), request)

    async def command(self, session_id: str, command: SessionCommand) -> CommandReply:
        """Pause, resume, skip or stop a session."""
        return await self.session_manager.command(session_id, command)

    async def stop_all(self) -> StopAllReply:
        """STOP every open gun at once, concurrently (a session ends aborted by the user);
        say which did not answer."""
        slots = [slot for slot in self.slots.values() if slot.client is not None]
        results = await asyncio.gather(
            *(asyncio.wait_for(self._stop_gun(slot), _STOP_TIMEOUT_S) for slot in slots),
            return_exceptions=True,
        )
        failed = {
            slot.config.id: str(result) or type(result).__name__
            for slot, result in zip(slots, results, strict=True)
            if isinstance(result, BaseException)
        }
        stopped = [slot.config.id for slot in slots if slot.config.id not in failed]
        return StopAllReply(stopped=stopped, failed=failed)

    async def _stop_gun(self, slot: GunSlot) -> None:
        if not await self.session_manager.stop_device(slot.config.id):
            await slot.stop_motor()

    def record(self, event: Event) -> int:
        """The synchronous bus sink: journal first, then live readers; the device sequence."""
        device_seq = self.journal.record(event)
        self.metrics.events.labels(type=event.type).inc()
        envelope = EventEnvelope(
            device_id=event.device, device_seq=device_seq, event=event.model_dump(mode="json")
        )
        self._events.publish(envelope)
        return device_seq

    async def events(self, after: dict[str, int]) -> AsyncIterator[EventEnvelope]:
        """Journaled events past `after`, then live ones, none twice and none missed."""
        live = self._events.subscribe()  # first, so nothing falls between replay and live
        seen = dict(after)
        await asyncio.to_thread(self.journal.flush)
        devices = sorted(set(self.journal.devices) | set(after))
        replay = await asyncio.to_thread(_journaled, self.journal.path, seen, devices)
        for device_id, seq, body in replay:
            seen[device_id] = seq
            yield EventEnvelope(device_id=device_id, device_seq=seq, event=body)
        async for envelope in live:
            if envelope.device_seq > seen.get(envelope.device_id, 0):
                seen[envelope.device_id] = envelope.device_seq
                yield envelope

    def session_events(self, session_id: str) -> AsyncIterator[EventEnvelope]:
        """One session's events, journaled ones first, then live, ending with its end event;
        ControlError(UNKNOWN_SESSION) at once if there is no such session."""
        return self._session_events(session_id, self.session(session_id).device_id)

    async def _session_events(
        self, session_id: str, device_id: str
    ) -> AsyncIterator[EventEnvelope]:
        live = self._events.subscribe()  # first, so nothing falls between replay and live
        await asyncio.to_thread(self.journal.flush)
        seen = 0
        for _, seq, body in await asyncio.to_thread(_of_session, self.journal.path, session_id):
            seen = seq
            yield EventEnvelope(device_id=device_id, device_seq=seq, event=body)
            if body.get("type") in _SESSION_ENDS:
                return
        async for envelope in live:
            if envelope.event.get("session_id") == session_id and envelope.device_seq > seen:
                seen = envelope.device_seq
                yield envelope
                if envelope.event.get("type") in _SESSION_ENDS:
                    return

    def _on_telemetry(self, sample: TelemetrySample) -> None:
        self.session_manager.on_telemetry(sample)
        self._telemetry.publish(sample)

    def _changed(self, slot: GunSlot) -> None:
        self.metrics.guns_connected.set(sum(s.connected for s in self.slots.values()))
        try:
            self._device_updates.publish(slot.info())
        except TpDeviceError as err:  # a half-open client: report on the next change
            _LOGGER.debug("%s: %s", slot.config.id, err)


def _of_session(path: Path, session_id: str) -> list[tuple[str, int, dict[str, Any]]]:
    reader = JournalReader(path)
    try:
        return reader.events(session_id=session_id, limit=10**9)
    finally:
        reader.close()


def _journaled(
    path: Path, after: dict[str, int], devices: list[str]
) -> list[tuple[str, int, dict[str, Any]]]:
    """Every event past `after` of each of `devices`, read by index from each cursor on."""
    reader = JournalReader(path)
    try:
        return reader.events_after(after, devices, limit=None)
    finally:
        reader.close()
