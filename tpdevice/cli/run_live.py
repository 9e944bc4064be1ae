"""The rich live view of a run, then its summary table; rich is imported only here."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.live import Live

from tpdevice.cli.run_data import Reading, RunHeader
from tpdevice.cli.run_output import check_stdout, output_error
from tpdevice.cli.run_summary import summary_renderable
from tpdevice.cli.run_view import RunView, safety_renderable
from tpdevice.therapy.events import Event
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.summary import Summary

__all__ = ["LiveRunOutput", "PipeConsole"]


class PipeConsole(Console):
    """A rich Console whose broken pipe is an OutputError, not rich's SystemExit(1)."""

    def on_broken_pipe(self) -> None:
        """Stop drawing; the command stops on the error."""
        self.quiet = True
        raise output_error(BrokenPipeError())


class LiveRunOutput:
    """The rich live view, then the summary table."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or PipeConsole(highlight=False)
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
        elif self.console.file is sys.stdout:  # nothing drawn until the end: is a reader left?
            check_stdout()

    def summary(self, summary: Summary) -> None:
        """The per-step table and the totals."""
        self.console.print(summary_renderable(summary))
