"""Pieces of `tpdevice bench mqtt`: a private mosquitto, a latency-stamping subscriber, the bare
aiomqtt floor, the outbox replay after an outage and the events/s ramp."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from tpdevice.cli.bench_child import BenchError
from tpdevice.cli.bench_mqtt_sub import Arrival, payload_key, subscriber
from tpdevice.daemon.journal import Journal
from tpdevice.mqtt.link import MqttLink
from tpdevice.mqtt.outbox import EventOutbox
from tpdevice.mqtt.settings import MqttSettings
from tpdevice.mqtt.topics import Topics
from tpdevice.therapy.events import CueEvent

__all__ = [
    "Stamps",
    "listening",
    "local_broker",
    "measure_floor",
    "measure_ramp",
    "measure_replay",
    "new_client",
]

BROKER_START_TIMEOUT_S = 10.0
FLOOR_PAYLOAD = b"x" * 160  # about the size of one telemetry sample
FLOOR_DRAIN_S = 0.5


class Stamps:
    """Send times by (topic, payload); a received message becomes a latency sample.

    Times are time.monotonic(): CLOCK_MONOTONIC, one clock for every process of the machine.
    """

    def __init__(self) -> None:
        self.sent: dict[tuple[str, bytes], float] = {}
        self.latency_s: dict[str, list[float]] = {}
        self.received: dict[str, int] = {}

    def send(self, topic: str, payload: bytes) -> None:
        """Note that `payload` goes out on `topic` now."""
        self.sent[(topic, payload)] = time.monotonic()

    def receive(self, kind: str, topic: str, payload: bytes, at_s: float | None = None) -> None:
        """A message arrived (now, or at `at_s`): one sample of `kind` if this run sent it."""
        sent_at = self.sent.pop((topic, payload), None)
        self.received[kind] = self.received.get(kind, 0) + 1
        if sent_at is not None:
            arrived_s = time.monotonic() if at_s is None else at_s
            self.latency_s.setdefault(kind, []).append(arrived_s - sent_at)

    def arrived(self, arrivals: list[Arrival], since_s: float = 0.0) -> None:
        """What a child subscriber received from `since_s` on (its keys are payload_key)."""
        for arrival in arrivals:
            if arrival.at_s >= since_s:
                key = arrival.key.encode()
                self.receive(arrival.kind, arrival.topic, key, arrival.at_s)

    def clear(self) -> None:
        """Forget everything measured so far (after a warm-up)."""
        self.latency_s.clear()
        self.received.clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def local_broker() -> Iterator[str]:
    """A private mosquitto on a free loopback port (anonymous, nothing persisted); its URL."""
    binary = shutil.which("mosquitto")
    if binary is None:
        raise BenchError("mosquitto is not on PATH: install it, or pass --broker URL")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="tpdevice-bench-mqtt-") as folder:
        config = Path(folder) / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false",
                 "set_tcp_nodelay true", "max_queued_messages 0"]  # fmt: skip
        config.write_text("\n".join(lines) + "\n")
        process = subprocess.Popen(
            [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _until_listening(process, port)
            yield f"mqtt://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(BROKER_START_TIMEOUT_S)


def _until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + BROKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise BenchError(f"mosquitto exited with code {process.returncode}: {err.strip()}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        time.sleep(0.02)
    raise BenchError(f"mosquitto did not listen on port {port} within {BROKER_START_TIMEOUT_S} s")


def new_client(settings: MqttSettings) -> aiomqtt.Client:
    """A plain aiomqtt client to the bench's broker (no delay on small packets)."""
    version = aiomqtt.ProtocolVersion.V5 if settings.protocol == 5 else aiomqtt.ProtocolVersion.V311
    return aiomqtt.Client(
        settings.host, settings.port, username=settings.username, password=settings.password,
        protocol=version, max_queued_outgoing_messages=0,
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )  # fmt: skip


@contextlib.asynccontextmanager
async def listening(
    settings: MqttSettings,
    stamps: Stamps,
    filters: dict[str, str],
    key: Callable[[bytes], bytes] = bytes,
) -> AsyncIterator[None]:
    """A subscriber feeding `stamps` (filter -> kind) until the block ends.

    `key` turns a payload into what the sender stamped (default: the payload itself).
    """
    async with new_client(settings) as client:
        for topic_filter in filters:
            await client.subscribe(topic_filter, qos=1)

        async def receive() -> None:
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                kind = next(k for f, k in filters.items() if message.topic.matches(f))
                stamps.receive(kind, str(message.topic), key(payload))

        task = asyncio.create_task(receive())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


async def measure_floor(url: str, rate_hz: float, seconds: float) -> list[float]:
    """Bare aiomqtt QoS 1 publish -> child subscriber latencies at `rate_hz`, same broker."""
    stamps = Stamps()
    topic = "tpdevice-bench/floor"
    settings = MqttSettings.from_url(url)
    async with subscriber(url, {topic: "floor"}) as child, new_client(settings) as client:
        count = max(1, int(rate_hz * seconds))
        start = time.perf_counter()
        for index in range(count):
            await _pace(start + index / rate_hz)
            payload = index.to_bytes(4, "big") + FLOOR_PAYLOAD
            stamps.send(topic, payload_key(payload).encode())
            await client.publish(topic, payload, qos=1)
        await asyncio.sleep(FLOOR_DRAIN_S)  # the last messages reach the child
        stamps.arrived(await child.stop())
    return stamps.latency_s.get("floor", [])


async def _pace(due_s: float) -> None:
    """Sleep until perf_counter() reaches `due_s` (at once when already late)."""
    await asyncio.sleep(max(0.0, due_s - time.perf_counter()))


async def _drain(stamps: Stamps, kind: str, count: int, timeout_s: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout_s
    # Polling: a counter bumped per message is cheaper than an Event set per message.
    while stamps.received.get(kind, 0) < count and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


def _cue(index: int, device: str) -> CueEvent:
    return CueEvent(
        session_id="bench", seq=index + 1, mono_s=0.0, wall_time=datetime.now(UTC).isoformat(),
        profile_id="bench", device=device, reason="bench", cue=f"event {index}",
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _outbox(settings: MqttSettings, journal: Journal) -> AsyncIterator[EventOutbox]:
    """A link and an outbox on `journal`, running until the block ends."""
    link = MqttLink(settings, Topics("bench-outbox"))
    outbox = EventOutbox(link, journal)
    tasks = [asyncio.create_task(link.run()), asyncio.create_task(outbox.run())]
    try:
        yield outbox
    finally:
        await link.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def measure_replay(settings: MqttSettings, count: int, folder: Path) -> float:
    """Events/s of the outbox replaying `count` events journaled while no broker was connected."""
    journal = Journal.open(folder / "replay.sqlite3", now_wall=time.time())
    try:
        for index in range(count):
            journal.record(_cue(index, "gun-1"))
        journal.flush()
        stamps = Stamps()
        async with listening(settings, stamps, {"tpdevice/bench-outbox/+/events": "replay"}):
            start = time.perf_counter()
            async with _outbox(settings, journal):
                await _drain(stamps, "replay", count, timeout_s=60.0)
                elapsed_s = time.perf_counter() - start
        if stamps.received.get("replay", 0) < count:
            raise BenchError(f"replay: {stamps.received.get('replay', 0)} of {count} events came")
        return count / elapsed_s
    finally:
        journal.close()


RAMP_START_PER_S = 250.0
RAMP_STEP_S = 2.0
RAMP_TICK_S = 0.005
RAMP_MAX_P99_S = 0.05  # a step whose p99 lag passes this is not sustained


def _seq_key(payload: bytes) -> bytes:
    return str(json.loads(payload)["device_seq"]).encode()


async def measure_ramp(
    settings: MqttSettings, devices: int, folder: Path, max_per_s: float
) -> list[dict[str, float | bool]]:
    """Journal -> outbox -> subscriber at doubling event rates until the lag grows."""
    journal = Journal.open(folder / "ramp.sqlite3", now_wall=time.time())
    stamps = Stamps()
    steps: list[dict[str, float | bool]] = []
    filters = {"tpdevice/bench-outbox/+/events": "ramp"}
    try:
        async with (
            listening(settings, stamps, filters, _seq_key),
            _outbox(settings, journal) as outbox,
        ):
            rate_per_s, index = RAMP_START_PER_S, 0
            while rate_per_s <= max_per_s:
                stamps.clear()
                step, index = await _ramp_step(journal, outbox, stamps, devices, rate_per_s, index)
                steps.append(step)
                if not step["kept_up"]:
                    break
                rate_per_s *= 2
    finally:
        journal.close()
    return steps


async def _ramp_step(
    journal: Journal,
    outbox: EventOutbox,
    stamps: Stamps,
    devices: int,
    rate_per_s: float,
    index: int,
) -> tuple[dict[str, float | bool], int]:
    """Offer events at `rate_per_s` for one step; did the subscriber keep up?"""
    count = int(rate_per_s * RAMP_STEP_S)
    start = time.perf_counter()
    for offset in range(count):
        if offset % max(1, int(rate_per_s * RAMP_TICK_S)) == 0:
            await _pace(start + offset / rate_per_s)
        device = f"gun-{(index + offset) % devices + 1}"
        event = _cue(index + offset, device)
        seq = journal.record(event)
        stamps.send(f"tpdevice/bench-outbox/{device}/events", str(seq).encode())
        outbox.offer(device, seq, event.model_dump(mode="json"))
    offered_per_s = count / max(time.perf_counter() - start, 1e-9)
    await _drain(stamps, "ramp", count, timeout_s=RAMP_STEP_S)
    lags = stamps.latency_s.get("ramp", [])
    quarter = max(1, len(lags) // 4)
    first, last = sorted(lags[:quarter]), sorted(lags[-quarter:])
    ordered = sorted(lags) or [0.0]
    kept_up = (
        len(lags) == count
        and offered_per_s >= 0.9 * rate_per_s
        and last[len(last) // 2] <= 2 * first[len(first) // 2] + 0.002
        and ordered[int(len(ordered) * 0.99)] <= RAMP_MAX_P99_S
    )
    step = {"target_per_s": rate_per_s, "offered_per_s": round(offered_per_s),
            "p50_ms": round(ordered[len(ordered) // 2] * 1000, 3),
            "p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 3),
            "kept_up": kept_up}  # fmt: skip
    return step, index + count
