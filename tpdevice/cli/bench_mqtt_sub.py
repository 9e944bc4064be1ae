"""The measuring subscriber of `tpdevice bench mqtt`, in a child process as an integrator's is.

`python -m tpdevice.cli.bench_mqtt_sub URL FILTER=KIND...` subscribes (QoS 1), says `ready`,
notes every message's arrival on CLOCK_MONOTONIC (one clock for every process of the machine),
and when its stdin closes prints one line per message: kind, topic, payload key, arrival in ns.
A failure to connect is one line `error MESSAGE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiomqtt

from tpdevice.mqtt.settings import MqttSettings

__all__ = ["Arrival", "payload_key", "subscriber"]

READY_TIMEOUT_S = 30.0


def payload_key(payload: bytes) -> str:
    """What identifies one payload in a run (a short digest: the lines stay small)."""
    return hashlib.blake2b(payload, digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class Arrival:
    """One message the child subscriber received, and when (time.monotonic() seconds)."""

    kind: str
    topic: str
    key: str
    at_s: float


class Subscriber:
    """A running child subscriber; stop() ends it and returns what it received."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    async def stop(self) -> list[Arrival]:
        """Close its stdin; every arrival it noted, in order."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.close()
        output = await self._process.stdout.read()
        await self._process.wait()
        arrivals = []
        for line in output.decode().splitlines():
            kind, rest = line.split(" ", 1)
            topic, key, at_ns = rest.rsplit(" ", 2)
            arrivals.append(Arrival(kind, topic, key, int(at_ns) / 1e9))
        return arrivals


@contextlib.asynccontextmanager
async def subscriber(url: str, filters: dict[str, str]) -> AsyncIterator[Subscriber]:
    """A child subscriber to `url` (filter -> kind), subscribed, until the block ends.

    Raises aiomqtt.MqttError with the child's reason when it cannot connect.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", __name__, url, *(f"{f}={k}" for f, k in filters.items()),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT_S)
        said = line.decode().strip()
        if said != "ready":
            raise aiomqtt.MqttError(said.removeprefix("error ") or "the subscriber exited")
        yield Subscriber(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _serve(url: str, filters: dict[str, str]) -> list[str]:
    """Subscribe, say ready, note arrivals until stdin closes; the lines to print."""
    settings = MqttSettings.from_url(url)
    version = aiomqtt.ProtocolVersion.V5 if settings.protocol == 5 else aiomqtt.ProtocolVersion.V311
    lines: list[str] = []
    async with aiomqtt.Client(
        settings.host, settings.port, username=settings.username, password=settings.password,
        protocol=version, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    ) as client:  # fmt: skip
        for topic_filter in filters:
            await client.subscribe(topic_filter, qos=1)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        receiving = asyncio.create_task(_receive(client, filters, lines))
        await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
        receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiving
    return lines


async def _receive(client: aiomqtt.Client, filters: dict[str, str], lines: list[str]) -> None:
    async for message in client.messages:
        at_ns = time.monotonic_ns()
        payload = message.payload if isinstance(message.payload, bytes) else b""
        kind = next(k for f, k in filters.items() if message.topic.matches(f))
        lines.append(f"{kind} {message.topic} {payload_key(payload)} {at_ns}")


def main(argv: Sequence[str]) -> int:
    """Run the child: URL then FILTER=KIND arguments."""
    url, *pairs = argv
    filters = dict(pair.rsplit("=", 1) for pair in pairs)
    try:
        lines = asyncio.run(_serve(url, filters))
    except aiomqtt.MqttError as err:
        sys.stdout.write(f"error {err}\n")
        return 1
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
