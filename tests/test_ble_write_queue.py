"""BleTransport's write queue over bumble: flush() tells whether every queued frame was written,
and a slotted write (a keep-alive) replaces the one of its slot still waiting."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ble_helpers import ignore  # before bleak: skips this module without the BLE stack
from bleak.exc import BleakError

from tpdevice.cli.bench_ble_echo import BleEchoPeripheral
from tpdevice.protocol.slip import END
from tpdevice.transport import BleTransport
from tpdevice_sim.ble.radio import VirtualRadio

ECHO_MAC = "F0:7D:00:00:00:01"


async def test_flush_is_false_when_the_queued_frame_was_never_written(
    radio: VirtualRadio, echo: BleEchoPeripheral, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = BleTransport(ECHO_MAC, hci=radio)
    await transport.open(ignore, ignore)
    try:
        assert await transport.flush(1.0) is True  # nothing queued, nothing lost
        client = transport._client
        assert client is not None

        async def refuse(*args: object, **kwargs: object) -> None:
            await asyncio.sleep(0.01)
            raise BleakError("ATT error 0x0E")

        monkeypatch.setattr(client, "write_gatt_char", refuse)
        transport.write(END + b"stop" + END)  # e.g. TheragunClient.stop()'s speed-0 frame
        # flush() promises "every queued chunk was written"; this one was dropped.
        assert await transport.flush(1.0) is False
    finally:
        await transport.close()


async def test_a_slotted_write_replaces_the_one_of_its_slot_still_waiting(
    radio: VirtualRadio, echo: BleEchoPeripheral, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = BleTransport(ECHO_MAC, hci=radio)
    await transport.open(ignore, ignore)
    written: list[bytes] = []
    try:
        client = transport._client
        assert client is not None
        original = client.write_gatt_char

        async def slow_write(char: Any, data: bytes, response: bool) -> None:
            await asyncio.sleep(0.05)  # a write with response: one connection event or more
            written.append(bytes(data))
            await original(char, data, response=response)

        monkeypatch.setattr(client, "write_gatt_char", slow_write)
        speeds = [END + bytes([0x41 + i]) * 3 + END for i in range(20)]  # keep-alives...
        status, plain = END + b"?" + END, END + b"v" + END
        transport.write(speeds[0], slot="speed")  # in flight: never replaced
        transport.write(status, slot="status")
        transport.write(plain)  # no slot: always kept
        for speed in speeds[1:]:
            transport.write(speed, slot="speed")
            assert transport.write_buffer_bytes <= 2 * len(speed) + len(status) + len(plain)
        assert await transport.flush(2.0) is True
        # ...never queue up ahead of the last one, and other slots keep their place.
        assert written == [speeds[0], status, plain, speeds[-1]]
    finally:
        await transport.close()
