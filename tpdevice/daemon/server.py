"""The control API in the daemon's own event loop: a Unix socket (owner-only), TCP opt-in."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Generator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from tpdevice.errors import TpDeviceError

__all__ = ["ApiServer", "ApiServerError"]

_LOGGER = logging.getLogger(__name__)


class ApiServerError(TpDeviceError):
    """The API cannot listen where it was asked to (in use, no permission)."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the daemon handles SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ApiServer:
    """One app on one listening socket; start() returns once it accepts connections."""

    def __init__(self, app: FastAPI, sock: socket.socket, where: str) -> None:
        self.where = where
        self._sock = sock
        config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=False)
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def on_unix_socket(cls, app: FastAPI, path: Path) -> ApiServer:
        """Listen on `path`, readable and writable by this user only (folder 0700, socket 0600)."""
        _private_folder(path.parent)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(path.lstat().st_mode):
                _refuse_if_live(path)
                path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old_umask = os.umask(0o177)  # the socket is born 0600: no window for others
            try:
                sock.bind(str(path))
            finally:
                os.umask(old_umask)
            sock.listen(128)
        except OSError as err:
            sock.close()
            raise ApiServerError(f"{path}: cannot listen ({err.strerror})") from None
        return cls(app, sock, str(path))

    @classmethod
    def on_tcp(cls, app: FastAPI, host: str, port: int) -> ApiServer:
        """Listen on host:port (the app must require a token)."""
        try:
            sock = socket.create_server((host, port), reuse_port=False)
        except OSError as err:
            raise ApiServerError(f"{host}:{port}: cannot listen ({err.strerror})") from None
        return cls(app, sock, f"{host}:{sock.getsockname()[1]}")

    async def start(self) -> None:
        """Serve as a task of the running loop."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise ApiServerError(f"{self.where}: the server stopped at start")
            await asyncio.sleep(0.005)
        _LOGGER.info("control API on %s", self.where)

    async def close(self) -> None:
        """Stop accepting, finish open responses briefly, release the socket."""
        self._server.should_exit = True
        self._server.force_exit = True  # event streams never end by themselves
        if self._task is not None:
            await self._task
            self._task = None
        unix = self._sock.family == socket.AF_UNIX
        self._sock.close()
        if unix:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.where)  # a local unlink: no reason to hop to a thread


def _private_folder(folder: Path) -> None:
    """Create `folder` as 0700, or check that an existing one is ours and private."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError as err:
        raise ApiServerError(f"{folder}: {err.strerror}") from None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ApiServerError(f"{folder}: must belong to this user with mode 0700")


def _refuse_if_live(path: Path) -> None:
    """A socket file someone still listens on belongs to a running daemon: do not steal it."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return  # stale: left by a daemon that died
    finally:
        probe.close()
    raise ApiServerError(f"{path}: another daemon is already serving there")
