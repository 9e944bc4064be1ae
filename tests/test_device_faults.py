"""A session of commands over a lossy, duplicating link converges; nothing is acted on twice."""

from __future__ import annotations

import random

from fakes import connected_client

from tpdevice.device import DeviceTimeoutError, SetpointResult
from tpdevice.protocol import MsgType, SetOutput


async def test_lossy_link_converges_without_double_actions() -> None:
    client, device = await connected_client(retries=6)
    device.faults.drop_probability = 0.2
    device.faults.duplicate_responses = True
    device.faults.rng = random.Random(3)
    applied: list[float] = []
    for i in range(40):
        freq_hz = 25.0 + (i % 10)
        try:
            if await client.set_output(freq_hz) is SetpointResult.APPLIED:
                applied.append(freq_hz)
            await client.start()
            await client.stop()
        except DeviceTimeoutError:  # 0.2**7 per request: rare, but allowed
            continue
    acted = device.acted_on(MsgType.SET_OUTPUT)
    seqs = [f.seq for f in device.frames(MsgType.SET_OUTPUT)]
    assert len(acted) == len(set(seqs))  # each seq acted on once, retransmits answered
    assert isinstance(acted[-1], SetOutput) and acted[-1].freq_hz == applied[-1]
    assert client.connection is not None
    assert client.connection.stats.retransmits > 0
    assert client.connection.stats.late_responses > 0
    await client.close()
