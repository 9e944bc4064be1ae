"""What a journal takes from one running session: its events (first of all sinks) and its
telemetry, timed from the session's start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tpdevice.daemon.journal import Journal, SessionMeta
from tpdevice.device.api import GunClient
from tpdevice.therapy.engine import Session
from tpdevice.therapy.events import Event, iso_utc

__all__ = ["SessionJournal"]


class SessionJournal:
    """Journals one session: call attach() before run(), follow() as a task while it runs."""

    def __init__(
        self, journal: Journal, session: Session, record: Callable[[Event], object] | None = None
    ) -> None:
        self.journal = journal
        self.session = session
        self.t0_s: float | None = None  # the session clock at session.started
        # What journals an event: the journal itself, or a daemon that also fans it out.
        self._record = record or journal.record

    def attach(self, client: str | None = None, override_reason: str | None = None) -> None:
        """Record the session, then journal each event before any other reader sees it."""
        session = self.session
        self.journal.begin_session(SessionMeta(
            session.id, session.device_id, session.profile.id, session.profile.region,
            iso_utc(time.time()), client, override_reason,
        ))  # fmt: skip
        session.add_sink(self.record)

    def record(self, event: Event) -> None:
        """The session's sink."""
        if self.t0_s is None:
            self.t0_s = event.mono_s
        self._record(event)

    def sample(
        self, freq_hz: float, force_n: float | None, contact: bool, battery_pct: float | None,
        motor_temp_c: float | None,
    ) -> None:  # fmt: skip
        """One telemetry sample now (the journal keeps 5 a second)."""
        if self.t0_s is not None:
            self.journal.record_telemetry(
                self.session.id, self.session.clock.now_s() - self.t0_s, freq_hz, force_n,
                contact, battery_pct, motor_temp_c,
            )  # fmt: skip

    async def follow(self, client: GunClient, measures_force: bool) -> None:
        """Journal the gun's telemetry until the stream ends (cancel it when the session ends)."""
        stream = client.telemetry()
        try:
            async for telemetry in stream:
                self.sample(
                    telemetry.freq_hz, telemetry.force_n if measures_force else None,
                    telemetry.contact, float(telemetry.battery_pct), telemetry.motor_temp_c,
                )  # fmt: skip
        except asyncio.CancelledError:
            stream.close()
            raise
