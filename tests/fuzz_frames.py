"""Seeded garbage for stream decoders: valid frames mutated every way a wire can break them."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator

from repo_paths import ROOT

from tpdevice.protocol import (
    MAX_PAYLOAD_SIZE,
    MESSAGE_TYPES,
    crc16,
    encode_frame,
    slip_encode,
)

END, ESC = 0xC0, 0xDB
VECTORS = ROOT / "docs" / "protocol-vectors.json"

Mutation = Callable[[random.Random, bytes], bytes]


def _vectors() -> list[dict[str, str]]:
    """The frames and rejected streams of docs/protocol-vectors.json."""
    data = json.loads(VECTORS.read_text())
    return [*data["frames"], *data["rejected"]]


def vector_frames() -> list[bytes]:
    """Every valid raw frame (no SLIP) of the vectors."""
    return [bytes.fromhex(e["frame_hex"]) for e in _vectors() if "frame_hex" in e]


def vector_streams() -> list[bytes]:
    """Every SLIP stream of the vectors, the rejected ones among them."""
    return [bytes.fromhex(e["stream_hex"]) for e in _vectors() if "stream_hex" in e]


def random_valid_frames(rng: random.Random, count: int) -> list[bytes]:
    """Frames with a correct CRC: every known type and a few unknown ones, random payloads."""
    types = [*MESSAGE_TYPES, 0x00, 0x7E, 0xFF]
    frames = []
    for _ in range(count):
        payload = rng.randbytes(rng.choice((0, 1, 2, 4, 8, 12, 16, 24, 40, 64)))
        frames.append(
            encode_frame(rng.choice(types), rng.randrange(1 << 16), rng.randrange(8), payload)
        )
    return frames


def _recrc(frame: bytes) -> bytes:
    """The frame with its CRC recomputed, so the mutation reaches the message decoder."""
    body = frame[:-2] if len(frame) > 2 else frame
    return body + crc16(body).to_bytes(2, "big")


def _flip(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randrange(1, 4)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _truncate(rng: random.Random, raw: bytes) -> bytes:
    return raw[: rng.randrange(len(raw))]


def _insert(rng: random.Random, raw: bytes) -> bytes:
    at = rng.randrange(len(raw) + 1)
    return raw[:at] + rng.randbytes(rng.randrange(1, 5)) + raw[at:]


def _duplicate(rng: random.Random, raw: bytes) -> bytes:
    at = rng.randrange(len(raw))
    return raw[: at + 1] + raw[at : at + rng.randrange(1, 4)] + raw[at + 1 :]


def _escape(rng: random.Random, raw: bytes) -> bytes:
    at = rng.randrange(len(raw) + 1)
    junk = rng.choice((b"\xdb", b"\xc0", b"\xdb\xdb", b"\xdb\xdc", b"\xdb\xdd", b"\xdb\x00"))
    return raw[:at] + junk + raw[at:]


def _header(rng: random.Random, raw: bytes) -> bytes:
    """Version, type or length byte replaced, CRC fixed: past the CRC check on purpose."""
    data = bytearray(raw)
    data[rng.choice((0, 1, 5, 6)) % len(data)] = rng.randrange(256)
    return _recrc(bytes(data))


def _payload(rng: random.Random, raw: bytes) -> bytes:
    """Payload bytes replaced or cut, length field and CRC kept consistent."""
    body = bytearray(raw[7:-2])
    if body and rng.random() < 0.5:
        body[rng.randrange(len(body))] = rng.randrange(256)
    else:
        body = body[: rng.randrange(len(body) + 1)] + rng.randbytes(rng.randrange(4))
    size = len(body).to_bytes(2, "little")
    return _recrc(raw[:5] + size + bytes(body) + b"\0\0")


def _random(rng: random.Random, raw: bytes) -> bytes:
    return rng.randbytes(rng.randrange(1, 2 * len(raw) + 2))


_RAW_MUTATIONS: tuple[Mutation, ...] = (
    _flip,
    _truncate,
    _insert,
    _duplicate,
    _escape,
    _header,
    _payload,
    _payload,
    _random,
)


def _oversize(rng: random.Random) -> bytes:
    """A run longer than any frame, with or without its END."""
    run = rng.randbytes(2 * (MAX_PAYLOAD_SIZE + 9) + rng.randrange(1, 64)).replace(b"\xc0", b"")
    return run + (b"\xc0" if rng.random() < 0.5 else b"")


def mutant(rng: random.Random, base: list[bytes], streams: list[bytes]) -> bytes:
    """One SLIP-framed piece of wire: mostly a mutated frame, sometimes broken after framing."""
    roll = rng.random()
    raw = rng.choice(base)
    if roll < 0.04:
        return slip_encode(raw)  # a valid frame now and then
    if roll < 0.05:
        return rng.choice(streams)  # as the vectors have them, the rejected ones among them
    if roll < 0.06:
        return _oversize(rng)
    if roll < 0.15:  # broken on the wire, after SLIP: lost END, stray ESC, cut mid-escape
        return rng.choice(_RAW_MUTATIONS[:5])(rng, slip_encode(raw))
    return slip_encode(rng.choice(_RAW_MUTATIONS)(rng, raw))


def mutant_pool(seed: int, size: int) -> list[bytes]:
    """`size` seeded mutants of the vector frames and of random valid frames."""
    rng = random.Random(seed)
    base, streams = vector_frames() + random_valid_frames(rng, 256), vector_streams()
    return [mutant(rng, base, streams) for _ in range(size)]


def fuzz_stream(seed: int, frames: int, pool_size: int = 50_000) -> Iterator[tuple[int, bytes]]:
    """(frames in chunk, chunk) until `frames` mutants were sent, in chunks of 1 B..64 KiB.

    Each round shuffles the pool into a new order and flips a few bytes across the whole
    round, so no two rounds put the same bytes next to each other.
    """
    rng = random.Random(seed)
    pool = mutant_pool(seed, pool_size)
    sent = 0
    while sent < frames:
        picks = rng.choices(pool, k=min(pool_size, frames - sent))
        stream = bytearray(b"".join(picks))
        for _ in range(len(picks) // 50):
            stream[rng.randrange(len(stream))] = rng.randrange(256)
        yield from _chunks(rng, bytes(stream), len(picks))
        sent += len(picks)


def _chunks(rng: random.Random, stream: bytes, frames: int) -> Iterator[tuple[int, bytes]]:
    """The stream cut at random points, the frame count spread over the chunks by size."""
    at, counted = 0, 0
    while at < len(stream):
        size = rng.choice((1, 7, 100, 4096, 16384, 65536))
        chunk = stream[at : at + size]
        at += size
        share = frames * at // len(stream) - counted if at < len(stream) else frames - counted
        counted += share
        yield share, chunk


def _rate(frames: int) -> float:
    """Mutated frames per second through the host's decoder (FrameHelper), chunks pre-built."""
    from time import perf_counter

    from tpdevice.drivers.native.codec import FrameHelper

    chunks = [chunk for _, chunk in fuzz_stream(seed=1, frames=frames)]
    helper = FrameHelper("fuzz", lambda data: None, lambda frame, message: None)
    start = perf_counter()
    for chunk in chunks:
        helper.data_received(chunk)
    return frames / (perf_counter() - start)


if __name__ == "__main__":  # python tests/fuzz_frames.py: the fuzz rate, median of 5 runs
    rates = sorted(_rate(200_000) for _ in range(5))
    print(f"{rates[2]:,.0f} mutated frames/s (median of 5 runs of 200,000)")
