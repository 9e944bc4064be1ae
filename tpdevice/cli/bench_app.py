"""`tpdevice bench ...`: each bench's options; the benches themselves load when they run."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["LoopOpt", "bench_app"]

bench_app = typer.Typer(help="Measure latency and throughput; the last line is one JSON object.")

LoopOpt = Annotated[
    str,
    typer.Option(
        "--loop", metavar="NAME", help="Event loop: auto (uvloop when installed), asyncio, uvloop."
    ),
]


@bench_app.command("link")
def bench_link(
    device: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS", help="sim, serial, tcp, ble (starts a simulator) or an address."
        ),
    ] = "sim",
    n: Annotated[int, typer.Option(metavar="N", min=10, help="Round trips to time.")] = 2000,
    loop: LoopOpt = "auto",
) -> None:
    """Command -> ACK round trip against a raw echo floor over the same kind of link."""
    from tpdevice.cli import bench_link as bench

    bench.run(device, n, loop=loop)


@bench_app.command("stop")
def bench_stop(
    devices: Annotated[int, typer.Option(metavar="N", help="Simulated guns, all running.")] = 20,
    runs: Annotated[int, typer.Option(metavar="N", help="Stops to time.")] = 5,
) -> None:
    """`tpdevice stop` as a whole process, to every simulated motor stopped."""
    from tpdevice.cli import bench_stop as bench

    bench.run(devices, runs)


@bench_app.command("decode")
def bench_decode(
    frames: Annotated[int, typer.Option(metavar="N", min=1000, help="Frames to decode.")] = 200_000,
) -> None:
    """Stream decoder throughput on one core (frames/s)."""
    from tpdevice.cli import bench_decode as bench

    bench.run(frames)


@bench_app.command("soak")
def bench_soak(
    minutes: Annotated[float | None, typer.Option(help="How long to soak (default 1).")] = None,
    seconds: Annotated[float | None, typer.Option(help="How long, in seconds instead.")] = None,
    transport: Annotated[str, typer.Option(help="serial or tcp.")] = "tcp",
    faults: Annotated[str, typer.Option(help="Link faults (the `sim --faults` syntax).")] = (
        "drop=0.05,corrupt=0.01,dup=0.02,disconnect_every_s=5"
    ),
    sessions: Annotated[int, typer.Option(min=1, max=200, help="Guns soaked at once.")] = 4,
) -> None:
    """Sessions back to back through link faults: completed, failed, invariant violations."""
    from tpdevice.cli import bench_soak as bench

    bench.run(bench.parse_settings(minutes, seconds, transport, faults, sessions))


@bench_app.command("timing")
def bench_timing(
    sessions: Annotated[
        int, typer.Option(metavar="N", min=1, max=1000, help="Concurrent sessions.")
    ] = 50,
    transport: Annotated[
        str, typer.Option(metavar="NAME", help="serial, tcp or sim (in process).")
    ] = "serial",
    loop: LoopOpt = "auto",
    profile: Annotated[
        str | None,
        typer.Option(
            metavar="PROFILE", help="A catalogue profile instead of the 1 s step profile."
        ),
    ] = None,
    seconds: Annotated[
        float, typer.Option(metavar="SECONDS", help="Length of the built-in profile (2-64 s).")
    ] = 15.0,
    spin_ms: Annotated[
        float,
        typer.Option(
            metavar="MS", help="Clock spin: yield through the last MS before each deadline."
        ),
    ] = 0.0,
    aligned: Annotated[
        bool, typer.Option(help="Start every session at once (worst case) instead of spread.")
    ] = False,
) -> None:
    """Step-transition lateness of N host-mode sessions against the loop's timer floor."""
    from tpdevice.cli import bench_timing as bench

    bench.run(bench.TimingSettings(sessions, transport, loop, seconds, profile, spin_ms, aligned))


@bench_app.command("scale")
def bench_scale(
    devices: Annotated[int, typer.Option(metavar="N", help="Simulated guns in the daemon.")] = 200,
    transport: Annotated[
        str, typer.Option(metavar="NAME", help="serial (ptys of a child simulator) or sim.")
    ] = "serial",
    seconds: Annotated[
        float, typer.Option(metavar="SECONDS", help="Length of each session (2-64 s).")
    ] = 10.0,
    time_scale: Annotated[
        float, typer.Option(metavar="X", help="Run the guns and sessions X times as fast.")
    ] = 1.0,
    find_max: Annotated[
        bool, typer.Option(help="Double N until the goal is missed; report the largest N.")
    ] = False,
    max_devices: Annotated[
        int, typer.Option(metavar="N", help="With --find-max, the most guns to try.")
    ] = 1000,
    loop: LoopOpt = "auto",
) -> None:
    """N guns in one daemon: CPU and memory per gun, journal lag, step lateness vs floor."""
    from tpdevice.cli import bench_scale as bench

    settings = bench.ScaleSettings(
        devices, transport, seconds, time_scale, find_max, max_devices, loop
    )
    bench.run(settings)


@bench_app.command("sim")
def bench_sim(
    devices: Annotated[int, typer.Option(metavar="N", help="Simulated guns in one process.")] = 200,
    transport: Annotated[
        str, typer.Option(metavar="NAME", help="serial (ptys) or tcp.")
    ] = "serial",
    seconds: Annotated[
        float, typer.Option(metavar="SECONDS", help="Measured time of each child (1-600 s).")
    ] = 10.0,
    loop: LoopOpt = "auto",
) -> None:
    """The simulator alone at 20 Hz telemetry: CPU per gun-second against a no-firmware floor."""
    from tpdevice.cli import bench_sim as bench

    bench.run(bench.SimBenchSettings(devices, transport, seconds, loop))


@bench_app.command("startup")
def bench_startup(
    runs: Annotated[
        int, typer.Option(metavar="N", min=3, help="Processes of each kind to time.")
    ] = 15,
    profile: Annotated[
        str, typer.Option(metavar="PROFILE", help="The profile `run` starts.")
    ] = "upper-trapezius",
) -> None:
    """Whole-process start-up: `profiles list`, and `run` to its first setpoint."""
    from tpdevice.cli import bench_startup as bench

    bench.run(bench.StartupSettings(runs, profile))


@bench_app.command("mqtt")
def bench_mqtt(
    devices: Annotated[int, typer.Option(metavar="N", min=1, max=500, help="Simulated guns.")] = 50,
    rate_hz: Annotated[
        float, typer.Option(metavar="HZ", min=0.1, max=20, help="Telemetry per gun.")
    ] = 20.0,
    seconds: Annotated[float, typer.Option(metavar="SECONDS", min=1, help="Measured time.")] = 10.0,
    broker: Annotated[
        str | None, typer.Option(metavar="URL", help="A broker to use instead of a private one.")
    ] = None,
    replay_events: Annotated[
        int, typer.Option(metavar="N", min=10, help="Events journaled offline, then replayed.")
    ] = 5000,
    ramp: Annotated[bool, typer.Option(help="Also find the largest sustained events/s.")] = False,
    ramp_max: Annotated[
        float, typer.Option(metavar="N", min=250, help="Events/s where the ramp stops.")
    ] = 64_000.0,
    transport: Annotated[
        str, typer.Option(metavar="NAME", help="tcp or serial (a child simulator), or sim.")
    ] = "tcp",
) -> None:
    """Daemon telemetry and events, publish -> subscriber, against a bare aiomqtt floor."""
    from tpdevice.cli import bench_mqtt as bench

    bench.run(bench.MqttBenchSettings(devices, rate_hz, seconds, broker,
                                      replay_events=replay_events, ramp=ramp,
                                      ramp_max_per_s=ramp_max, transport=transport))  # fmt: skip
