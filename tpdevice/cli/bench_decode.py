"""`tpdevice bench decode`: stream decoder throughput against a bare split of the same bytes."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from rich.console import Console

from tpdevice.cli.benchkit import emit, ratio, summarize_ms
from tpdevice.protocol import MotorState, StreamDecoder, Telemetry, decode_message, encode_stream

CHUNK_BYTES = 4096
ROUNDS = 5

ChunkWork = Callable[[bytes], int]  # feeds one chunk, returns how many frames it completed


def _stream(frames: int) -> bytes:
    """A realistic byte stream: telemetry frames with varying values, back to back."""
    return b"".join(encode_stream(_sample(i), i) for i in range(frames))


def _sample(i: int) -> Telemetry:
    """The i-th telemetry sample of the stream."""
    return Telemetry(i, 30 + i % 10, i % 400 / 10, True, 80, 41.5, MotorState.RUNNING)


def _frames_only() -> ChunkWork:
    decoder = StreamDecoder()
    return lambda chunk: len(decoder.feed(chunk))


def _messages() -> ChunkWork:
    decoder = StreamDecoder()
    return lambda chunk: len([decode_message(f) for f in decoder.feed(chunk)])


def _bare_split() -> ChunkWork:
    """The floor: cut the same chunks at END bytes, with no checks and no objects."""
    tail = [b""]

    def work(chunk: bytes) -> int:
        parts = (tail[0] + chunk).split(b"\xc0")
        tail[0] = parts.pop()
        return sum(1 for p in parts if p)

    return work


def _per_frame_s(make_work: Callable[[], ChunkWork], stream: bytes, frames: int) -> list[float]:
    """Seconds per frame of every 4 KiB chunk, over a few rounds; GC off while timing."""
    samples: list[float] = []
    for _ in range(ROUNDS):
        work, seen = make_work(), 0
        gc.disable()
        try:
            for i in range(0, len(stream), CHUNK_BYTES):
                start = time.perf_counter()
                count = work(stream[i : i + CHUNK_BYTES])
                elapsed_s = time.perf_counter() - start
                if count:
                    samples.append(elapsed_s / count)
                seen += count
        finally:
            gc.enable()
        if seen < frames - 1:  # the last frame may wait for an END that never comes
            raise RuntimeError(f"decoded {seen} of {frames} frames")
    return samples


def _per_s(samples: list[float]) -> int:
    """Frames per second at the median per-frame time."""
    return round(1 / sorted(samples)[len(samples) // 2])


def run(frames: int) -> None:
    """Measure, print a summary on stderr, then the JSON line."""
    stream = _stream(frames)
    decoder_s = _per_frame_s(_frames_only, stream, frames)
    message_s = _per_frame_s(_messages, stream, frames)
    floor_s = _per_frame_s(_bare_split, stream, frames)
    timing, floor = summarize_ms(decoder_s, digits=7), summarize_ms(floor_s, digits=7)
    console = Console(stderr=True, highlight=False)
    console.print(
        f"stream decoder: {_per_s(decoder_s):,} frames/s at the median 4 KiB chunk "
        f"(target 300,000); frames + messages: {_per_s(message_s):,}/s; "
        f"floor (bare split): {_per_s(floor_s):,}/s"
    )
    emit(
        {
            "bench": "decode",
            "n": frames,
            "unit": "ms per frame, per 4 KiB chunk",
            **timing,
            "floor_p50_ms": floor["p50_ms"],
            "ratio_p50": ratio(timing["p50_ms"], floor["p50_ms"]),
            "frames_per_s": _per_s(decoder_s),
            "messages_per_s": _per_s(message_s),
            "floor_frames_per_s": _per_s(floor_s),
            "target_frames_per_s": 300_000,
        }
    )
