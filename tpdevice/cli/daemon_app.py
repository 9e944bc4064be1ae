"""The commands that work with the daemon and its journal: daemon, session, events, history,
report, stop. Registered on the main `tpdevice` app."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # httpx is imported only by the commands that call the daemon
    from tpdevice.cli.daemon_client import DaemonClient

__all__ = ["register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document instead of text.")]
SocketOpt = Annotated[
    Path | None,
    typer.Option(
        "--socket", metavar="PATH", help="The daemon's control socket (default: per user)."
    ),
]
JournalOpt = Annotated[
    Path | None,
    typer.Option("--journal", metavar="PATH", help="The journal file (default: per user)."),
]
SessionArg = Annotated[
    str | None, typer.Argument(metavar="SESSION", help="Session id (default: the running one).")
]
session_app = typer.Typer(help="Start, watch, pause, resume, skip and stop sessions on the daemon.")


def _client(socket: Path | None) -> DaemonClient:
    from tpdevice.cli.daemon_client import DaemonClient

    return DaemonClient(socket)


def register(app: typer.Typer) -> None:
    """Add these commands to `app`."""
    app.add_typer(session_app, name="session")
    app.command("daemon")(daemon)
    app.command("events")(events)
    app.command("history")(history)
    app.command("report")(report)
    app.command("stop")(stop)


def daemon(
    config: Annotated[
        Path | None, typer.Option("--config", metavar="FILE", help="Config file (YAML).")
    ] = None,
    sim: Annotated[
        int, typer.Option("--sim", metavar="N", help="Add N simulated guns (sim-1..N).")
    ] = 0,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Check the config (default: the per-user one) and the broker URL, then exit.",
        ),
    ] = False,
    mqtt: Annotated[
        str | None, typer.Option("--mqtt", metavar="URL", help="Publish to this MQTT broker.")
    ] = None,
    time_scale: Annotated[
        float, typer.Option("--time-scale", metavar="X", help="Simulated guns run X times faster.")
    ] = 1.0,
    socket: SocketOpt = None,
    journal: JournalOpt = None,
) -> None:
    """Drive many guns in the foreground: keep them connected, run sessions, serve the API."""
    from tpdevice.cli.daemon_cmd import build_config, check_config, run_daemon

    if check:
        check_config(config, mqtt)
        return
    run_daemon(
        build_config(config, sim),
        config_file=config,
        socket=socket,
        journal=journal,
        mqtt_url=mqtt,
        time_scale=time_scale,
    )


@session_app.command("start")
def session_start(
    profile: Annotated[str, typer.Argument(metavar="PROFILE", help="Profile id.")],
    device: Annotated[str, typer.Option("--device", metavar="ID", help="Configured gun id.")],
    side: Annotated[
        str | None, typer.Option("--side", metavar="SIDE", help="left, right, both or midline.")
    ] = None,
    client: Annotated[
        str | None,
        typer.Option(
            "--client", metavar="PSEUDONYM", help="Who is treated (a pseudonym, never a name)."
        ),
    ] = None,
    override: Annotated[
        str | None,
        typer.Option(
            "--override",
            metavar="REASON",
            help="Start despite a dose or recovery refusal; the reason is journaled.",
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Show the session live as `run` does (space pause, s skip, q stop), then its "
            "summary.",
        ),
    ] = False,
    socket: SocketOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Start a profile on a gun; prints the session id at once (or, --follow, shows it live)."""
    from tpdevice.cli.session_cmd import start_session

    if follow:
        from tpdevice.cli.run_cmd import load_run_profile
        from tpdevice.cli.run_route import follow as follow_session

        loaded = load_run_profile(profile, (), side)
        follow_session(
            device, loaded, side, json_out=json_out, pseudonym=client, override=override,
            socket=socket,
        )  # fmt: skip
        return
    start_session(
        _client(socket),
        profile,
        device,
        side=side,
        pseudonym=client,
        override=override,
        json_out=json_out,
    )


@session_app.command("status")
def session_status(
    session: SessionArg = None, socket: SocketOpt = None, json_out: JsonOpt = False
) -> None:
    """One session, or every session since the daemon started."""
    from tpdevice.cli.session_cmd import session_status as status

    status(_client(socket), session, json_out)


def _command(name: str) -> None:
    def command(
        session: SessionArg = None, socket: SocketOpt = None, json_out: JsonOpt = False
    ) -> None:
        from tpdevice.cli.session_cmd import session_command

        session_command(_client(socket), name, session, json_out)

    command.__doc__ = f"{name.capitalize()} a session (the running one when no id is given)."
    session_app.command(name)(command)


for _name in ("pause", "resume", "skip", "stop"):
    _command(_name)


def events(
    follow: Annotated[
        bool, typer.Option("--follow", help="Stream events from the running daemon as they happen.")
    ] = False,
    after: Annotated[
        str | None,
        typer.Option(
            "--after", metavar="CURSOR", help="With --follow: only events past DEVICE=SEQ,..."
        ),
    ] = None,
    last: Annotated[
        int, typer.Option("--last", metavar="N", help="Without --follow: the last N journaled.")
    ] = 50,
    socket: SocketOpt = None,
    journal: JournalOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Session and device events: the journaled ones, or (--follow) live from the daemon."""
    if follow:
        from tpdevice.cli.session_cmd import follow_events

        follow_events(_client(socket), after, json_out)
        return
    from tpdevice.cli.history_cmd import show_events

    show_events(journal, last, json_out)


def history(
    client: Annotated[
        str | None, typer.Option("--client", metavar="PSEUDONYM", help="Only this client.")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", metavar="REGION", help="Only this region.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="WHEN", help="A date, a time or Nd (days).")
    ] = None,
    export: Annotated[
        str | None, typer.Option("--export", metavar="FORMAT", help="csv or json.")
    ] = None,
    journal: JournalOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Past sessions from the journal, newest first."""
    from tpdevice.cli.history_cmd import show_history

    show_history(
        journal, client=client, region=region, since=since, export=export, json_out=json_out
    )


def report(
    session: Annotated[str, typer.Argument(metavar="SESSION", help="Session id.")],
    plot: Annotated[
        Path | None,
        typer.Option("--plot", metavar="FILE.png", help="Draw rate and force over time."),
    ] = None,
    journal: JournalOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One session's steps, planned against actual, and optionally its plot."""
    from tpdevice.cli.history_cmd import show_report

    show_report(journal, session, plot, json_out)


def stop() -> None:
    """Stop every motor of the running daemon now."""
    from tpdevice.cli.stop_fast import stop_all

    raise typer.Exit(stop_all())
