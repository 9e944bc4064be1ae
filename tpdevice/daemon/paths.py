"""Where the daemon's files live by default (stdlib only: the stop fast path imports this)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_journal_path", "default_socket_path"]


def default_socket_path() -> Path:
    """$XDG_RUNTIME_DIR/tpdevice/api.sock, else /tmp/tpdevice-<uid>/api.sock."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "tpdevice" / "api.sock"
    return Path("/tmp") / f"tpdevice-{os.getuid()}" / "api.sock"


def default_journal_path() -> Path:
    """$XDG_DATA_HOME/tpdevice/journal.sqlite3 (~/.local/share by default)."""
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "tpdevice" / "journal.sqlite3"
