"""A million mutated frames into each of the host's and the simulator's decoders: none escape."""

from __future__ import annotations

import asyncio
import random

import pytest
from fuzz_frames import fuzz_stream, mutant_pool

from tpdevice.drivers.native.codec import FrameHelper
from tpdevice.protocol import (
    Ack,
    Capabilities,
    DecoderStats,
    Frame,
    FrameError,
    Heartbeat,
    Hello,
    Message,
    StreamDecoder,
    crc16,
    decode_frame,
    encode_frame,
    encode_stream,
    slip_unescape,
)
from tpdevice.therapy.clock import VirtualClock
from tpdevice_sim.gun import SimulatedGun
from tpdevice_sim.links import LoopbackLink

HOST_FRAMES = 1_000_000
SIM_FRAMES = 1_000_000
HEAD = b"\x01\x03\x00\x00\x00"  # version 1, HEARTBEAT, seq 0, flags 0: the length follows


def test_host_decoder_survives_garbage_then_decodes() -> None:
    received: list[Message] = []
    helper = FrameHelper("fuzz", lambda data: None, lambda frame, m: received.append(m))
    fed = 0
    for frames, chunk in fuzz_stream(seed=11, frames=HOST_FRAMES):
        helper.data_received(chunk)
        fed += frames
    assert fed >= HOST_FRAMES
    stats = helper.decoder_stats()
    assert stats["frames"] > 0 and sum(stats.values()) - stats["frames"] > HOST_FRAMES // 2
    received.clear()
    helper.data_received(encode_stream(Ack(0x03), 9, 1))  # mid-garbage: the END resyncs
    assert received == [Ack(0x03)]


def test_every_rejection_kind_is_counted_and_worded() -> None:
    """What the stream decoder counts matches what decode_frame says, kind and words."""
    chunks = [c for piece in mutant_pool(21, 5000) for c in piece.split(b"\xc0") if c]
    decoder, counted = StreamDecoder(), DecoderStats()
    for chunk in chunks:
        decoder.feed(b"\xc0" + chunk + b"\xc0")
        try:
            decode_frame(slip_unescape(chunk))
        except FrameError as err:
            setattr(counted, err.kind, getattr(counted, err.kind) + 1)
            assert str(err).startswith(f"bad frame ({err.kind}): "), err
        else:
            counted.frames += 1
    assert decoder.stats == counted
    assert all(count > 0 for count in counted.as_dict().values()), counted


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"\x01\x03\x00", "bad frame (truncated): frame of 3 bytes, at least 9 needed"),
        (
            b"\x01\x03\x00\x00\x00\x58\x02\x00\x00",
            "bad frame (oversize): payload length 600 exceeds 512",
        ),
        (
            b"\x01\x03\x00\x00\x00\x04\x00\x00\x00\x00\x00",
            "header says 4 payload bytes, frame holds 2",
        ),
        (b"\x01\x03\x00\x00\x00\x00\x00\x00\x00", "bad frame (crc): CRC mismatch"),
        (b"\x02" + encode_frame(3, 0, 0, b"")[1:-2], "unsupported protocol version 2"),
    ],
)
def test_rejections_say_why(raw: bytes, text: str) -> None:
    if "version" in text:
        raw += crc16(raw).to_bytes(2, "big")
    with pytest.raises(FrameError) as caught:
        decode_frame(raw)
    assert text in str(caught.value)


def test_pool_is_seeded_and_varied() -> None:
    assert mutant_pool(5, 200) == mutant_pool(5, 200)
    assert mutant_pool(5, 200) != mutant_pool(6, 200)
    assert len(set(mutant_pool(5, 2000))) > 1900


async def test_sim_link_survives_garbage_then_answers() -> None:
    clock = VirtualClock()
    link = LoopbackLink(None, rng=random.Random(3))
    gun = SimulatedGun(link, clock=clock, seed=3)
    await gun.start()
    answers: list[tuple[Frame, Message]] = []
    host = FrameHelper("fuzz", link.receive, lambda frame, m: answers.append((frame, m)))
    link.attach(host.data_received, lambda: None)
    try:
        fed = 0
        for index, (frames, chunk) in enumerate(fuzz_stream(seed=12, frames=SIM_FRAMES)):
            link.receive(chunk)
            fed += frames
            if index % 8:
                await asyncio.sleep(0)  # the gun's answers reach the host decoder too
            else:  # time passes: ticks, telemetry, watchdog, retransmissions given up
                await clock.sleep(0.05)
        assert fed >= SIM_FRAMES
        assert link.decoder.stats.frames > 0
        assert answers, "valid requests among the garbage were answered"
        answers.clear()
        link.receive(b"\x01\xdb\x02" * 7)  # a partial frame and a bad escape, unterminated
        host.send(Hello(1, 1000, 10), 0xBEEF)
        host.send(Heartbeat(1), 0xBEF0)
        for _ in range(3):
            await asyncio.sleep(0)
        replies = {frame.seq: m for frame, m in answers if frame.flags & 1}
        assert isinstance(replies[0xBEEF], Capabilities)
        assert replies[0xBEEF].serial == "SIM-0003"
        assert replies[0xBEF0] == Ack(0x03)
        assert gun.violations == []
    finally:
        await gun.stop()
