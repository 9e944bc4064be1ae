"""The daemon process: guns, journal, control API, MQTT bridge and systemd, started and stopped
in order (SIGTERM: every motor stopped, the journal flushed, exit 0)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tpdevice import __version__
from tpdevice.daemon.api import create_app
from tpdevice.daemon.config import DaemonConfig, default_journal_path
from tpdevice.daemon.control import DaemonInfo
from tpdevice.daemon.core import GunDaemon
from tpdevice.daemon.journal import Journal
from tpdevice.daemon.paths import default_socket_path
from tpdevice.daemon.sdnotify import Notifier
from tpdevice.daemon.server import ApiServer
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.engine import ExecutionMode

__all__ = ["Closeable", "DaemonService", "Extension", "ServiceOptions"]

_LOGGER = logging.getLogger(__name__)


class Closeable(Protocol):
    """Something started beside the daemon that closes when it stops."""

    async def close(self) -> None:
        """Stop it."""
        ...


Extension = Callable[[DaemonConfig, GunDaemon, Journal], Awaitable[Closeable]]


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """Where the daemon keeps its files and listens; how fast simulated guns run."""

    socket_path: Path = field(default_factory=default_socket_path)
    journal_path: Path = field(default_factory=default_journal_path)
    config_path: Path | None = None  # the file its guns are kept in (what devices add edits)
    time_scale: float = 1.0
    session_mode: ExecutionMode = ExecutionMode.AUTO  # HOST: the daemon times every step
    client_options: dict[str, Any] = field(default_factory=dict)
    # What runs beside the guns (the MQTT bridge): started after the API, closed before it.
    extensions: Sequence[Extension] = ()


class DaemonService:
    """Runs until stop() (or SIGTERM/SIGINT); `ready` is set once the API serves."""

    def __init__(self, config: DaemonConfig, options: ServiceOptions) -> None:
        self.config = config
        self.options = options
        self.ready = asyncio.Event()
        self.guns: GunDaemon | None = None
        self._stop = asyncio.Event()
        self._notifier = Notifier()

    def stop(self) -> None:
        """Begin an orderly shutdown."""
        self._stop.set()

    async def run(self) -> None:
        """Serve until stopped; every motor stopped and the journal closed on the way out."""
        journal = Journal.open(self.options.journal_path, now_wall=time.time())
        if journal.interrupted:
            _LOGGER.warning("sessions interrupted by the last stop: %s", journal.interrupted)
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(journal.close)
            guns = self.guns = await self._guns(stack, journal)
            await self._serve_api(stack, guns)
            await self._extensions(stack, guns, journal)
            self._handle_signals()
            stack.callback(self._unhandle_signals)
            self._notifier.ready(f"{len(guns.slots)} guns")
            self.ready.set()
            watchdog = asyncio.create_task(self._ping_systemd())
            await self._stop.wait()
            self._notifier.stopping()
            watchdog.cancel()

    async def _guns(self, stack: contextlib.AsyncExitStack, journal: Journal) -> GunDaemon:
        sim_options = {"time_scale": self.options.time_scale}
        guns = GunDaemon(
            self.config, journal, client_options=self.options.client_options,
            sim_options=sim_options, session_mode=self.options.session_mode,
        )  # fmt: skip
        stack.push_async_callback(guns.close)  # sessions ended and motors stopped first
        await guns.start()
        return guns

    async def _serve_api(self, stack: contextlib.AsyncExitStack, guns: GunDaemon) -> None:
        async def metrics() -> bytes:
            return guns.metrics.render()

        info = DaemonInfo(
            version=__version__,
            config=None if self.options.config_path is None else str(self.options.config_path),
            journal=str(self.options.journal_path),
        )
        local = ApiServer.on_unix_socket(
            create_app(guns, metrics=metrics, admin=guns, info=info), self.options.socket_path
        )
        await local.start()
        stack.push_async_callback(local.close)
        api = self.config.api
        if api.tcp is not None and api.token_file is not None:
            token = _read_token(api.token_file)
            host, _, port = api.tcp.rpartition(":")
            app = create_app(guns, token=token, metrics=metrics, admin=guns, info=info)
            remote = ApiServer.on_tcp(app, host, int(port))
            await remote.start()
            stack.push_async_callback(remote.close)

    async def _extensions(
        self, stack: contextlib.AsyncExitStack, guns: GunDaemon, journal: Journal
    ) -> None:
        for extension in self.options.extensions:
            started = await extension(self.config, guns, journal)
            stack.push_async_callback(started.close)

    def _handle_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)

    def _unhandle_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)

    async def _ping_systemd(self) -> None:
        interval_s = self._notifier.watchdog_interval_s
        while interval_s is not None:
            self._notifier.watchdog()
            await asyncio.sleep(interval_s)


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise TpDeviceError(f"{path}: cannot read the API token ({err.strerror})") from None
    if len(token) < 16:
        raise TpDeviceError(f"{path}: the API token must be at least 16 characters")
    return token
