"""`tpdevice run PROFILE`: run one therapy session on a gun with a live view (or JSON lines)."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.cli.errors import CliError
from tpdevice.cli.keys import KeyAction, KeyReader
from tpdevice.cli.run_confirm import check_can_confirm, confirm_start
from tpdevice.cli.run_data import Reading, RunHeader
from tpdevice.cli.run_output import (
    JsonRunOutput,
    OutputError,
    RunOutput,
    draw_outside,
    finish_run,
    output_error,
)
from tpdevice.device.api import GunClient
from tpdevice.protocol import Feature
from tpdevice.therapy.commands import CommandResult, EndReason
from tpdevice.therapy.engine import ExecutionMode, Session
from tpdevice.therapy.events import Event
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.runner import (
    SessionOutcomeError,
    check_outcome,
    open_session_gun,
    outcome_text,
    session_clock,
)
from tpdevice.therapy.summary import Summary
from tpdevice.therapy.timeline import Overrides
from tpdevice.transport import AddressError, DeviceAddress, parse_address

if TYPE_CHECKING:  # imported when a journal is opened: a --no-journal run starts without
    from tpdevice.daemon.journal import Journal

__all__ = [
    "MODES",
    "RunError",
    "RunSettings",
    "SessionControls",
    "apply_key",
    "check_outcome",
    "load_run_profile",
    "outcome_text",
    "parse_settings",
    "run",
    "run_profile",
]

MODES = ("auto", "host", "firmware")
SIDES = ("left", "right", "both", "midline")
REFRESH_S = 0.25
MAX_TIME_SCALE = 1000.0


RunError = SessionOutcomeError  # the session ended without completing


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Validated `tpdevice run` options."""

    profile_id: str
    address: DeviceAddress
    side: str | None
    time_scale: float
    json_out: bool
    profiles_dirs: tuple[Path, ...]
    mode: str
    overrides: Overrides
    device_given: bool
    loop: str = "auto"
    yes: bool = False  # start a real gun without the Enter key after the safety notes
    journal: Path | None = None  # where the session is journaled (None: not journaled)


class SessionControls(Protocol):
    """What the keys drive: the Session's control surface."""

    @property
    def paused(self) -> bool:
        """True while the session is paused."""
        ...

    def pause(self) -> CommandResult:
        """Stop the motor, keep the remaining time."""
        ...

    def resume(self) -> CommandResult:
        """Run again from where it paused."""
        ...

    def skip(self) -> CommandResult:
        """End the running step now."""
        ...

    async def stop(self) -> Any:
        """STOP the motor at once and end the session."""


def apply_key(session: SessionControls, action: KeyAction) -> asyncio.Task[Any] | None:
    """Do what a key asks; a stop runs as a task (returned) so the key reader never blocks."""
    if action is KeyAction.TOGGLE_PAUSE:
        if session.paused:
            session.resume()
        else:
            session.pause()
    elif action is KeyAction.SKIP:
        session.skip()
    elif action is KeyAction.STOP:
        return asyncio.get_running_loop().create_task(session.stop())
    return None


def parse_settings(
    profile_id: str,
    device: str | None,
    side: str | None,
    time_scale: float,
    json_out: bool,
    profiles_dirs: list[Path],
    mode: str,
    intensity_pct: float,
    loop: str = "auto",
    *,
    yes: bool = False,
    journal: Path | None = None,
) -> RunSettings:
    """Check every option before anything connects; CliError (exit 2) names the bad one."""
    if side is not None and side not in SIDES:
        raise CliError(f"--side: {side!r} is not one of {', '.join(SIDES)}")
    if mode not in MODES:
        raise CliError(f"--mode: {mode!r} is not one of {', '.join(MODES)}")
    if not (math.isfinite(time_scale) and 0 < time_scale <= MAX_TIME_SCALE):
        raise CliError(f"--time-scale: {time_scale:g} must be a number in (0, {MAX_TIME_SCALE:g}]")
    if not (math.isfinite(intensity_pct) and 50 <= intensity_pct <= 120):
        raise CliError(f"--intensity: {intensity_pct:g} % must lie in 50..120 %")
    for directory in profiles_dirs:
        if not directory.is_dir():
            raise CliError(f"--profiles-dir: {directory} is not a directory")
    try:
        address = parse_address(device or "sim")
    except AddressError as err:
        raise CliError(f"--device: {err}") from None
    if time_scale != 1.0 and address.scheme != "sim":
        raise CliError(
            f"--time-scale: only the built-in simulator (--device sim) runs faster than real "
            f"time; {address.text} is a real device"
        )
    overrides = Overrides(intensity_pct=intensity_pct)
    return RunSettings(
        profile_id, address, side, time_scale, json_out, tuple(profiles_dirs), mode, overrides,
        device_given=device is not None, loop=loop, yes=yes, journal=journal,
    )  # fmt: skip


def load_run_profile(profile_id: str, profiles_dirs: tuple[Path, ...], side: str | None) -> Profile:
    """The profile an id or a file path names, checked for the side; files skipped on stderr."""
    from tpdevice.cli.catalogue import load_cli_catalogue, print_skipped, require_profile
    from tpdevice.therapy.profile_errors import ProfileError

    catalogue = load_cli_catalogue(profiles_dirs)
    profile = require_profile(catalogue, profile_id).profile
    print_skipped(catalogue)
    try:
        profile.passes(side)
    except ProfileError as err:
        raise CliError(f"--side: {err}") from None
    return profile


def _reading(client: GunClient) -> Reading | None:
    """The latest telemetry as the view shows it (battery, temperature: if the gun has them)."""
    sample = client.last_telemetry
    if sample is None:
        return None
    features = Feature(client.capabilities.features)
    return Reading(
        sample.freq_hz, sample.force_n, sample.contact,
        battery_pct=sample.battery_pct if Feature.BATTERY in features else None,
        motor_temp_c=sample.motor_temp_c if Feature.TEMPERATURE in features else None,
    )  # fmt: skip


class _Run:
    """One session shown on one output, driven by keys; Ctrl-C stops it and still summarises.

    An output that fails (the reader of a JSON pipe went away) stops the session at once:
    a motor never runs on with nobody watching.
    """

    def __init__(self, session: Session, out: RunOutput, header: RunHeader) -> None:
        self.session = session
        self.out = out
        self.header = header
        self.output_error: OutputError | None = None
        self._stops: set[asyncio.Task[Any]] = set()

    def redraw(self) -> None:
        self.out.refresh(self.session.clock.now_s(), _reading(self.session.client))

    def show(self, draw: Callable[..., None], *args: Any) -> None:
        """Draw on the output; the first failure is kept and stops the session."""
        if self.output_error is not None:
            return
        try:
            draw(*args)
        except (OutputError, OSError) as err:
            self._failed(err)

    def _failed(self, err: OutputError | OSError) -> None:
        """Keep the first output failure and stop the session ("host": nobody can watch it)."""
        if self.output_error is None:
            self.output_error = err if isinstance(err, OutputError) else output_error(err)
            self._spawn(self.session.stop(EndReason.HOST))

    def on_key(self, action: KeyAction) -> None:
        task = apply_key(self.session, action)
        if task is not None:
            self._keep(task)

    def _spawn(self, stop: Coroutine[Any, Any, Any]) -> None:
        self._keep(asyncio.get_running_loop().create_task(stop))

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)

    async def _pump(self, events: AsyncIterator[Event]) -> None:
        async for event in events:  # drained to the end even when the output has failed
            self.show(self.out.event, event)
            self.show(self.redraw)

    async def _redraw_loop(self) -> None:
        while True:
            self.show(self.redraw)
            await asyncio.sleep(REFRESH_S)

    async def run(self) -> tuple[Summary, bool]:
        """(summary, interrupted): run to the end, or stop when this task is cancelled."""
        events = self.session.subscribe()
        runner: asyncio.Task[Summary] | None = None
        interrupted = False
        try:
            with self.out.live(self.header), KeyReader(self.on_key):
                runner = asyncio.create_task(self.session.run(), name="session")
                interrupted = await self._watch(runner, events)
                self.show(self.redraw)
        except (OutputError, OSError) as err:  # opening or closing the view
            self._failed(err)
        await asyncio.gather(*self._stops, return_exceptions=True)
        if runner is None:  # the view never opened: nothing ran
            return self.session.summary(), interrupted
        return _summary_of(runner, self.session), interrupted

    async def _watch(self, runner: asyncio.Task[Summary], events: AsyncIterator[Event]) -> bool:
        """Show events until the session ends; True when cancelled (Ctrl-C), after the STOP."""
        pump = asyncio.create_task(self._pump(events))
        redraw = asyncio.create_task(self._redraw_loop())
        try:
            await asyncio.shield(runner)
        except asyncio.CancelledError:
            await asyncio.shield(self._stop(runner))
            return True
        finally:
            redraw.cancel()
            await _drain(pump, runner)
        return False

    async def _stop(self, runner: asyncio.Task[Summary]) -> None:
        """STOP now (aborted by the user), then let the session finish its bookkeeping."""
        await self.session.stop(EndReason.USER)
        await asyncio.wait([runner])


async def _drain(pump: asyncio.Task[None], runner: asyncio.Task[Summary]) -> None:
    """Let the event pump show the last events (the bus closes when the session ends)."""
    if runner.done():
        await asyncio.wait([pump], timeout=1.0)
    pump.cancel()
    await asyncio.gather(pump, return_exceptions=True)


def _summary_of(runner: asyncio.Task[Summary], session: Session) -> Summary:
    """run()'s summary (its exception, an internal error, re-raised), else the session's own."""
    if runner.done() and not runner.cancelled():
        return runner.result()
    return session.summary()


def _header(settings: RunSettings, profile: Profile, session: Session) -> RunHeader:
    timeline = session.timeline
    return RunHeader(
        profile.id, profile.title, profile.region, timeline.side_label, settings.address.text,
        timeline.duration_s, len(timeline.steps), session.mode.value,
    )  # fmt: skip


async def _open(settings: RunSettings) -> GunClient:
    """Connect with the address's driver; say when the simulator is used."""
    client = await open_session_gun(settings.address, time_scale=settings.time_scale)
    if settings.address.scheme == "sim":
        why = "" if settings.device_given else "no --device given: "
        sys.stderr.write(f"tpdevice run: {why}using the built-in simulator (in process)\n")
    return client


async def run_profile(
    settings: RunSettings, profile: Profile, out: RunOutput, journal: Journal | None = None
) -> Summary:
    """Connect, show the safety notes, run the session, show the summary; close the link."""
    client = await _open(settings)
    try:
        session = Session(
            client, profile, side=settings.side, clock=session_clock(settings.time_scale),
            mode=ExecutionMode(settings.mode), overrides=settings.overrides,
        )  # fmt: skip
        draw_outside(out.safety, profile)  # connected and compiled: the run goes ahead
        session.safety_confirmation = await confirm_start(settings.address, settings.yes)
        watch = _Run(session, out, _header(settings, profile, session))
        summary, interrupted = await _journaled(watch, client, journal)
    finally:
        await client.close()  # sends STOP first if the motor may still run
    return finish_run(out, summary, interrupted, watch.output_error)


async def _journaled(
    watch: _Run, client: GunClient, journal: Journal | None
) -> tuple[Summary, bool]:
    """Run the watched session, its events and telemetry journaled when a journal is open."""
    if journal is None:
        return await watch.run()
    from tpdevice.daemon.journal_feed import SessionJournal

    feed = SessionJournal(journal, watch.session)
    feed.attach()
    follower = asyncio.create_task(
        feed.follow(client, bool(client.capabilities.features & Feature.FORCE_SENSOR))
    )
    try:
        return await watch.run()
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


def _open_journal(path: Path | None) -> Journal | None:
    """The per-user journal, or one line on why it cannot be used (nothing is run then)."""
    if path is None:
        return None
    from tpdevice.daemon.journal import Journal, JournalError

    try:
        return Journal.open(path, now_wall=time.time())
    except JournalError as err:
        raise JournalError(f"journal: {err} (--no-journal runs without it)") from None


def _default_output(json_out: bool) -> Callable[[], RunOutput]:
    """JSON lines, or the live view (rich is imported only for that)."""
    if json_out:
        return JsonRunOutput
    from tpdevice.cli.run_live import LiveRunOutput

    return LiveRunOutput


def run(settings: RunSettings, out_factory: Callable[[], RunOutput] | None = None) -> None:
    """Load the profile, run it on the device; every failure is one line (TpDeviceError)."""
    profile = load_run_profile(settings.profile_id, settings.profiles_dirs, settings.side)
    check_can_confirm(settings.address, settings.yes)
    out = (out_factory or _default_output(settings.json_out))()
    journal = _open_journal(settings.journal)
    try:
        summary = run_on_loop(
            run_profile(settings, profile, out, journal), resolve_loop_name(settings.loop)
        )
    finally:
        if journal is not None:
            journal.close()
    check_outcome(summary, f"{profile.id} on {settings.address.text}")
