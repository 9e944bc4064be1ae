"""A session on the daemon shown like `tpdevice run`: the view fed by the daemon's event stream,
keys and Ctrl-C sent as session commands, the same summary and exit codes."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.cli.daemon_async import AsyncDaemon, DaemonLostError
from tpdevice.cli.daemon_client import DaemonRefusedError
from tpdevice.cli.keys import KeyAction, KeyReader
from tpdevice.cli.run_confirm import check_can_confirm, confirm_start
from tpdevice.cli.run_output import OutputError, RunOutput, draw_outside, finish_run, output_error
from tpdevice.cli.run_view import Reading, RunHeader
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.events import parse_event
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.runner import check_outcome
from tpdevice.therapy.summary import Summary
from tpdevice.transport import parse_address

__all__ = ["DaemonWatch", "RemoteRun", "follow_on_daemon"]

_LOGGER = logging.getLogger(__name__)
REFRESH_S = 0.25
SESSION_ENDS = frozenset({"session.completed", "session.aborted", "session.failed"})
_STOP_WAIT_S = 30.0  # after a stop, how long the session may take to report its end
_KEY_COMMANDS = {KeyAction.SKIP: "skip", KeyAction.STOP: "stop"}


@dataclass(frozen=True, slots=True)
class RemoteRun:
    """A profile to start on one of the daemon's guns and follow to its end."""

    device_id: str
    profile: Profile
    side: str | None = None
    pseudonym: str | None = None
    override: str | None = None
    confirm: bool = False  # `run`: the safety notes first, and Enter on a real gun
    yes: bool = False
    socket: Path | None = None
    loop: str = "auto"

    def request(self) -> dict[str, Any]:
        """The start request's body."""
        body = {"profile": self.profile.id, "device": self.device_id, "side": self.side,
                "client": self.pseudonym, "override": self.override}  # fmt: skip
        return {key: value for key, value in body.items() if value is not None}

    def refusal(self, err: DaemonRefusedError) -> DaemonRefusedError:
        """The daemon's refusal; a dose refusal also says how to start anyway (with a reason)."""
        if self.override is not None or not str(err).endswith("(dose_refused)"):
            return err
        return DaemonRefusedError(
            f"{err}; to start anyway: tpdevice session start {self.profile.id}"
            f" --device {self.device_id} --override REASON --follow"
        )


def follow_on_daemon(settings: RemoteRun, out: RunOutput) -> Summary:
    """Start the session on the daemon, show it to its end, then its summary; exit codes as
    `run` (a session that did not complete raises SessionOutcomeError)."""
    summary = run_on_loop(_follow(settings, out), resolve_loop_name(settings.loop))
    check_outcome(summary, f"{settings.profile.id} on {settings.device_id}")
    return summary


async def _follow(settings: RemoteRun, out: RunOutput) -> Summary:
    async with AsyncDaemon(settings.socket) as daemon:
        device = await _device(daemon, settings.device_id)
        if settings.confirm:
            address = parse_address(device["address"])
            check_can_confirm(address, settings.yes)
            draw_outside(out.safety, settings.profile)
            await confirm_start(address, settings.yes)
        try:
            info = await daemon.post("/v1/sessions", settings.request())
        except DaemonRefusedError as err:
            raise settings.refusal(err) from None
        sys.stderr.write(f"tpdevice: session {info['id']} on {settings.device_id} (daemon)\n")
        header = RunHeader(
            settings.profile.id, settings.profile.title, settings.profile.region,
            str(info["side"]), f"{settings.device_id} · {device['address']}",
        )  # fmt: skip
        watch = DaemonWatch(daemon, str(info["id"]), settings.device_id, out)
        try:
            summary, interrupted = await watch.run(header)
        except BaseException:  # the view failed or the daemon went away: nobody watches it
            await asyncio.shield(watch.command("stop"))
            raise
    return finish_run(out, summary, interrupted, watch.output_error)


async def _device(daemon: AsyncDaemon, device_id: str) -> dict[str, Any]:
    devices: list[dict[str, Any]] = await daemon.get("/v1/devices")
    for device in devices:
        if device["id"] == device_id:
            return device
    known = ", ".join(d["id"] for d in devices) or "none"
    raise DaemonLostError(f"the daemon has no gun {device_id!r} (its guns: {known})")


class DaemonWatch:
    """One daemon session on one output; keys become commands, Ctrl-C stops it, and an output
    nobody reads any more stops it too (a motor never runs on with nobody watching)."""

    def __init__(self, daemon: AsyncDaemon, session_id: str, device_id: str, out: RunOutput):
        self.daemon = daemon
        self.session_id = session_id
        self.device_id = device_id
        self.out = out
        self.output_error: OutputError | None = None
        self.paused = False
        self._started_mono_s: float | None = None
        self._elapsed_s = 0.0
        self._reading: Reading | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def now_s(self) -> float:
        """The session clock now, as far as the daemon last said."""
        return (self._started_mono_s or 0.0) + self._elapsed_s

    def show(self, draw: Callable[..., None], *args: Any) -> None:
        """Draw; the first failure is kept and stops the session."""
        if self.output_error is not None:
            return
        try:
            draw(*args)
        except (OutputError, OSError) as err:
            self.output_error = err if isinstance(err, OutputError) else output_error(err)
            self._spawn(self.command("stop"))

    def redraw(self) -> None:
        self.out.refresh(self.now_s(), self._reading)

    def on_key(self, action: KeyAction) -> None:
        name = _KEY_COMMANDS.get(action) or ("resume" if self.paused else "pause")
        self._spawn(self.command(name))

    async def command(self, name: str) -> None:
        """A refused command (the session already ended, say) changes nothing: no error."""
        try:
            await self.daemon.post(f"/v1/sessions/{self.session_id}/{name}")
        except TpDeviceError as err:
            _LOGGER.debug("%s %s: %s", name, self.session_id, err)

    def _spawn(self, command: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(command)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, header: RunHeader) -> tuple[Summary, bool]:
        """(summary, interrupted): follow to the end, or stop when this task is cancelled."""
        interrupted = False
        with self.out.live(header), KeyReader(self.on_key):
            pump = asyncio.create_task(self._pump())
            poll = asyncio.create_task(self._poll())
            try:
                await asyncio.shield(pump)
            except asyncio.CancelledError:
                if pump.done():
                    raise
                interrupted = True
                await asyncio.shield(self._stop(pump))
            finally:
                poll.cancel()
                await asyncio.gather(poll, return_exceptions=True)
            self.show(self.redraw)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return pump.result(), interrupted

    async def _stop(self, pump: asyncio.Task[Summary]) -> None:
        """STOP now (aborted by the user), then wait for the session to report its end."""
        await self.command("stop")
        await asyncio.wait([pump], timeout=_STOP_WAIT_S)
        if not pump.done():
            pump.cancel()
            raise DaemonLostError(f"session {self.session_id} did not report its end")

    async def _pump(self) -> Summary:
        """Show this session's events; its summary when it ends."""
        async for envelope in self.daemon.stream(f"/v1/sessions/{self.session_id}/events"):
            data = envelope["event"]
            kind = data["type"]
            if kind == "session.started":
                self._started_mono_s = float(data["mono_s"])
            elif kind in ("session.paused", "session.resumed"):
                self.paused = kind == "session.paused"
            self.show(self.out.event, parse_event(data))
            self.show(self.redraw)
            if kind in SESSION_ENDS:
                return Summary.model_validate(data["summary"])
        raise DaemonLostError("the event stream ended")

    async def _poll(self) -> None:
        """The session's clock and the gun's telemetry, redrawn a few times a second."""
        while True:
            started = time.monotonic()
            info = await self.daemon.get(f"/v1/sessions/{self.session_id}")
            self._elapsed_s = float(info["elapsed_s"])
            devices = await self.daemon.get("/v1/devices")
            self._reading = _reading(next((d for d in devices if d["id"] == self.device_id), {}))
            self.show(self.redraw)
            await asyncio.sleep(max(0.0, REFRESH_S - (time.monotonic() - started)))


def _reading(device: dict[str, Any]) -> Reading | None:
    """The gun's latest telemetry as the view shows it."""
    if device.get("freq_hz") is None:
        return None
    battery = device.get("battery_pct")
    return Reading(
        float(device["freq_hz"]), float(device.get("force_n") or 0.0), False,
        battery_pct=None if battery is None else round(battery),
        motor_temp_c=device.get("motor_temp_c"),
    )  # fmt: skip
