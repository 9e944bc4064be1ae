"""A raw GATT echo on the virtual radio: the floor of `tpdevice bench link --device ble`.

It offers the native service; every complete SLIP frame written to the command
characteristic comes back, byte for byte, as notifications of the event characteristic (cut
to MTU - 3 by the peripheral). No protocol code runs. `python -m tpdevice.cli.bench_ble_echo`
serves the radio's HCI on TCP and prints the echo's address until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from contextlib import AsyncExitStack
from typing import Any

from bumble import gatt
from bumble.device import Connection

from tpdevice.cli.bench_child import ChildServer, python_module_argv
from tpdevice.cli.bench_echo import EchoRoundTrip
from tpdevice.protocol import gatt as contract
from tpdevice.protocol.slip import END
from tpdevice.transport import BleTransport, open_transport, parse_address
from tpdevice_sim.ble.radio import VirtualRadio
from tpdevice_sim.ble.server import GattPeripheral, bumble_uuid
from tpdevice_sim.ble.spec import BleIdentity, PeripheralHci

__all__ = [
    "ECHO_NAME",
    "REAL_RADIO_FLOOR_MS",
    "BleEchoPeripheral",
    "ble_extras",
    "main",
    "open_ble_echo",
]

ECHO_NAME = "tpdevice-ECHO"
# A real radio moves data only at connection events: the shortest connection interval BLE
# allows is 7.5 ms, so a request and its answer cost at least that much on the air.
REAL_RADIO_FLOOR_MS = 7.5
_Props = gatt.Characteristic.Properties


class BleEchoPeripheral:
    """A native-service peripheral that sends each written frame straight back."""

    def __init__(self, hci: PeripheralHci, index: int = 0) -> None:
        self.write_sizes: list[int] = []  # every GATT write, as it arrived
        self.notify_sizes: list[int] = []  # every frame echoed (before the MTU cut)
        self._pending = bytearray()
        self.command: gatt.Characteristic[bytes] = gatt.Characteristic(
            bumble_uuid(contract.COMMAND_CHAR_UUID),
            _Props.WRITE | _Props.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_write),
        )
        self.event: gatt.Characteristic[bytes] = gatt.Characteristic(
            bumble_uuid(contract.EVENT_CHAR_UUID), _Props.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        native = bumble_uuid(contract.NATIVE_SERVICE_UUID)
        service = gatt.Service(native, [self.command, self.event])
        identity = BleIdentity(index, ECHO_NAME, "echo", "ECHO", "echo")
        self.peripheral = GattPeripheral(
            hci,
            identity,
            contract.NATIVE_SERVICE_UUID,
            [service],
            battery_pct=lambda: 100,
            on_connection=self._on_connection,
        )

    @property
    def address(self) -> str:
        """`ble://...` of the echo, with `?hci=` once the radio serves HCI."""
        return self.peripheral.address

    async def open(self) -> None:
        """Advertise on the radio."""
        await self.peripheral.open()

    async def close(self) -> None:
        """Stop advertising; a client sees the link lost."""
        await self.peripheral.close()

    def _on_connection(self, connection: Connection | None) -> None:
        self._pending.clear()

    def _on_write(self, connection: Connection, value: bytes) -> None:
        """Collect chunks; echo each frame once its closing END arrived."""
        self.write_sizes.append(len(value))
        self._pending += value
        while True:
            start = self._pending.find(END[0])
            end = self._pending.find(END[0], start + 1) if start >= 0 else -1
            if end < 0:
                return
            if end == start + 1:  # two ENDs in a row: the first closed nothing
                del self._pending[: start + 1]
                continue
            frame = bytes(self._pending[start : end + 1])
            del self._pending[: end + 1]
            self.notify_sizes.append(len(frame))
            self.peripheral.notify(self.event, frame)


async def open_ble_echo(frame: bytes, stack: AsyncExitStack) -> EchoRoundTrip:
    """The floor link: this echo in a child process, reached over its radio's HCI socket."""
    argv = python_module_argv("tpdevice.cli.bench_ble_echo")
    child = await stack.enter_async_context(ChildServer(argv, "ble echo peripheral"))
    echo = EchoRoundTrip(open_transport(parse_address(child.address)), frame)
    await echo.open()
    stack.push_async_callback(echo.close)
    return echo


def ble_extras(transport: object) -> dict[str, Any]:
    """The BLE fields of a bench result: MTU, chunk size, and the real radio's floor."""
    extras: dict[str, Any] = {
        "real_radio_floor_ms": REAL_RADIO_FLOOR_MS,
        "real_radio_floor": "one BLE connection interval (7.5 ms minimum, 15-50 ms typical)",
        "floor_link": "GATT echo on its own virtual radio, over its HCI socket",
    }
    if isinstance(transport, BleTransport):
        extras.update(ble_mtu=transport.mtu_size, ble_chunk_bytes=transport.chunk_size)
    return extras


async def serve() -> None:
    """Radio + echo until SIGTERM/SIGINT; print the address first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    radio = VirtualRadio()
    await radio.start()
    echo = BleEchoPeripheral(radio)
    try:
        await echo.open()
        sys.stdout.write(echo.address + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await echo.close()
        await radio.close()


def main() -> None:
    """Entry point of the child process."""
    asyncio.run(serve())


if __name__ == "__main__":
    main()
