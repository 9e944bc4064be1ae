"""`tpdevice bench decode`: stream decoder throughput against a bare split of the same bytes."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console

from tpdevice.cli.benchkit import emit, median, ratio
from tpdevice.protocol import MotorState, StreamDecoder, Telemetry, decode_message, encode_stream

CHUNK_BYTES = 4096
ROUNDS = 5


def _stream(frames: int) -> bytes:
    """A realistic byte stream: telemetry frames with varying values, back to back."""
    parts = [
        encode_stream(
            Telemetry(i, 30 + i % 10, i % 400 / 10, True, 80, 41.5, MotorState.RUNNING), i
        )
        for i in range(frames)
    ]
    return b"".join(parts)


def _time_per_frame(work: Callable[[bytes], int], stream: bytes, frames: int) -> float:
    """Median seconds per frame over a few rounds of feeding the stream in 4 KiB chunks."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        seen = work(stream)
        times.append((time.perf_counter() - start) / frames)
        if seen != frames:
            raise RuntimeError(f"decoded {seen} of {frames} frames")
    return median(times)


def _frames_only(stream: bytes) -> int:
    decoder = StreamDecoder()
    for i in range(0, len(stream), CHUNK_BYTES):
        decoder.feed(stream[i : i + CHUNK_BYTES])
    return decoder.stats.frames


def _messages(stream: bytes) -> int:
    decoder = StreamDecoder()
    count = 0
    for i in range(0, len(stream), CHUNK_BYTES):
        for frame in decoder.feed(stream[i : i + CHUNK_BYTES]):
            decode_message(frame)
            count += 1
    return count


def _bare_split(stream: bytes) -> int:
    """The floor: cut the same chunks at END bytes, with no checks and no objects."""
    count, tail = 0, b""
    for i in range(0, len(stream), CHUNK_BYTES):
        parts = (tail + stream[i : i + CHUNK_BYTES]).split(b"\xc0")
        tail = parts.pop()
        count += sum(1 for p in parts if p)
    return count


def run(frames: int) -> None:
    """Measure and print a table, then the JSON line."""
    stream = _stream(frames)
    frame_s = _time_per_frame(_frames_only, stream, frames)
    message_s = _time_per_frame(_messages, stream, frames)
    floor_s = _time_per_frame(_bare_split, stream, frames)
    console = Console(stderr=True)
    console.print(f"stream decoder: {1 / frame_s:,.0f} frames/s ({frame_s * 1e6:.2f} µs/frame)")
    console.print(f"frames + messages: {1 / message_s:,.0f} messages/s")
    console.print(f"floor (bare split): {1 / floor_s:,.0f} chunks/s")
    emit(
        {
            "bench": "decode",
            "n": frames,
            "frames_per_s": round(1 / frame_s),
            "messages_per_s": round(1 / message_s),
            "p50_ms": round(frame_s * 1000, 6),
            "floor_p50_ms": round(floor_s * 1000, 6),
            "ratio_p50": ratio(frame_s, floor_s),
            "floor_frames_per_s": round(1 / floor_s),
            "target_frames_per_s": 300_000,
        }
    )
