"""The `tpdevice` command's first stop: `stop`, `profiles list` and `run` skip the typer app."""

from __future__ import annotations

import gc
import sys

__all__ = ["main", "startup_done"]


def main(argv: list[str] | None = None) -> None:
    """Run a plain `stop`, `profiles list` or `run` directly; everything else through typer."""
    args = sys.argv[1:] if argv is None else argv
    collecting = gc.isenabled()
    # Start-up builds objects that live as long as the process: collecting while the modules
    # load finds nothing and costs a tenth of the time to a session's first setpoint.
    gc.disable()
    try:
        _dispatch(args, argv)
    finally:
        if argv is not None:
            gc.unfreeze()  # an in-process caller keeps all of its heap collectable
        if collecting:
            gc.enable()


def _dispatch(args: list[str], argv: list[str] | None) -> None:
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

    startup_done()
    full_main(argv)


def startup_done() -> None:
    """Collect garbage again, leaving what start-up built out of every collection."""
    gc.freeze()
    gc.enable()
