"""The `tpdevice` command's first stop: `tpdevice stop` takes a path that imports almost nothing."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Run `tpdevice stop` on the fast path; everything else through the full CLI."""
    if sys.argv[1:] == ["stop"]:
        from tpdevice.cli.stop_fast import stop_all

        raise SystemExit(stop_all())
    from tpdevice.cli.app import main as full_main

    full_main()
