"""The `tpdevice` command's first stop: `stop`, `profiles list` and `run` skip the typer app."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run a plain `stop`, `profiles list` or `run` directly; everything else through typer."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["stop"]:
        from tpdevice.cli.stop_fast import stop_all

        raise SystemExit(stop_all())
    from tpdevice.cli.hot import parse_fast

    invocation = parse_fast(args)
    if invocation is not None:
        from tpdevice.cli.guard import finish, guarded, quiet_library_logs

        quiet_library_logs()
        finish(guarded(invocation))
        return
    from tpdevice.cli.app import main as full_main

    full_main(argv)
