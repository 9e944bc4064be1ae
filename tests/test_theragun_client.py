"""TheragunClient against the simulated Theragun firmware over the in-memory packet link."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from fakes import fast_options

from tpdevice.device import (
    ConnectionState,
    DeviceClient,
    DeviceConnectionError,
    DeviceRangeError,
    HandshakeError,
    open_client,
    open_gun,
)
from tpdevice.device.api import program_runner, time_syncer
from tpdevice.device.connect import resolve_driver
from tpdevice.drivers.theragun.client import TheragunClient
from tpdevice.drivers.theragun.codec import PRO, STATUS_REQUEST, VERSION_REQUEST, encode_speed
from tpdevice.protocol import (
    Feature,
    MotorState,
    StopReason,
)
from tpdevice.transport import EchoPeer, LoopbackTransport, parse_address
from tpdevice_sim.clock import ManualClock
from tpdevice_sim.theragun import KEEPALIVE_S, TheragunFirmware, TheragunLoopbackLink

ADDRESS = "sim-theragun"


@dataclass
class Rig:
    """A simulated gun, its link and manual clock, and a client connected to it."""

    gun: TheragunFirmware
    link: TheragunLoopbackLink
    clock: ManualClock
    client: TheragunClient

    async def settle(self) -> None:
        """Let queued writes and notifications cross the in-memory link."""
        for _ in range(4):
            await asyncio.sleep(0)

    async def run_for(self, seconds: float, *, beat: bool, step_s: float = 0.5) -> None:
        """Advance device time in steps, beating (or not) from a control loop, ticking the gun."""
        for _ in range(round(seconds / step_s)):
            self.clock.advance(step_s)
            if beat:
                self.client.heartbeat.beat()
            await self.settle()
            self.link.tick()


async def immediate(delay_s: float) -> None:
    """A reconnect sleep that does not wait."""
    await asyncio.sleep(0)


def make_client(link: TheragunLoopbackLink, *, poll_status: bool = False) -> TheragunClient:
    return TheragunClient(
        ADDRESS,
        lambda: LoopbackTransport(link, ADDRESS),
        fast_options(),
        model=PRO,
        reconnect_sleep=immediate,
        poll_status=poll_status,
    )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    gun = TheragunFirmware("Pro", version=0x0104)
    clock = ManualClock()
    link = TheragunLoopbackLink(gun, clock)
    client = make_client(link)
    await client.connect()
    yield Rig(gun, link, clock, client)
    await client.close()
    assert gun.violations == []


async def test_connect_reads_the_version_and_synthesizes_capabilities(rig: Rig) -> None:
    caps = rig.client.capabilities
    assert rig.client.state is ConnectionState.READY
    assert rig.client.version is not None and rig.client.version.version == 0x0104
    assert (caps.model, caps.firmware) == ("Theragun Pro", "0x0104")
    assert caps.features == Feature.NONE
    assert not caps.features & (Feature.FORCE_SENSOR | Feature.PROGRAM | Feature.TIME_SYNC)
    assert caps.force_max_n == 0.0
    assert (caps.freq_min_hz * 60, caps.freq_max_hz * 60) == pytest.approx((1750, 2400))
    assert rig.client.heartbeat.interval_s == caps.watchdog_ms / 4000
    assert rig.link.writes == [VERSION_REQUEST]
    assert not rig.gun.running


async def test_set_output_then_start_runs_at_hz_times_60(rig: Rig) -> None:
    await rig.client.set_output(35.0)
    await rig.settle()
    assert not rig.gun.running  # set_output alone does not start the motor
    await rig.client.start()
    await rig.settle()
    assert rig.gun.rpm == 2100
    assert rig.client.state is ConnectionState.RUNNING
    assert rig.client.motor_may_run
    await rig.client.set_output(40.0)
    await rig.settle()
    assert rig.gun.rpm == 2400
    await rig.client.set_output(rig.client.capabilities.freq_min_hz)
    await rig.settle()
    assert rig.gun.rpm == 1750
    assert rig.link.writes[-1] == encode_speed(1750)


async def test_pressure_fields_are_cues_never_sent(rig: Rig) -> None:
    await rig.client.start()
    await rig.client.set_output(30.0, force_target_n=40.0, force_tolerance_n=5.0, force_cap_n=80.0)
    await rig.settle()
    assert rig.link.writes[-1] == encode_speed(1800)


@pytest.mark.parametrize(
    ("freq_hz", "forces", "match"),
    [
        (45.0, {}, "freq_hz=45 is outside the device range"),
        (10.0, {}, "freq_hz=10 is outside the device range"),
        (math.nan, {}, "freq_hz=nan is outside"),
        (-1.0, {}, "freq_hz=-1 is outside"),
        (30.0, {"force_target_n": -1.0}, "force_target_n=-1 must be a number >= 0"),
        (30.0, {"force_cap_n": math.inf}, "force_cap_n=inf must be a number >= 0"),
    ],
)
async def test_bad_setpoints_are_refused_without_sending(
    rig: Rig, freq_hz: float, forces: dict[str, float], match: str
) -> None:
    await rig.client.start()
    await rig.settle()
    before = list(rig.link.writes)
    with pytest.raises(DeviceRangeError, match=match):
        await rig.client.set_output(freq_hz, **forces)
    await rig.settle()
    assert rig.link.writes == before


async def test_heartbeat_keeps_the_gun_running(rig: Rig) -> None:
    await rig.client.set_output(40.0)
    await rig.client.start()
    await rig.run_for(4 * KEEPALIVE_S, beat=True)
    assert rig.gun.rpm == 2400
    assert rig.gun.stats.keepalive_stops == 0
    assert rig.client.heartbeat.sent == rig.client.heartbeat.acked == 24


async def test_without_heartbeats_the_gun_stops_after_the_keepalive(rig: Rig) -> None:
    await rig.client.set_output(40.0)
    await rig.client.start()
    await rig.settle()
    await rig.run_for(KEEPALIVE_S - 0.5, beat=False)
    assert rig.gun.running
    await rig.run_for(0.5, beat=False)
    assert not rig.gun.running
    assert rig.gun.stats.keepalive_stops == 1


async def test_stop_writes_speed_zero_and_beats_keep_it_zero(rig: Rig) -> None:
    await rig.client.set_output(35.0)
    await rig.client.start()
    await rig.client.stop(StopReason.USER)
    await rig.settle()
    assert rig.gun.rpm == 0
    assert rig.client.state is ConnectionState.READY
    assert not rig.client.motor_may_run
    rig.client.heartbeat.beat()
    await rig.settle()
    assert rig.link.writes[-1] == encode_speed(0)


async def test_stop_without_a_link_is_best_effort() -> None:
    link = TheragunLoopbackLink(TheragunFirmware(), ManualClock())
    client = make_client(link)
    await client.stop()  # never connected: nothing to write, no error
    assert not client.motor_may_run
    assert link.writes == []
    await client.close()


async def test_commands_need_a_connection() -> None:
    client = make_client(TheragunLoopbackLink(TheragunFirmware(), ManualClock()))
    with pytest.raises(DeviceConnectionError, match="not connected yet"):
        await client.set_output(30.0)
    with pytest.raises(DeviceConnectionError, match=r"not connected \(disconnected\)"):
        await client.start()
    assert not client.heartbeat.beat()
    await client.close()


async def test_programs_and_time_sync_are_not_offered(rig: Rig) -> None:
    assert program_runner(rig.client) is None and time_syncer(rig.client) is None
    assert not hasattr(rig.client, "upload_program")  # nothing implemented only to refuse
    assert not hasattr(rig.client, "time_sync")
    assert rig.link.writes == [VERSION_REQUEST]


async def test_a_device_that_never_answers_fails_the_handshake() -> None:
    echo = EchoPeer()  # echoes AA 20 20 00: not a notification, so no version answer
    client = TheragunClient(
        "echo", lambda: LoopbackTransport(echo, "echo"),
        fast_options(handshake_timeout_s=0.02, handshake_retries=1),
    )  # fmt: skip
    with pytest.raises(HandshakeError, match="no Theragun version answer to 2 requests"):
        await client.connect()
    assert client.state is ConnectionState.DISCONNECTED
    assert client.link_stats.unknown_notifications == 2
    assert bytes(echo.received) == VERSION_REQUEST * 2
    await client.close()


async def test_lost_link_reconnects_and_stops_a_leftover_run(rig: Rig) -> None:
    await rig.client.set_output(40.0)
    await rig.client.start()
    await rig.settle()
    rig.link.hang_up()  # the gun keeps running: only the link dropped
    await rig.client.wait_for_state(ConnectionState.DISCONNECTED)
    assert rig.client.last_error is not None
    assert rig.gun.running
    await rig.client.wait_for_state(ConnectionState.READY)
    await rig.settle()
    assert rig.gun.rpm == 0
    assert not rig.client.motor_may_run
    assert rig.link.writes.count(VERSION_REQUEST) == 2


async def test_reconnect_stops_a_gun_whose_stop_frame_was_lost(rig: Rig) -> None:
    await rig.client.set_output(40.0)
    await rig.client.start()
    await rig.settle()
    rig.link.hang_up()  # the radio link is gone; the client learns it on the next iteration
    await rig.client.stop()  # so this frame is lost with the link
    assert not rig.client.motor_may_run
    await rig.settle()
    assert rig.gun.rpm == 2400
    await rig.client.wait_for_state(ConnectionState.READY)
    await rig.settle()
    assert rig.gun.rpm == 0
    assert rig.link.writes[-1] == encode_speed(0)


async def test_close_stops_the_motor_then_closes(rig: Rig) -> None:
    await rig.client.set_output(40.0)
    await rig.client.start()
    events = rig.client.events()
    telemetry = rig.client.telemetry()
    await rig.client.close()
    assert rig.gun.rpm == 0
    assert rig.client.state is ConnectionState.CLOSED
    assert not rig.link.attached
    assert [item async for item in events] == []
    assert [item async for item in telemetry] == []


async def test_poll_status_turns_status_answers_into_telemetry() -> None:
    gun = TheragunFirmware("Pro")
    link = TheragunLoopbackLink(gun, ManualClock())
    client = make_client(link, poll_status=True)
    await client.connect()
    stream = client.telemetry()
    await client.set_output(35.0)
    await client.start()
    client.heartbeat.beat()
    telemetry = await anext(stream)
    assert telemetry.freq_hz == pytest.approx(35.0)
    assert telemetry.state is MotorState.RUNNING
    assert (telemetry.force_n, telemetry.contact) == (0.0, False)
    assert client.last_telemetry == telemetry
    assert STATUS_REQUEST in link.writes
    await client.close()


async def test_without_polling_no_telemetry_arrives(rig: Rig) -> None:
    await rig.client.start()
    rig.client.heartbeat.beat()
    await rig.settle()
    assert STATUS_REQUEST not in rig.link.writes
    assert rig.client.last_telemetry is None


async def test_bad_notifications_are_counted_and_ignored(rig: Rig) -> None:
    rig.link.notify(bytes.fromhex("bb 00 33"))
    rig.link.notify(bytes.fromhex("bb 99 20 00"))
    await rig.settle()
    assert rig.client.link_stats.unknown_notifications == 2
    assert rig.client.state is ConnectionState.READY


async def test_open_gun_starts_a_simulated_theragun() -> None:
    client = await open_gun("sim?driver=theragun", sim_options={"model": "Elite"})
    assert isinstance(client, TheragunClient)
    assert client.capabilities.model == "Theragun Elite"
    await client.set_output(30.0)
    await client.start()
    assert client.heartbeat.beat()
    await client.close()
    assert client.state is ConnectionState.CLOSED


@pytest.mark.parametrize(
    ("address", "sim_options", "match"),
    [
        ("tcp://127.0.0.1:9?driver=theragun", None, "needs a ble:// or sim address"),
        ("sim?driver=theragun", {"model": "Mini"}, "unknown Theragun model 'Mini'"),
        ("sim?driver=theragun", {"colour": "red"}, "simulated Theragun: .*colour"),
        ("sim?driver=theragun", {"time_scale": 0}, "time scale must be a finite number"),
    ],
)
async def test_open_gun_refuses_what_a_theragun_cannot_use(
    address: str, sim_options: dict[str, object] | None, match: str
) -> None:
    with pytest.raises(DeviceConnectionError, match=match):
        await open_gun(address, sim_options=sim_options)


async def test_open_client_points_a_theragun_to_open_gun() -> None:
    with pytest.raises(DeviceConnectionError, match=r"opened with open_gun\(\)"):
        await open_client("sim?driver=theragun")


@pytest.mark.parametrize(
    ("address", "driver"),
    [
        ("ble://name=Pro", "theragun"),
        ("ble://name=Theragun%20Elite", "theragun"),
        ("ble://name=Pro?driver=native", "native"),
        ("ble://name=tpdevice-SIM-0000", "native"),
        ("ble://AA:BB:CC:DD:EE:FF", "native"),
        ("sim", "native"),
    ],
)
def test_a_theragun_name_selects_the_theragun_driver(address: str, driver: str) -> None:
    assert resolve_driver(parse_address(address))[0].driver == driver


async def test_open_gun_gives_native_clients_for_native_addresses() -> None:
    client = await open_gun("sim", reconnect=False)
    assert isinstance(client, DeviceClient)
    await client.close()


async def test_over_the_virtual_radio_a_theragun_name_selects_the_driver() -> None:
    pytest.importorskip("bumble", reason="BLE tests need bumble (the ble-sim extra)")
    from tpdevice_sim.ble.theragun_peripheral import TheragunFleet

    async with TheragunFleet(1, model="Pro") as fleet:
        hci = fleet.addresses[0].split("?", 1)[1]
        client = await open_gun(f"ble://name=Pro?{hci}", reconnect=False, poll_status=True)
        assert isinstance(client, TheragunClient)
        assert client.capabilities.model == "Theragun Pro"
        stream = client.telemetry()
        await client.set_output(35.0)
        await client.start()
        client.heartbeat.beat()  # speed, then a status request the gun answers after it
        telemetry = await anext(stream)
        assert (telemetry.freq_hz, telemetry.state) == (35.0, MotorState.RUNNING)
        await client.close()  # drains the speed-0 write before disconnecting
        assert fleet.guns[0].firmware.rpm == 0
    assert fleet.violations == []
