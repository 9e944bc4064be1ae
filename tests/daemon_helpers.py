"""A stand-in daemon for the control API and CLI tests: one gun, scripted events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tpdevice.daemon.control import (
    CommandReply,
    ControlError,
    DeviceInfo,
    ErrorCode,
    EventEnvelope,
    ProfileSummary,
    SessionCommand,
    SessionInfo,
    StartRequest,
    StopAllReply,
    TelemetrySample,
)

GUN = DeviceInfo(id="gun-1", name="Room 2", address="sim?id=1", driver="native", state="ready")


class FakeDaemon:
    """Knows one gun; its events are a list plus whatever `emit` adds while streaming."""

    def __init__(self) -> None:
        self.started: list[StartRequest] = []
        self.journal: list[EventEnvelope] = []
        self.live: asyncio.Queue[EventEnvelope] = asyncio.Queue()
        self.device_updates: asyncio.Queue[DeviceInfo] = asyncio.Queue()
        self.samples: asyncio.Queue[TelemetrySample] = asyncio.Queue()
        self.gun = GUN

    def devices(self) -> list[DeviceInfo]:
        return [self.gun]

    def profiles(self) -> list[ProfileSummary]:
        return [ProfileSummary(id="piriformis", title="Piriformis", region="hip",
                               laterality="bilateral", duration_s_per_side=300.0)]  # fmt: skip

    def select_profile(self, device_id: str, profile_id: str) -> DeviceInfo:
        if profile_id not in {p.id for p in self.profiles()}:
            raise ControlError(ErrorCode.UNKNOWN_PROFILE, f"no profile {profile_id!r}")
        self.update_gun(selected_profile=profile_id)
        return self.gun

    def update_gun(self, **changes: object) -> None:
        """The gun changed (link, battery, session): watchers hear of it."""
        self.gun = self.gun.model_copy(update=changes)
        self.device_updates.put_nowait(self.gun)

    async def watch_devices(self) -> AsyncIterator[DeviceInfo]:
        yield self.gun
        while True:
            yield await self.device_updates.get()

    async def telemetry(self) -> AsyncIterator[TelemetrySample]:
        while True:
            yield await self.samples.get()

    def sessions(self) -> list[SessionInfo]:
        return []

    def session(self, session_id: str) -> SessionInfo:
        raise ControlError(ErrorCode.UNKNOWN_SESSION, f"no session {session_id!r}")

    async def start_session(self, request: StartRequest) -> SessionInfo:
        if request.device != GUN.id:
            raise ControlError(ErrorCode.UNKNOWN_DEVICE, f"no device {request.device!r}")
        self.started.append(request)
        return SessionInfo(
            id="s-1", device_id=request.device, profile_id=request.profile, side="left",
            state="running",
        )  # fmt: skip

    async def command(self, session_id: str, command: SessionCommand) -> CommandReply:
        return CommandReply(session_id=session_id, command=command, accepted=False, reason="ended")

    async def stop_all(self) -> StopAllReply:
        return StopAllReply(stopped=["gun-1"])

    def emit(self, device_id: str, seq: int) -> None:
        envelope = EventEnvelope(device_id=device_id, device_seq=seq, event={"type": "cue"})
        self.journal.append(envelope)
        self.live.put_nowait(envelope)

    async def events(self, after: dict[str, int]) -> AsyncIterator[EventEnvelope]:
        sent = 0
        for envelope in list(self.journal):
            sent += 1
            if envelope.device_seq > after.get(envelope.device_id, 0):
                yield envelope
        while True:
            envelope = await self.live.get()
            if self.journal.index(envelope) >= sent:
                yield envelope
