"""TheragunClient over the virtual radio: the model from the gun's names, keep-alive, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from tpdevice.device import DeviceRangeError, open_gun, run_heartbeat
from tpdevice.drivers.theragun.client import STOP_TIMEOUT_S, WATCHDOG_MIN_MS, TheragunClient

if TYPE_CHECKING:
    from uuid import UUID

    from bleak.backends.characteristic import BleakGATTCharacteristic

    from tpdevice_sim.ble.theragun_peripheral import TheragunFleet


def _ble_ready() -> bool:
    try:
        import bleak_retry_connector  # noqa: F401
        import bumble  # noqa: F401
    except ImportError:
        return False
    return True


ble = pytest.mark.skipif(not _ble_ready(), reason="BLE tests need the ble-sim extra")


@pytest.fixture
async def pro_fleet() -> AsyncIterator[TheragunFleet]:
    from tpdevice_sim.ble.theragun_peripheral import TheragunFleet

    async with TheragunFleet(1, model="Pro") as fleet:
        yield fleet
    assert fleet.violations == []


async def scanned_url(spec: str) -> str:
    """The address `tpdevice devices scan` prints for the one Theragun on the radio."""
    from tpdevice.transport import scan

    (result,) = [r for r in await scan(0.3, spec) if r.driver == "theragun"]
    return result.url


@ble
@pytest.mark.parametrize("printed_by", ["sim", "scan"])
async def test_a_pro_reached_by_mac_runs_only_inside_its_model_range(
    pro_fleet: TheragunFleet, printed_by: str
) -> None:
    address = pro_fleet.addresses[0]  # ble://MAC?driver=theragun&hci=...: no name in it
    if printed_by == "scan":
        address = await scanned_url(address.split("hci=", 1)[1])
    client = await open_gun(address, reconnect=False)
    assert isinstance(client, TheragunClient)
    firmware = pro_fleet.guns[0].firmware
    try:
        caps = client.capabilities
        assert caps.model == "Theragun Pro"  # from the GAP name read over GATT
        assert (round(caps.freq_min_hz * 60), round(caps.freq_max_hz * 60)) == (1750, 2400)
        for freq_hz in (29.0, 45.0):  # 29 Hz: most shipped steps (1740 rpm); 45 Hz: 2700 rpm
            with pytest.raises(DeviceRangeError, match=r"outside the device range 29.1667..40"):
                await client.set_output(freq_hz)
        await client.set_output(caps.freq_max_hz)
        await client.start()
        assert client.rpm == 2400
        link = client._link
        assert link is not None and await link.transport.flush(2.0)  # written with response
        assert firmware.rpm == 2400
    finally:
        await client.close()
    assert firmware.rpm == 0


@ble
@pytest.mark.parametrize(
    ("gap_name", "dis_model", "model"),
    [
        ("TG4-0042", "Massager", "Theragun Gen 4"),  # nothing names a model: the common range
        ("TG4-0042", "Theragun Elite", "Theragun Elite"),  # the DIS model string does
    ],
)
async def test_a_gun_reached_by_mac_takes_its_model_from_the_names_it_gives(
    gap_name: str, dis_model: str, model: str
) -> None:
    from tpdevice_sim.ble.radio import VirtualRadio
    from tpdevice_sim.ble.spec import BleIdentity, BleSlot
    from tpdevice_sim.ble.theragun_peripheral import TheragunPeripheral
    from tpdevice_sim.theragun import TheragunFirmware

    radio = VirtualRadio()
    await radio.start()
    identity = BleIdentity(2, gap_name, dis_model, "S-1", "1.4", "Therabody")
    gun = TheragunPeripheral(TheragunFirmware("Elite"), BleSlot(radio, identity))
    await gun.start()
    try:
        client = await open_gun(gun.address, reconnect=False)
        try:
            caps = client.capabilities
            assert caps.model == model
            # Never the 0..3616 rpm a speed frame can carry: 1750..2400, as every model runs.
            assert (round(caps.freq_min_hz * 60), round(caps.freq_max_hz * 60)) == (1750, 2400)
        finally:
            await client.close()
    finally:
        await gun.stop()
        await radio.close()


@pytest.mark.parametrize(
    ("watchdog_ms", "effective_ms"),
    [(0, 1000), (1, WATCHDOG_MIN_MS), (249, WATCHDOG_MIN_MS), (600, 600), (60_000, 3000)],
)
async def test_watchdog_ms_is_clamped_and_zero_means_the_default(
    watchdog_ms: int, effective_ms: int
) -> None:
    client = await open_gun("sim?driver=theragun", reconnect=False, watchdog_ms=watchdog_ms)
    try:
        assert isinstance(client, TheragunClient)
        # 0 is "device default" for native guns; it once became a 1 ms beat (4000 frames/s).
        caps = client.capabilities
        assert (caps.watchdog_ms, caps.watchdog_min_ms) == (effective_ms, WATCHDOG_MIN_MS)
        assert client.heartbeat.interval_s == pytest.approx(effective_ms / 4000)
        assert client.heartbeat.interval_s >= 0.0625
    finally:
        await client.close()


@ble
async def test_over_ble_stop_returns_with_the_motor_stopped_after_watchdog_zero(
    pro_fleet: TheragunFleet,
) -> None:
    hci = pro_fleet.addresses[0].split("hci=", 1)[1]
    client = await open_gun(f"ble://name=Pro?hci={hci}", reconnect=False, watchdog_ms=0)
    assert isinstance(client, TheragunClient)
    try:
        await client.set_output(35.0)
        await client.start()
        beat = asyncio.create_task(run_heartbeat(client))
        await asyncio.sleep(0.5)  # what `probe --spin 35 --watchdog-ms 0` does
        beat.cancel()
        await client.stop()
        # A stop frame must not sit behind queued keep-alives while the gun still runs.
        assert pro_fleet.guns[0].firmware.rpm == 0
    finally:
        await client.close()


@ble
async def test_keep_alives_never_queue_ahead_of_a_stop_on_a_slow_radio(
    pro_fleet: TheragunFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await open_gun(pro_fleet.addresses[0], reconnect=False)
    assert isinstance(client, TheragunClient)
    firmware = pro_fleet.guns[0].firmware
    try:
        from tpdevice.transport.ble import BleTransport

        link = client._link
        assert link is not None and isinstance(link.transport, BleTransport)
        gatt = link.transport._client
        assert gatt is not None
        original = gatt.write_gatt_char

        async def slow_write(
            char: BleakGATTCharacteristic | int | str | UUID, data: bytes, response: bool
        ) -> None:
            await asyncio.sleep(0.02)  # a write with response: a connection event or two
            await original(char, data, response=response)

        monkeypatch.setattr(gatt, "write_gatt_char", slow_write)
        before = firmware.stats.speed_frames
        await client.set_output(35.0)
        await client.start()
        for _ in range(50):  # a control loop beating far faster than the radio writes
            client.heartbeat.beat()
        await client.stop()
        assert firmware.rpm == 0  # the stop went out next, not after 50 stale frames
        assert firmware.stats.speed_frames - before <= 3
    finally:
        await client.close()


async def test_the_stop_waits_for_its_frame_longer_than_the_native_stop_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await open_gun("sim?driver=theragun", reconnect=False)
    assert isinstance(client, TheragunClient) and client.options.stop_timeout_s < STOP_TIMEOUT_S
    link = client._link
    assert link is not None
    waited: list[float] = []

    async def flush(timeout_s: float = 1.0) -> bool:
        waited.append(timeout_s)
        return True

    monkeypatch.setattr(link.transport, "flush", flush)
    try:
        await client.set_output(35.0)
        await client.start()
        await client.stop()
        assert waited == [STOP_TIMEOUT_S]  # a write with response over a radio: not 0.1 s
    finally:
        await client.close()
