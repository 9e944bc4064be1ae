"""`tpdevice bench mqtt`: publish -> subscriber latency of a daemon's telemetry and events.

The daemon runs in this process with N simulated guns, sessions running back to back and its
MQTT bridge publishing telemetry at `rate_hz` per gun. Every publish of the bridge is stamped;
a subscriber in a child process (as an integrator's is another program) matches what arrives.
The floor is a bare aiomqtt QoS 1 publish -> child subscriber at the same message rate through
the same broker, measured in the same run.
Then the outbox: the replay rate of events journaled while offline, and (with --ramp) the
largest event rate the journal -> outbox -> subscriber path sustains before its lag grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
from rich.console import Console

from tpdevice.cli.bench_child import BenchError
from tpdevice.cli.bench_fleet import start_fleet
from tpdevice.cli.bench_mqtt_parts import (
    Stamps,
    local_broker,
    measure_floor,
    measure_ramp,
    measure_replay,
)
from tpdevice.cli.bench_mqtt_sub import payload_key, subscriber
from tpdevice.cli.bench_timing import timing_profile
from tpdevice.cli.benchkit import emit, goal_text, ratio, summarize_ms
from tpdevice.cli.errors import CliError
from tpdevice.daemon.config import DaemonConfig, DeviceConfig, MqttConfig
from tpdevice.daemon.control import ControlError, StartRequest
from tpdevice.daemon.core import GunDaemon
from tpdevice.daemon.journal import Journal
from tpdevice.daemon.service import Closeable, DaemonService, Extension, ServiceOptions
from tpdevice.mqtt.bridge import MqttBridge
from tpdevice.mqtt.extension import mqtt_extension
from tpdevice.mqtt.settings import MqttSettings, MqttSettingsError
from tpdevice.therapy.loader import Catalogue, LoadedProfile, ProfileSource

__all__ = ["MqttBenchSettings", "run"]

TARGET_P99_MS = 5.0
TARGET_RATIO = 2.0
NODE = "bench"
SESSION_S = 16.0  # 1 s steps: a few events a second from every gun
WARMUP_S = 1.0
READY_TIMEOUT_S = 30.0
LAG_TICK_S = 0.005
DRAIN_S = 0.2
ENDED = {"completed", "aborted", "failed", "interrupted"}


@dataclass(frozen=True, slots=True)
class MqttBenchSettings:
    """What to run: guns, telemetry rate, how long, which broker, and the outbox parts."""

    devices: int = 50
    rate_hz: float = 20.0
    seconds: float = 10.0
    broker: str | None = None  # None: start a private mosquitto
    time_scale: float = 1.0  # simulated guns in real time: their telemetry rate is real too
    replay_events: int = 5000
    ramp: bool = False
    transport: str = "tcp"  # tcp: guns in a child `tpdevice sim`; sim: in this process
    ramp_max_per_s: float = 64_000.0  # the ramp doubles from 250 events/s up to this


def run(settings: MqttBenchSettings) -> None:
    """Measure, print a summary on stderr, then the JSON line."""
    console = Console(stderr=True, highlight=False)
    if settings.transport not in {"tcp", "serial", "sim"}:
        raise CliError(f"--transport: {settings.transport!r} is not one of tcp, serial, sim")
    if settings.broker is not None:
        try:  # a bad URL is named before anything starts
            MqttSettings.from_url(settings.broker)
        except MqttSettingsError as err:
            raise CliError(f"--broker: {err}") from None
    with _broker(settings.broker) as url:
        try:
            result = asyncio.run(_measure(settings, url, console))
        except aiomqtt.MqttError as err:
            raise BenchError(f"{MqttSettings.from_url(url).safe_url}: {err}") from None
    _report(console, settings, result)


@contextlib.contextmanager
def _broker(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    with local_broker() as started:
        yield started


async def _measure(settings: MqttBenchSettings, url: str, console: Console) -> dict[str, Any]:
    mqtt = MqttSettings.from_url(url)
    rate_per_s = settings.devices * settings.rate_hz
    # As long as the daemon's measurement: two p99s of as many samples.
    console.print(f"floor: bare aiomqtt QoS 1 at {rate_per_s:g} msg/s for {settings.seconds:g} s")
    floor = await measure_floor(url, rate_per_s, settings.seconds)
    guns = f"{settings.devices} {settings.transport} guns"
    console.print(f"daemon: {guns}, telemetry {settings.rate_hz:g} Hz each, {settings.seconds:g} s")
    with tempfile.TemporaryDirectory(prefix="tpdevice-bench-mqtt-") as name:
        folder = Path(name)
        measured = await _measure_daemon(settings, url, folder)
        console.print(f"outbox: replay of {settings.replay_events} events journaled offline")
        replay_per_s = await measure_replay(mqtt, settings.replay_events, folder)
        ramp: list[dict[str, float | bool]] = []
        if settings.ramp:
            console.print("ramp: journal -> outbox -> subscriber, doubling events/s")
            ramp = await measure_ramp(mqtt, settings.devices, folder, settings.ramp_max_per_s)
    return {**measured, "floor": floor, "replay_per_s": replay_per_s, "ramp": ramp}


@dataclass
class _Running:
    """What the bench reaches into once the daemon started its bridge."""

    bridge: MqttBridge | None = None
    guns: GunDaemon | None = None


async def _measure_daemon(settings: MqttBenchSettings, url: str, folder: Path) -> dict[str, Any]:
    stamps = Stamps()
    running = _Running()
    filters = {f"tpdevice/{NODE}/+/telemetry": "telemetry", f"tpdevice/{NODE}/+/events": "events"}
    async with (
        _daemon(settings, url, folder, running, stamps) as guns,
        subscriber(url, filters) as child,
    ):
        profile = timing_profile(SESSION_S)
        bench_entry = LoadedProfile(profile, Path("bench"), ProfileSource.FILE)
        guns.catalogue = Catalogue((bench_entry, *guns.catalogue.entries))
        devices = guns.devices()
        sessions = [
            asyncio.create_task(_sessions(guns, slot.id, profile.id, index / len(devices)))
            for index, slot in enumerate(devices)
        ]
        try:
            await asyncio.sleep(WARMUP_S)
            cpu_before_s, start_s = _cpu_s(), time.monotonic()
            loop_lag_s = await _loop_lag(settings.seconds)
            elapsed_s = time.monotonic() - start_s
            cpu_s = _cpu_s() - cpu_before_s
            await asyncio.sleep(DRAIN_S)  # what was published last reaches the child
            arrivals = await child.stop()
        finally:
            for task in sessions:
                task.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)
    stamps.arrived(arrivals, since_s=start_s)
    latency = {kind: list(samples) for kind, samples in stamps.latency_s.items()}
    received: dict[str, int] = {}  # per second of the measurement: what arrived within it
    for arrival in arrivals:
        if start_s <= arrival.at_s <= start_s + elapsed_s:
            received[arrival.kind] = received.get(arrival.kind, 0) + 1
    return {"latency": latency, "received": received, "elapsed_s": elapsed_s, "lag": loop_lag_s,
            "cpu_pct": 100 * cpu_s / elapsed_s}  # fmt: skip


async def _loop_lag(seconds: float) -> list[float]:
    """How late 5 ms sleeps wake for `seconds`: stalls of the loop the bridge shares."""
    lag_s: list[float] = []
    end = time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        await asyncio.sleep(LAG_TICK_S)
        lag_s.append(time.perf_counter() - now - LAG_TICK_S)
    return lag_s


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.asynccontextmanager
async def _daemon(
    settings: MqttBenchSettings, url: str, folder: Path, running: _Running, stamps: Stamps
) -> AsyncIterator[GunDaemon]:
    """The daemon with its bridge, every publish of the bridge stamped; its guns once ready."""
    inner = mqtt_extension(url + ("&" if "?" in url else "?") + f"node={NODE}")

    async def extension(config: DaemonConfig, guns: GunDaemon, journal: Journal) -> Closeable:
        bridge = await inner(config, guns, journal)
        assert isinstance(bridge, MqttBridge)
        _stamp_publishes(bridge, stamps)
        running.bridge, running.guns = bridge, guns
        return bridge

    async with contextlib.AsyncExitStack() as stack:
        addresses = [f"sim?id={i}" for i in range(1, settings.devices + 1)]
        if settings.transport != "sim":  # guns in a child process, as real guns are elsewhere
            addresses = await start_fleet(settings.transport, settings.devices, "auto", stack)
        config = DaemonConfig(
            devices=[DeviceConfig(id=f"gun-{i}", address=address)
                     for i, address in enumerate(addresses, 1)],
            mqtt=MqttConfig(url=url, telemetry_hz=settings.rate_hz),
        )  # fmt: skip
        async with _service(settings, config, folder, extension, running) as guns:
            yield guns


@contextlib.asynccontextmanager
async def _service(
    settings: MqttBenchSettings,
    config: DaemonConfig,
    folder: Path,
    extension: Extension,
    running: _Running,
) -> AsyncIterator[GunDaemon]:
    """The daemon service running `config`; its guns once they and the bridge are ready."""
    options = ServiceOptions(
        socket_path=folder / "api.sock", journal_path=folder / "daemon.sqlite3",
        time_scale=settings.time_scale, extensions=[extension],
    )  # fmt: skip
    service = DaemonService(config, options)
    task = asyncio.create_task(service.run())
    try:
        await _until_ready(service, task, running, settings.devices)
        gc.freeze()  # as `tpdevice daemon` does once it serves
        assert running.guns is not None
        yield running.guns
    finally:
        service.stop()
        await task


def _stamp_publishes(bridge: MqttBridge, stamps: Stamps) -> None:
    link = bridge.link
    publish = link.publish

    async def stamped(topic: str, payload: bytes, **options: Any) -> None:
        stamps.send(topic, payload_key(payload).encode())
        await publish(topic, payload, **options)

    link.publish = stamped  # type: ignore[method-assign]


async def _until_ready(
    service: DaemonService, task: asyncio.Task[None], running: _Running, count: int
) -> None:
    """Until the bridge announced itself and every gun is ready; BenchError after a timeout."""
    deadline = time.perf_counter() + READY_TIMEOUT_S
    while time.perf_counter() < deadline:
        if task.done():
            task.result()
            raise BenchError("the daemon stopped while starting")
        bridge, guns = running.bridge, running.guns
        if (
            bridge is not None
            and guns is not None
            and bridge.announced.is_set()
            and sum(device.state == "ready" for device in guns.devices()) == count
        ):
            return
        await asyncio.sleep(0.05)
    raise BenchError(f"the daemon's {count} guns and bridge were not ready in {READY_TIMEOUT_S} s")


async def _sessions(guns: GunDaemon, device_id: str, profile_id: str, delay_s: float) -> None:
    """Sessions back to back on one gun, so that events keep flowing.

    Starts are spread over one step (`delay_s`), as independent guns are: not all at once.
    """
    await asyncio.sleep(delay_s)
    while True:
        try:
            session = await guns.start_session(StartRequest(device=device_id, profile=profile_id))
        except ControlError:
            await asyncio.sleep(0.2)  # the gun is between sessions: try again
            continue
        # Polling a few times a second costs less than following every event of every gun.
        while guns.session(session.id).state not in ENDED:  # noqa: ASYNC110
            await asyncio.sleep(0.2)


def _report(console: Console, settings: MqttBenchSettings, result: dict[str, Any]) -> None:
    latency, received = result["latency"], result["received"]
    if not latency.get("telemetry") or not latency.get("events"):
        raise BenchError(f"the subscriber received too little to measure: {received}")
    floor = summarize_ms(result["floor"])
    telemetry, events = summarize_ms(latency["telemetry"]), summarize_ms(latency["events"])
    both = summarize_ms(latency["telemetry"] + latency["events"])
    met = both["p99_ms"] <= TARGET_P99_MS and both["p99_ms"] <= TARGET_RATIO * floor["p99_ms"]
    elapsed_s = result["elapsed_s"]
    events_per_s = received.get("events", 0) / elapsed_s
    sustained = [step["target_per_s"] for step in result["ramp"] if step["kept_up"]]
    console.print(
        f"telemetry p50 {telemetry['p50_ms']} ms, p99 {telemetry['p99_ms']} ms; events p50 "
        f"{events['p50_ms']} ms, p99 {events['p99_ms']} ms; floor p50 {floor['p50_ms']} ms, "
        f"p99 {floor['p99_ms']} ms; {events_per_s:.0f} events/s; process CPU "
        f"{result['cpu_pct']:.0f} %; outbox replay {result['replay_per_s']:.0f} events/s"
    )
    goal = f"p99 <= {TARGET_P99_MS:g} ms and <= {TARGET_RATIO:g}x the floor's p99"
    console.print(goal_text(goal, met, f"{settings.devices} guns x {settings.rate_hz:g} Hz"))
    emit({
        "bench": "mqtt", "n": len(latency["telemetry"]) + len(latency["events"]),
        "devices": settings.devices, "rate_hz": settings.rate_hz, **both,
        "floor_p50_ms": floor["p50_ms"], "floor_p99_ms": floor["p99_ms"],
        "ratio_p50": ratio(both["p50_ms"], floor["p50_ms"]),
        "ratio_p99": ratio(both["p99_ms"], floor["p99_ms"]),
        "goal_met": met, "target_p99_ms": TARGET_P99_MS, "target_ratio_p99": TARGET_RATIO,
        **{f"telemetry_{k}": v for k, v in telemetry.items()},
        **{f"events_{k}": v for k, v in events.items()},
        "telemetry_per_s": round(received.get("telemetry", 0) / elapsed_s, 1),
        "events_per_s": round(events_per_s, 1), "cpu_pct": round(result["cpu_pct"], 1),
        **{f"loop_lag_{k}": v for k, v in summarize_ms(result["lag"]).items()},
        "replay_events": settings.replay_events,
        "replay_events_per_s": round(result["replay_per_s"], 1),
        "ramp": result["ramp"], "max_sustained_events_per_s": max(sustained, default=None),
    })  # fmt: skip
