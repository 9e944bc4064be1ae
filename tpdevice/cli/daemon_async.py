"""The control API from an event loop (a followed session): HTTP over the daemon's Unix socket,
every failure one line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tpdevice.cli.daemon_client import DaemonRefusedError, error_line, no_daemon, socket_path
from tpdevice.errors import TpDeviceError

__all__ = ["AsyncDaemon", "DaemonLostError"]

_TIMEOUT_S = 10.0


class DaemonLostError(TpDeviceError):
    """The daemon stopped answering mid-way (exit 1)."""


class AsyncDaemon:
    """Calls on the running daemon; each failure is one line a user can read."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = socket_path(path)
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(self.path)),
            base_url="http://tpdevice",
            timeout=_TIMEOUT_S,
        )

    async def __aenter__(self) -> AsyncDaemon:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def get(self, path: str) -> Any:
        """GET and return the JSON body."""
        return await self._call("GET", path)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST (JSON) and return the JSON body."""
        return await self._call("POST", path, body)

    async def stream(self, path: str) -> AsyncIterator[dict[str, Any]]:
        """The `data:` objects of a Server-Sent Events stream, as they come."""
        try:
            async with self._http.stream("GET", path, timeout=None) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise DaemonRefusedError(error_line(response))
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        yield json.loads(line[6:])
        except (httpx.ConnectError, FileNotFoundError):
            raise no_daemon(self.path) from None
        except httpx.HTTPError as err:
            raise DaemonLostError(f"the daemon at {self.path} stopped answering ({err})") from None
        raise DaemonLostError(f"the daemon at {self.path} ended the event stream (it stopped)")

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = await self._http.request(method, path, json=body)
        except (httpx.ConnectError, FileNotFoundError):
            raise no_daemon(self.path) from None
        except httpx.HTTPError as err:
            raise DaemonLostError(f"the daemon at {self.path} did not answer ({err})") from None
        if response.status_code >= 400:
            raise DaemonRefusedError(error_line(response))
        return response.json()
