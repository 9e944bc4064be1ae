"""The `tpdevice` command: parses arguments, runs one command, reports failures as one line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from tpdevice import __version__
from tpdevice.cli.bench_app import LoopOpt, bench_app
from tpdevice.cli.daemon_app import register as register_daemon_commands
from tpdevice.cli.devices_app import ConfigFileOpt, DaemonSocketOpt
from tpdevice.cli.devices_app import register as register_device_edits
from tpdevice.cli.guard import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    fail,
    finish,
    guarded,
    quiet_library_logs,
)
from tpdevice.cli.help_text import tidy_help
from tpdevice.cli.profiles_cmd import profiles_app

app = typer.Typer(
    name="tpdevice",
    help="Drive percussive massage guns for trigger-point therapy.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.add_typer(bench_app, name="bench")
app.add_typer(profiles_app, name="profiles")
devices_app = typer.Typer(
    help="Guns: scan for them over BLE, list, add and remove the daemon's guns."
)
app.add_typer(devices_app, name="devices")
register_daemon_commands(app)

TransportOpt = Annotated[str, typer.Option(metavar="NAME", help="serial, tcp or ble.")]
TimeScaleOpt = Annotated[
    float, typer.Option(metavar="X", help="Run X times faster (the built-in simulator only).")
]


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"tpdevice {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log to stderr.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Drive percussive massage guns for trigger-point therapy."""
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s: %(message)s")


@app.command()
def sim(
    transport: TransportOpt = "serial",
    count: Annotated[int, typer.Option(metavar="N", min=1, max=1000, help="How many guns.")] = 1,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed for physics and faults.")] = 0,
    faults: Annotated[
        str, typer.Option(metavar="SPEC", help="e.g. drop=0.05,corrupt=0.01,delay_ms=5")
    ] = "",
    time_scale: Annotated[
        float, typer.Option(metavar="X", help="Device time runs X times faster.")
    ] = 1.0,
    model: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="Gun model: tp-sim-pro|mini|wide, or another driver's (ble only).",
        ),
    ] = "tp-sim-pro",
    scenario: Annotated[
        str,
        typer.Option(metavar="NAME", help="Hand contact: none, steady, follow_band, heavy_spikes."),
    ] = "follow_band",
    loop: LoopOpt = "auto",
    hci: Annotated[
        str | None,
        typer.Option(
            metavar="SPEC",
            help="With --transport ble: a real controller (bumble spec, e.g. usb:0).",
        ),
    ] = None,
) -> None:
    """Start simulated guns and print one address per line; runs until Ctrl-C or SIGTERM."""
    from tpdevice.cli import sim_cmd

    sim_cmd.run(transport, count, seed, faults, time_scale, model, scenario, loop, hci)


@app.command()
def probe(
    address: Annotated[
        str,
        typer.Argument(
            metavar="ADDRESS",
            help="sim, serial:///dev/..., tcp://host:port, ble://MAC or ble://name=N",
        ),
    ],
    seconds: Annotated[
        float, typer.Option(metavar="SECONDS", min=0.0, help="How long to show telemetry.")
    ] = 2.0,
    json_out: Annotated[bool, typer.Option("--json", help="JSON lines instead of tables.")] = False,
    watchdog_ms: Annotated[
        int,
        typer.Option(
            metavar="MS", min=0, max=65535, help="Watchdog to ask for (0 = device default)."
        ),
    ] = 1000,
    telemetry_hz: Annotated[
        int, typer.Option(metavar="HZ", min=1, max=255, help="Telemetry rate to ask for.")
    ] = 20,
    spin_hz: Annotated[
        float,
        typer.Option(
            "--spin", metavar="HZ", min=0.0, help="Run the motor at HZ meanwhile (0 = off)."
        ),
    ] = 0.0,
    force_n: Annotated[
        float,
        typer.Option(
            "--force", metavar="NEWTONS", min=0.0, help="Pressure band target (N) with --spin."
        ),
    ] = 20.0,
) -> None:
    """Connect to a gun, print its capabilities and a few seconds of telemetry."""
    from tpdevice.cli import probe_cmd

    spin = probe_cmd.Spin(spin_hz, force_n) if spin_hz > 0 else None
    probe_cmd.run(
        address, seconds, json_out, watchdog_ms=watchdog_ms, telemetry_hz=telemetry_hz, spin=spin
    )


RUN_EXIT_CODES = (
    "On a real gun the run waits after the safety notes: Enter starts the motor, Esc or q "
    "cancels (--yes skips the wait). "
    "Exit codes: 0 completed, or stopped with q; 1 the device, the link or a profile file "
    "failed, the session was aborted by a fault, stdout's reader went away (the session is "
    "stopped), or the start was cancelled at the safety notes; 2 a usage mistake: a bad "
    "option, --device address, profile id or --side, or a real gun with no terminal and no "
    "--yes; 130 Ctrl-C (the motor is stopped and the summary shown first); 143 SIGTERM "
    "(likewise, reported as terminated)."
)


@app.command("run", epilog=RUN_EXIT_CODES)
def run_profile(
    profile: Annotated[
        str, typer.Argument(metavar="PROFILE", help="Profile id (upper-trapezius) or file.")
    ],
    device: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS|ID",
            help="Gun address (default: the built-in simulator, sim), or a configured gun id"
            " (through the daemon when it runs).",
        ),
    ] = None,
    side: Annotated[
        str | None,
        typer.Option(
            metavar="SIDE",
            help="left, right or both for a two-sided profile (default both); midline for a "
            "one-sided one (the default there).",
        ),
    ] = None,
    time_scale: TimeScaleOpt = 1.0,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON event a line, the summary last.")
    ] = False,
    profiles_dir: Annotated[
        list[Path] | None,
        typer.Option(metavar="PATH", help="Another directory of profiles (repeatable)."),
    ] = None,
    mode: Annotated[
        str, typer.Option(metavar="MODE", help="auto, host or firmware (who times the steps).")
    ] = "auto",
    intensity: Annotated[
        float,
        typer.Option(
            metavar="PERCENT", help="Pressure targets in percent (50-120), capped anyway."
        ),
    ] = 100.0,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="On a real gun, start without pressing Enter after the safety notes (scripts).",
        ),
    ] = False,
    journal: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Journal the session here (default: per user)."),
    ] = None,
    no_journal: Annotated[
        bool, typer.Option("--no-journal", help="Keep no record of this session.")
    ] = False,
) -> None:
    """Run a therapy profile with a live view: space pauses, s skips, q or Ctrl-C stops."""
    from tpdevice.cli.hot import start_run

    start_run(
        profile,
        device,
        side,
        time_scale,
        json_out,
        profiles_dir,
        mode,
        intensity,
        yes=yes,
        journal=journal,
        no_journal=no_journal,
    )


@devices_app.command("scan")
def devices_scan(
    timeout: Annotated[float, typer.Option(metavar="SECONDS", help="Seconds to listen.")] = 5.0,
    hci: Annotated[
        str | None,
        typer.Option(
            metavar="SPEC",
            help="bumble HCI to scan on (e.g. tcp-client:127.0.0.1:PORT, usb:0); "
            "default TPDEVICE_BLE_HCI, else the system adapter.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
    add: Annotated[
        bool, typer.Option("--add", help="Add the guns heard to the config (and the daemon).")
    ] = False,
    device_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="With --add: the id of the one gun.")
    ] = None,
    config: ConfigFileOpt = None,
    socket: DaemonSocketOpt = None,
) -> None:
    """Scan for guns over BLE: name, address, RSSI, driver; --add adopts them."""
    from tpdevice.cli import devices_cmd
    from tpdevice.cli.errors import CliError

    if device_id is not None and not add:
        raise CliError("--id needs --add")
    results = devices_cmd.run_scan(timeout, hci, json_out)
    if add:
        from tpdevice.cli.devices_edit import add_scanned

        add_scanned(results, device_id, config, socket)


@devices_app.command("list")
def devices_list(
    json_out: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
    socket: Annotated[
        Path | None,
        typer.Option("--socket", metavar="PATH", help="The daemon's control socket."),
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(
            "--mqtt",
            metavar="URL",
            help="List every daemon's guns on this broker (mqtt[s]://user:password@host:port).",
        ),
    ] = None,
) -> None:
    """The daemon's guns (state, battery, firmware, session); with --mqtt, every daemon's."""
    from tpdevice.cli import devices_cmd

    if mqtt is not None:
        if socket is not None:
            from tpdevice.cli.errors import CliError

            raise CliError("--mqtt and --socket: give one (a broker or a daemon's socket)")
        devices_cmd.list_mqtt_devices(mqtt, json_out)
        return
    devices_cmd.list_devices(json_out, socket)


register_device_edits(devices_app)  # after scan and list: the help lists them in this order


@app.command()
def version() -> None:
    """Print the version (also: tpdevice --version)."""
    typer.echo(__version__)


def _usage_text(err: typer.TyperException) -> str:
    """One line out of a usage error, naming the option when typer knows it."""
    text = getattr(err, "format_message", lambda: str(err))()
    return " ".join(str(text).split())


def _run_typer(argv: list[str] | None) -> object:
    """Parse with typer and run the command; typer's own errors become one line."""
    try:
        command = tidy_help(typer.main.get_command(app))
        return command.main(args=argv, prog_name="tpdevice", standalone_mode=False)
    except typer.Abort:
        fail("interrupted", EXIT_INTERRUPTED)
    except typer.TyperException as err:
        text = _usage_text(err)
        if not text:  # `tpdevice` alone: the help was printed, nothing more to say
            raise SystemExit(EXIT_USAGE) from None
        fail(f"error: {text}", EXIT_USAGE)


def main(argv: list[str] | None = None) -> None:
    """Entry point: never lets a traceback reach the user (TPDEVICE_DEBUG=1 shows one)."""
    quiet_library_logs()
    finish(guarded(lambda: _run_typer(argv)))
