"""The CLI's side of the control API: HTTP over the daemon's Unix socket, errors as one line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tpdevice.cli.errors import CliError
from tpdevice.daemon.paths import default_socket_path

__all__ = [
    "DaemonClient",
    "DaemonRefusedError",
    "NoDaemonError",
    "error_line",
    "no_daemon",
    "socket_path",
]

_TIMEOUT_S = 10.0


class NoDaemonError(CliError):
    """No daemon listens on the socket."""

    exit_code = 3


class DaemonRefusedError(CliError):
    """The daemon answered with an error (unknown device, gun busy, dose refused, ...)."""

    exit_code = 1


def socket_path(given: Path | None = None) -> Path:
    """--socket, else $TPDEVICE_SOCKET, else the default per-user socket."""
    return given or Path(os.environ.get("TPDEVICE_SOCKET") or default_socket_path())


class DaemonClient:
    """Calls on the running daemon; each failure is a CliError a user can read."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = socket_path(path)
        transport = httpx.HTTPTransport(uds=str(self.path))
        self._http = httpx.Client(
            transport=transport, base_url="http://tpdevice", timeout=_TIMEOUT_S
        )

    def close(self) -> None:
        """Release the connection."""
        self._http.close()

    def get(self, path: str) -> Any:
        """GET and return the JSON body."""
        return self._call("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST (JSON) and return the JSON body."""
        return self._call("POST", path, body)

    def delete(self, path: str) -> Any:
        """DELETE and return the JSON body."""
        return self._call("DELETE", path)

    def stream(self, path: str) -> Iterator[dict[str, Any]]:
        """The `data:` objects of a Server-Sent Events stream, as they come."""
        try:
            with self._http.stream("GET", path, timeout=None) as response:
                if response.status_code != 200:
                    response.read()
                    raise DaemonRefusedError(error_line(response))
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        yield json.loads(line[6:])
        except (httpx.ConnectError, FileNotFoundError):
            raise self._no_daemon() from None
        except httpx.HTTPError as err:
            raise CliError(f"the daemon at {self.path} stopped answering ({err})") from None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except (httpx.ConnectError, FileNotFoundError):
            raise self._no_daemon() from None
        except httpx.HTTPError as err:
            raise CliError(f"the daemon at {self.path} did not answer ({err})") from None
        if response.status_code >= 400:
            raise DaemonRefusedError(error_line(response))
        return response.json()

    def _no_daemon(self) -> NoDaemonError:
        return no_daemon(self.path)


def no_daemon(path: Path) -> NoDaemonError:
    """The one line for a socket nobody listens on."""
    return NoDaemonError(
        f"no daemon is running at {path} (start one with `tpdevice daemon --config FILE`"
        " or `tpdevice daemon --sim 3`)"
    )


def error_line(response: httpx.Response) -> str:
    """The daemon's one-line refusal with its code."""
    try:
        body = response.json()
        return f"{body['error']} ({body['code']})"
    except (ValueError, KeyError, TypeError):
        return f"the daemon answered {response.status_code} {response.reason_phrase}"
