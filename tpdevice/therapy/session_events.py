"""A session's events: stamped in order, recorded, handed to sinks, then to subscribers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from tpdevice.therapy.eventbus import EventBus, EventSink, EventSubscription
from tpdevice.therapy.events import CueEvent, Event, EventStamper, SessionStarted
from tpdevice.therapy.timeline import Timeline

__all__ = ["SessionEvents"]

_LOGGER = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)


class SessionEvents:
    """Makes a session's events and publishes them on its bus (dropped once it closed)."""

    def __init__(self, stamper: EventStamper) -> None:
        self._stamper = stamper
        self.bus = EventBus()
        self.safety_confirmation = ""  # how the safety notes were confirmed (session.started)

    @property
    def history(self) -> list[Event]:
        """Every event so far, in order."""
        return list(self.bus.history)

    def subscribe(self, *, replay: bool = False) -> EventSubscription:
        """An async iterator of every event from now on (replay=True: from the first one)."""
        return self.bus.subscribe(replay=replay)

    def add_sink(self, sink: EventSink) -> Callable[[], None]:
        """Call sink(event) for every event before any subscriber; returns its remover."""
        return self.bus.add_sink(sink)

    def emit(self, cls: type[E], **fields: Any) -> E:
        """Make and publish one event (after the end: made, logged, not published)."""
        event = self._stamper.make(cls, **fields)
        if self.bus.closed:
            _LOGGER.debug("%s after the session ended: dropped", event.type)
            return event
        self.bus.publish(event)
        return event

    def started(self, timeline: Timeline, mode: str) -> None:
        """session.started, then a cue for each note of the compiled timeline."""
        fit = timeline.fit
        self.emit(
            SessionStarted, side=timeline.side_label, mode=mode,
            step_count=len(timeline.steps), planned_duration_s=timeline.duration_s,
            force_cap_n=fit.force_cap_n, freq_min_hz=fit.freq_min_hz, freq_max_hz=fit.freq_max_hz,
            force_sensing=fit.force_sensing, safety_confirmed=self.safety_confirmation,
        )  # fmt: skip
        for note in timeline.notes:
            self.emit(CueEvent, reason=note.reason, cue=note.text)
