"""Where a run shows itself: the rich live view and summary table, or JSON lines."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any, Protocol

from rich.console import Console
from rich.live import Live

from tpdevice.cli.run_summary import summary_renderable
from tpdevice.cli.run_view import Reading, RunHeader, RunView, safety_renderable
from tpdevice.therapy.events import Event
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.summary import Summary

__all__ = ["JsonRunOutput", "LiveRunOutput", "RunOutput", "safety_dict"]


def safety_dict(profile: Profile) -> dict[str, Any]:
    """The JSON line shown before the first step: where not to work, whom not to treat."""
    return {
        "type": "profile.safety", "profile_id": profile.id, "title": profile.title,
        "region": profile.region, "attachment": profile.attachment.value,
        "avoid_zones": list(profile.avoid_zones),
        "contraindications": list(profile.contraindications),
        "min_recovery_h": profile.caps.min_recovery_h,
    }  # fmt: skip


class RunOutput(Protocol):
    """Where a run shows itself: the live view or JSON lines."""

    def safety(self, profile: Profile) -> None:
        """Before the first step."""

    def live(self, header: RunHeader) -> contextlib.AbstractContextManager[Any]:
        """Entered for the length of the run."""

    def event(self, event: Event) -> None:
        """One session event."""

    def refresh(self, now_s: float, reading: Reading | None) -> None:
        """Redraw (the countdown and telemetry move between events)."""

    def summary(self, summary: Summary) -> None:
        """After the run, whatever its outcome."""


class JsonRunOutput:
    """One JSON object a line on stdout, flushed at once."""

    def _line(self, obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def safety(self, profile: Profile) -> None:
        """A profile.safety line."""
        self._line(safety_dict(profile))

    def live(self, header: RunHeader) -> contextlib.AbstractContextManager[Any]:
        """Nothing to set up."""
        return contextlib.nullcontext()

    def event(self, event: Event) -> None:
        """The event as model_dump(mode='json')."""
        self._line(event.model_dump(mode="json"))

    def refresh(self, now_s: float, reading: Reading | None) -> None:
        """JSON has no view to redraw."""

    def summary(self, summary: Summary) -> None:
        """The final line: type summary."""
        self._line({"type": "summary", **summary.model_dump(mode="json")})


class LiveRunOutput:
    """The rich live view, then the summary table."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.view: RunView | None = None
        self._live: Live | None = None
        self._last_now_s = 0.0
        self._last_reading: Reading | None = None

    def safety(self, profile: Profile) -> None:
        """The avoid-zones and contraindications panel."""
        self.console.print(
            safety_renderable(
                profile.avoid_zones, profile.contraindications, profile.caps.min_recovery_h
            )
        )

    @contextlib.contextmanager
    def live(self, header: RunHeader) -> Iterator[Live | None]:
        """A rich Live redrawn by refresh(); not on a terminal: the last frame, printed once."""
        self.view = RunView(header)
        if not self.console.is_terminal:
            try:
                yield None
            finally:
                self.console.print(self.view.render(self._last_now_s, self._last_reading))
            return
        with Live(console=self.console, auto_refresh=False, transient=False) as live:
            self._live = live
            try:
                yield live
            finally:
                self._live = None

    def event(self, event: Event) -> None:
        """Fold the event into the view."""
        if self.view is not None:
            self.view.apply(event.model_dump(mode="json"))

    def refresh(self, now_s: float, reading: Reading | None) -> None:
        """Draw the view now."""
        self._last_now_s, self._last_reading = now_s, reading
        if self.view is not None and self._live is not None:
            self._live.update(self.view.render(now_s, reading), refresh=True)

    def summary(self, summary: Summary) -> None:
        """The per-step table and the totals."""
        self.console.print(summary_renderable(summary))
