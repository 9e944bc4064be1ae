"""`tpdevice bench link`: command -> ACK round trip against a raw echo floor on the same link.

The measured request is SET_OUTPUT through DeviceClient.set_output (validation, newest-wins
channel, sequence numbers, SLIP/CRC both ways, firmware handling) awaited to its ACK, n times
in sequence after a warm-up. The floor writes the same encoded frame through the same host
transport class to a raw echo (no protocol code) and waits for all its bytes to come back.
Throughput is measured pipelined: HEARTBEAT requests with a fixed number in flight.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from tpdevice.cli.bench_child import BenchError, ChildServer, python_module_argv
from tpdevice.cli.bench_echo import EchoRoundTrip, open_echo, time_calls
from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.cli.benchkit import emit, goal_text, ratio, summarize_ms
from tpdevice.device import DeviceClient, open_client
from tpdevice.protocol import (
    Ack,
    Capabilities,
    FrameFlag,
    Heartbeat,
    MsgType,
    SetOutput,
    encode_stream,
)
from tpdevice.transport import parse_address

__all__ = ["LinkTarget", "resolve_target", "run"]

TARGET_P50_MS = 0.5
TARGET_RATIO = 5
PIPELINE_WINDOW = 16
WIRE_BAUD = 115200
BITS_PER_BYTE_8N1 = 10
TELEMETRY_HZ = 20  # what a session runs with: the ACKs share the link with telemetry
_KINDS = {"sim": "loopback", "serial": "serial", "tcp": "tcp", "ble": "ble"}


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What to measure: the link kind and an address (None = start our own simulator)."""

    kind: str
    address: str | None
    device: str


def resolve_target(device: str) -> LinkTarget:
    """`sim`, `serial`, `tcp`, `ble` or a full address; BenchError/AddressError otherwise."""
    if device == "sim":
        return LinkTarget("loopback", "sim", device)
    if device in ("serial", "tcp", "ble"):
        return LinkTarget(device, None, device)
    parsed = parse_address(device)
    if parsed.scheme not in _KINDS:
        raise BenchError(f"{device}: bench link supports sim, serial, tcp and ble links")
    return LinkTarget(_KINDS[parsed.scheme], parsed.text, device)


def warmup_for(n: int) -> int:
    """Untimed round trips before timing: enough to settle caches and the peer."""
    return max(20, min(500, n // 4))


def frame_bytes(caps: Capabilities) -> tuple[bytes, bytes]:
    """The SLIP-encoded SET_OUTPUT request and its ACK, as they travel."""
    request = encode_stream(SetOutput(caps.freq_min_hz), 1)
    ack = encode_stream(Ack(MsgType.SET_OUTPUT), 1, FrameFlag.RESPONSE)
    return request, ack


async def _address(target: LinkTarget, loop_name: str, stack: AsyncExitStack) -> str:
    """The device address; starts `tpdevice sim` in a child process when none is given."""
    if target.address is not None:
        return target.address
    argv = python_module_argv("tpdevice", "sim", "--transport", target.kind, "--loop", loop_name)
    child = await stack.enter_async_context(ChildServer(argv, f"{target.kind} simulator"))
    return child.address


async def pipelined_per_s(client: DeviceClient, total: int, window: int) -> float:
    """Acknowledged HEARTBEAT requests per second with `window` in flight."""
    connection = client.connection
    if connection is None:
        raise BenchError(f"{client.address}: link lost before the throughput run")
    message = Heartbeat(0)
    in_flight: deque[asyncio.Future[Any]] = deque()
    sent = 0
    start = time.perf_counter()
    try:
        while in_flight or sent < total:
            while sent < total and len(in_flight) < window:
                # Heartbeats are never retransmitted (docs/protocol.md section 3).
                in_flight.append(connection.send_request(message, retries=0).future)
                sent += 1
            await in_flight.popleft()
    finally:
        for future in in_flight:
            future.cancel()
    return total / (time.perf_counter() - start)


async def _measure(target: LinkTarget, n: int, loop_name: str) -> dict[str, Any]:
    """Open everything, time the floor and the device, close everything."""
    warmup = warmup_for(n)
    async with AsyncExitStack() as stack:
        address = await _address(target, loop_name, stack)
        client = await open_client(address, reconnect=False, telemetry_hz=TELEMETRY_HZ)
        stack.push_async_callback(client.close)
        caps = client.capabilities
        request, ack = frame_bytes(caps)
        echo = await _open_floor(target.kind, request, stack)
        floor_s = await time_calls(echo.once, n, warmup)
        freqs = itertools.cycle([min(caps.freq_min_hz + i, caps.freq_max_hz) for i in range(8)])
        device_s = await time_calls(lambda: client.set_output(next(freqs)), n, warmup)
        per_s = await pipelined_per_s(client, max(n, 200), PIPELINE_WINDOW)
        extras = _link_extras(target.kind, client)
    result = _result(target, address, loop_name, n, device_s, floor_s, per_s, (request, ack))
    return {**result, **extras}


async def _open_floor(kind: str, frame: bytes, stack: AsyncExitStack) -> EchoRoundTrip:
    """A raw echo over the same kind of link; for BLE a GATT echo on a virtual radio."""
    if kind != "ble":
        return await open_echo(kind, frame, stack)
    from tpdevice.cli.bench_ble_echo import open_ble_echo  # bumble loads only for BLE

    return await open_ble_echo(frame, stack)


def _link_extras(kind: str, client: DeviceClient) -> dict[str, Any]:
    """Fields only one kind of link has (BLE: MTU, chunk size, the real radio's floor)."""
    if kind != "ble":
        return {}
    from tpdevice.cli.bench_ble_echo import ble_extras

    connection = client.connection
    return ble_extras(connection.transport if connection is not None else None)


def _result(
    target: LinkTarget,
    address: str,
    loop_name: str,
    n: int,
    device_s: list[float],
    floor_s: list[float],
    per_s: float,
    frames: tuple[bytes, bytes],
) -> dict[str, Any]:
    """The JSON object of the bench."""
    timing, floor = summarize_ms(device_s), summarize_ms(floor_s)
    result: dict[str, Any] = {
        "bench": "link", "transport": target.kind, "device": address, "loop": loop_name,
        "request": "SET_OUTPUT", "n": n, "warmup": warmup_for(n), **timing,
        "floor_p50_ms": floor["p50_ms"], "floor_p99_ms": floor["p99_ms"],
        "floor_max_ms": floor["max_ms"], "ratio_p50": ratio(timing["p50_ms"], floor["p50_ms"]),
        "requests_per_s": round(per_s), "frames_per_s": round(2 * per_s),
        "frames_per_s_mode": f"pipelined HEARTBEAT requests and their ACKs per second, "
        f"{PIPELINE_WINDOW} in flight",
        "sequential_per_s": round(n / sum(device_s)),
        "request_bytes": len(frames[0]), "ack_bytes": len(frames[1]),
        "telemetry_hz": TELEMETRY_HZ, "gc_disabled": True,
    }  # fmt: skip
    result["goal_met"] = None
    if target.kind == "serial":  # the goal is set for a pseudo-terminal
        result.update(target_p50_ms=TARGET_P50_MS, target_ratio=TARGET_RATIO)
        link_ratio = result["ratio_p50"]
        result["goal_met"] = timing["p50_ms"] <= TARGET_P50_MS and (
            link_ratio is not None and link_ratio <= TARGET_RATIO
        )
        wire_ms = (len(frames[0]) + len(frames[1])) * BITS_PER_BYTE_8N1 * 1000 / WIRE_BAUD
        result["wire_115200_ms"] = round(wire_ms, 4)
        result["ratio_wire"] = ratio(timing["p50_ms"], wire_ms)
    return result


def summarize(result: dict[str, Any]) -> None:
    """The human summary on stderr."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    p50, floor_p50, link_ratio = result["p50_ms"], result["floor_p50_ms"], result["ratio_p50"]
    console.print(
        f"bench link: {result['transport']} ({result['device']}), {result['loop']} loop, "
        f"SET_OUTPUT -> ACK x {result['n']} after {result['warmup']} warm-up, GC off while timing"
    )
    console.print(
        f"  command -> ACK  p50 {p50:.4f} ms  p99 {result['p99_ms']:.4f} ms  "
        f"max {result['max_ms']:.4f} ms"
    )
    console.print(
        f"  raw echo floor  p50 {floor_p50:.4f} ms  p99 {result['floor_p99_ms']:.4f} ms  "
        f"max {result['floor_max_ms']:.4f} ms  ({result['request_bytes']} bytes)"
    )
    console.print(f"  ratio {link_ratio}x")
    goal = (
        f"half the answers within {TARGET_P50_MS:g} ms and within {TARGET_RATIO}x "
        "the raw echo of the same bytes"
    )
    applies_to = "a pseudo-terminal link (--device serial)"
    console.print(f"  {goal_text(goal, result.get('goal_met'), applies_to)}")
    if "wire_115200_ms" in result:
        console.print(
            f"  115200-baud 8N1 wire time of request + ACK: {result['wire_115200_ms']} ms "
            f"(p50 / wire = {result['ratio_wire']})"
        )
    if "real_radio_floor_ms" in result:
        console.print(
            f"  BLE MTU {result.get('ble_mtu', '?')}, chunks of "
            f"{result.get('ble_chunk_bytes', '?')} bytes; on a real radio add >= "
            f"{result['real_radio_floor_ms']} ms a round trip "
            "(one connection interval; 15-50 ms typical)"
        )
    console.print(
        f"  throughput {result['requests_per_s']:,} requests/s pipelined "
        f"({PIPELINE_WINDOW} in flight), {result['sequential_per_s']:,}/s sequential"
    )


def run(device: str, n: int, *, loop: str | None = None) -> None:
    """Measure, print the summary on stderr, then the JSON line on stdout."""
    target = resolve_target(device)
    loop_name = resolve_loop_name(loop)
    result = run_on_loop(_measure(target, n, loop_name), loop_name)
    summarize(result)
    emit(result)
