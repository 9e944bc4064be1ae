"""A million mutated frames into the host's and the simulator's decoders: nothing escapes."""

from __future__ import annotations

import asyncio
import random

from fuzz_frames import fuzz_stream, mutant_pool

from tpdevice.drivers.native.codec import FrameHelper
from tpdevice.protocol import (
    Ack,
    Capabilities,
    Frame,
    Heartbeat,
    Hello,
    Message,
    encode_stream,
)
from tpdevice.therapy.clock import VirtualClock
from tpdevice_sim.gun import SimulatedGun
from tpdevice_sim.links import LoopbackLink

HOST_FRAMES = 500_000
SIM_FRAMES = 500_000


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


def test_pool_is_seeded_and_varied() -> None:
    assert mutant_pool(5, 200) == mutant_pool(5, 200)
    assert mutant_pool(5, 200) != mutant_pool(6, 200)
    assert len(set(mutant_pool(5, 2000))) > 1900


async def test_sim_link_survives_garbage_then_answers() -> None:
    link = LoopbackLink(None, rng=random.Random(3))
    gun = SimulatedGun(link, clock=VirtualClock(), seed=3)
    await gun.start()
    answers: list[tuple[Frame, Message]] = []
    host = FrameHelper("fuzz", link.receive, lambda frame, m: answers.append((frame, m)))
    link.attach(host.data_received, lambda: None)
    try:
        fed = 0
        for frames, chunk in fuzz_stream(seed=12, frames=SIM_FRAMES):
            link.receive(chunk)
            fed += frames
            await asyncio.sleep(0)  # the gun's answers reach the host decoder too
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
