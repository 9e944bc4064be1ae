"""The device client over BLE against simulated guns: fragments, reconnects, watchdog, CLI."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator

import pytest
from ble_helpers import clean_env, drop_connection, hide_adapters
from cli_helpers import run_main
from controller_helpers import kill_controller_mid_run

from tpdevice.device import ConnectionState, open_client
from tpdevice.device.reconnect import Backoff
from tpdevice.protocol import ProgramStep, StepKind
from tpdevice.transport import BleTransport
from tpdevice_sim.ble.radio import VirtualRadio
from tpdevice_sim.ble.spec import BleIdentity, BleSlot
from tpdevice_sim.config import FirmwareConfig
from tpdevice_sim.gun import SimulatedGun, SimulatorFleet
from tpdevice_sim.links import make_link

LONG_SERIAL = "SN-" + "0123456789" * 12  # CAPABILITIES of ~290 bytes: more than one chunk
LONG_FIRMWARE = "fw-" + "abcdefghij" * 3


@pytest.fixture
async def big_gun() -> AsyncIterator[SimulatedGun]:
    """A native gun whose CAPABILITIES frame is larger than one 247-MTU chunk."""
    radio = VirtualRadio()
    identity = BleIdentity.native(0, "BIG", "tp-sim-pro", LONG_FIRMWARE)
    link = make_link("ble", ble=BleSlot(radio, identity))
    gun = SimulatedGun(
        link, config=FirmwareConfig(serial=LONG_SERIAL, firmware_version=LONG_FIRMWARE)
    )
    await gun.start()
    try:
        yield gun
    finally:
        await gun.stop()
        await radio.close()


def transport_of(client: object) -> BleTransport:
    connection = getattr(client, "connection", None)
    transport = getattr(connection, "transport", None)
    assert isinstance(transport, BleTransport)
    return transport


@pytest.mark.parametrize("mtu", [23, 247])
async def test_fragmented_frames_round_trip_through_the_device_client(
    big_gun: SimulatedGun, mtu: int
) -> None:
    client = await open_client(f"{big_gun.address}&mtu={mtu}", reconnect=False)
    try:
        caps = client.capabilities
        assert (caps.serial, caps.firmware) == (LONG_SERIAL, LONG_FIRMWARE)  # gun -> host
        transport = transport_of(client)
        assert (transport.mtu_size, transport.chunk_size) == (mtu, mtu - 3)
        await client.set_output(  # 23 bytes encoded: 2 chunks at MTU 23
            31.5, force_target_n=22.0, force_tolerance_n=4.0, force_cap_n=35.0,
            force_ramp_n_per_s=10.0,
        )  # fmt: skip
        output = big_gun.firmware.output
        assert (output.freq_hz, output.force_target_n, output.force_cap_n) == (31.5, 22.0, 35.0)
        steps = [
            ProgramStep(i, StepKind.HOLD, 30.0 + i, 20.0, 5.0, 30.0, 10.0, 1000 * (i + 1))
            for i in range(3)
        ]
        await client.upload_program(steps)  # 35-byte steps: 2 chunks each at MTU 23
        program = big_gun.firmware.program
        assert program is not None
        assert [s.duration_ms for s in program.steps] == [1000, 2000, 3000]
        assert client.connection is not None and client.connection.helper.bad_frames == 0
    finally:
        await client.close()


async def test_client_reconnects_after_the_gun_drops_the_link() -> None:
    async with SimulatorFleet("ble", 1, seed=2) as fleet:
        client = await open_client(
            fleet.addresses[0], backoff=Backoff(min_s=0.02, max_s=0.1, jitter=0.0)
        )
        try:
            first = transport_of(client)
            states: list[ConnectionState] = []
            client.subscribe_state(lambda old, new: states.append(new))
            drop_connection(fleet.guns[0])
            async with asyncio.timeout(10):
                while ConnectionState.READY not in states:  # noqa: ASYNC110 (state list)
                    await asyncio.sleep(0.01)
            assert states[0] is ConnectionState.DISCONNECTED
            second = transport_of(client)
            assert second is not first and second.is_open
            await client.set_output(30.0)  # the new link carries requests
            assert fleet.guns[0].firmware.output.freq_hz == 30.0
        finally:
            await client.close()
        assert fleet.violations == []


async def test_sigkill_of_a_ble_controller_stops_the_motor_within_the_watchdog() -> None:
    async with SimulatorFleet("ble", 1, seed=3) as fleet:  # heartbeats over the HCI socket
        await kill_controller_mid_run(fleet, ready_timeout_s=15)
    # The monitor flags a motor that ran past the watchdog without heartbeats (device time).
    assert fleet.violations == []


async def run_tpdevice(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpdevice", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_probe_over_ble_against_a_simulator_process() -> None:
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpdevice", "sim", "--transport", "ble",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        async with asyncio.timeout(15):
            address = (await sim.stdout.readline()).decode().strip()
        assert address.startswith("ble://F0:7D:00:00:00:01?hci=tcp-client:127.0.0.1:")
        code, out, err = await run_tpdevice(
            "probe", address, "--seconds", "0.3", "--json", env=clean_env()
        )
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert lines[0]["type"] == "capabilities"
        assert (lines[0]["address"], lines[0]["serial"]) == (address, "SIM-0000")
        assert any(line["type"] == "telemetry" for line in lines[1:])
    finally:
        sim.send_signal(signal.SIGTERM)
        await asyncio.wait_for(sim.wait(), 10)


def test_probe_without_an_adapter_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_adapters(monkeypatch)
    code, out, err = run_main(capsys, "probe", "ble://AA:BB:CC:DD:EE:FF")
    assert (code, out) == (1, "")
    assert err.startswith(
        "tpdevice: error: ble://AA:BB:CC:DD:EE:FF: no Bluetooth adapter available: "
    )
    assert err.endswith(
        "; to reach simulated guns use the ble://...?hci=... address printed by "
        "`tpdevice sim --transport ble`\n"
    )
    assert err.count("\n") == 1
