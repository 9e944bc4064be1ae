"""`tpdevice stop`: ask the running daemon to stop every motor, on the standard library alone.

This path must start fast, so it imports no third-party module: no CLI framework, no models.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
from pathlib import Path

from tpdevice.daemon.paths import default_socket_path

__all__ = ["stop_all"]

EXIT_OK, EXIT_FAILED, EXIT_NO_DAEMON = 0, 1, 3
_TIMEOUT_S = 5.0


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the daemon's Unix socket."""

    def __init__(self, path: Path) -> None:
        super().__init__("tpdevice", timeout=_TIMEOUT_S)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(_TIMEOUT_S)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def stop_all(socket_path: Path | None = None) -> int:
    """POST /v1/stop; print one line; return the exit code."""
    path = socket_path or Path(os.environ.get("TPDEVICE_SOCKET") or default_socket_path())
    connection = _UnixConnection(path)
    try:
        connection.request("POST", "/v1/stop", headers={"Content-Length": "0"})
        response = connection.getresponse()
        body = json.loads(response.read() or b"{}")
    except (FileNotFoundError, ConnectionRefusedError):
        return _say(f"no daemon is running at {path} (start one with `tpdevice daemon`)",
                    EXIT_NO_DAEMON)  # fmt: skip
    except (OSError, http.client.HTTPException, ValueError) as err:
        return _say(f"error: the daemon at {path} did not answer ({err})", EXIT_FAILED)
    finally:
        connection.close()
    if response.status != 200:
        return _say(f"error: {body.get('error', response.reason)}", EXIT_FAILED)
    return _report(body)


def _report(body: dict[str, object]) -> int:
    stopped = body.get("stopped") or []
    failed = body.get("failed") or {}
    assert isinstance(stopped, list) and isinstance(failed, dict)
    print(f"stopped {len(stopped)} gun{'s' if len(stopped) != 1 else ''}", flush=True)
    for device, why in failed.items():
        print(f"error: {device}: {why}", file=sys.stderr, flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def _say(line: str, code: int) -> int:
    print(line, file=sys.stderr, flush=True)
    return code
