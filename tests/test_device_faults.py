"""A session of commands over a lossy, duplicating link converges; nothing is acted on twice,
and no START ever reaches the device after a later STOP."""

from __future__ import annotations

import asyncio
import random

from fakes import FakeDevice, connected_client

from tpdevice.device import (
    ConnectionState,
    DeviceError,
    DeviceTimeoutError,
    RequestAbandonedError,
    SetpointResult,
)
from tpdevice.protocol import Frame, MsgType, SetOutput


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


def _starts_after_stops(device: FakeDevice) -> list[tuple[int, int]]:
    """(START seq, STOP seq) pairs where an older START arrived after a newer STOP."""
    late: list[tuple[int, int]] = []
    last_stop: Frame | None = None
    for frame, message in device.received:
        if message.TYPE is MsgType.STOP:
            last_stop = frame
        elif message.TYPE is MsgType.START and last_stop is not None:
            behind = (last_stop.seq - frame.seq) % 65536
            late += [(frame.seq, last_stop.seq)] if 0 < behind < 1024 else []
    return late


async def test_start_stop_order_holds_on_a_lossy_link() -> None:
    client, device = await connected_client(retries=6, request_timeout_s=0.01)
    device.faults.drop_probability = 0.3
    device.faults.rng = random.Random(11)
    abandoned = 0
    for _ in range(40):
        start = asyncio.ensure_future(client.start())
        await asyncio.sleep(0.012)  # often mid-retransmission of the START
        try:
            await client.stop()
        except DeviceTimeoutError:
            continue
        finally:
            try:
                await start
            except RequestAbandonedError:
                abandoned += 1
            except DeviceError:
                pass
        assert not device.motor_running  # the acknowledged STOP was the last word
        assert client.state is ConnectionState.READY
    assert abandoned > 0  # stop() did cut START retransmissions short
    assert _starts_after_stops(device) == []
    await client.close()
