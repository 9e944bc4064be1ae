"""A motor runs only for the host that started it: a second host stops it, never feeds it."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Callable

import pytest
from cli_helpers import run_main

from tpdevice.device import ConnectionState, open_client, run_heartbeat
from tpdevice.protocol import (
    Ack,
    FaultCode,
    Frame,
    FrameFlag,
    Heartbeat,
    MotorState,
    MsgType,
    ProgramBegin,
    ProgramStep,
    ResultCode,
    SetOutput,
    Start,
    StepKind,
    StreamDecoder,
    decode_message,
    encode_stream,
    program_hash,
)
from tpdevice_sim.firmware import Firmware
from tpdevice_sim.gun import SimulatorFleet
from tpdevice_sim.testing import FirmwareHarness

# A `tpdevice run`-like controller in its own process, with the longest watchdog the gun grants:
# only the rule under test, not the watchdog, can stop its motor before the test ends.
_CONTROLLER = """
import asyncio, sys
from tpdevice.device import open_client, run_heartbeat

async def main():
    client = await open_client(sys.argv[1], watchdog_ms=10000, reconnect=False)
    await client.set_output(33.0)
    await client.start()
    print("running", flush=True)
    await run_heartbeat(client)

asyncio.run(main())
"""


async def _until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Poll a link's state (it offers no event for it)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("transport", ["serial", "tcp", "ble"])
async def test_a_second_host_stops_an_orphaned_motor_and_never_feeds_it(transport: str) -> None:
    async with SimulatorFleet(transport, 1, seed=5) as fleet:
        gun, address = fleet.guns[0], fleet.addresses[0]
        first = await open_client(address, reconnect=False, watchdog_ms=2000)
        await first.set_output(33.0)
        await first.start()
        assert first.connection is not None
        await first.connection.transport.close()  # the first host dies without a STOP
        await _until(lambda: not getattr(gun.link, "connected", False))
        assert gun.firmware.state is MotorState.RUNNING
        second = await open_client(address, reconnect=False, watchdog_ms=2000)
        beater = asyncio.create_task(run_heartbeat(second))  # its heartbeats feed nothing
        try:
            await asyncio.wait_for(second.wait_for_state(ConnectionState.FAULTED), 2.0)
            assert gun.physics.motor.target_freq_hz == 0.0
            assert FaultCode.NEW_HOST in gun.firmware.faults
            assert gun.firmware.state is MotorState.FAULTED  # type: ignore[comparison-overlap]
            assert not second.motor_may_run
        finally:
            beater.cancel()
            await second.close()
    assert fleet.violations == []


@pytest.mark.parametrize("transport", ["serial", "tcp"])
async def test_kill_9_then_tpdevice_probe_at_once_stops_the_motor(transport: str) -> None:
    async with SimulatorFleet(transport, 1, seed=9) as fleet:
        gun, address = fleet.guns[0], fleet.addresses[0]
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CONTROLLER, address, stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        async with asyncio.timeout(10):
            assert (await child.stdout.readline()).strip() == b"running"
        child.send_signal(signal.SIGKILL)
        await child.wait()
        assert gun.firmware.state is MotorState.RUNNING
        probe = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpdevice", "probe", address, "--seconds", "0.3",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await probe.communicate()
        assert probe.returncode == 0, err
        assert gun.firmware.state is MotorState.FAULTED  # type: ignore[comparison-overlap]
        assert FaultCode.NEW_HOST in gun.firmware.faults
        assert FaultCode.WATCHDOG not in gun.firmware.faults  # stopped by the probe's HELLO
    assert fleet.violations == []


class _OrphanFeedingFirmware(Firmware):
    """A faulty build: a HELLO leaves the motor running and any heartbeat feeds it."""

    def _stop_for_new_host(self, now_s: float) -> None:
        return

    def _forget_host(self, now_s: float) -> None:
        output = self.output
        super()._forget_host(now_s)
        self.output = output
        self._apply_output(now_s)

    def _on_heartbeat(self, heartbeat: Heartbeat, frame: Frame, now_s: float) -> Ack:
        self._feed(now_s)
        return Ack(frame.msg_type)


def test_the_monitor_flags_a_motor_kept_running_for_a_replaced_host() -> None:
    host = FirmwareHarness(firmware_class=_OrphanFeedingFirmware)
    host.hello(watchdog_ms=500)
    host.ack(SetOutput(35.0))
    host.ack(Start())
    host.run(0.2, heartbeat_s=0.1)
    host.hello(watchdog_ms=500)  # a second host: its heartbeats must not keep the motor going
    host.run(1.0, heartbeat_s=0.1)
    assert host.firmware.state is MotorState.RUNNING
    texts = [v.text for v in host.monitor.violations]
    assert "motor driven after the host that started it was replaced" in texts


def test_a_new_connection_must_hello_before_any_motor_command() -> None:
    host = FirmwareHarness()
    host.hello()
    assert host.ack(SetOutput(35.0)).result is ResultCode.OK
    host.run(5.0)  # a long-running device: the first HELLO is long past
    host.connect()
    assert host.ack(Start()).result is ResultCode.BAD_STATE
    assert host.ack(Heartbeat(0)).result is ResultCode.BAD_STATE
    assert host.firmware.state is MotorState.IDLE
    host.hello()
    assert host.ack(SetOutput(35.0)).result is ResultCode.OK
    assert host.ack(Start()).result is ResultCode.OK


def test_a_hello_abandons_an_open_upload() -> None:
    host = FirmwareHarness()
    host.hello()
    step = ProgramStep(0, StepKind.HOLD, 35.0, 20.0, 5.0, 60.0, 10.0, 1000)
    assert host.ack(ProgramBegin(1, program_hash([step]))).result is ResultCode.OK
    host.hello()
    assert host.ack(step).result is ResultCode.BAD_STATE  # no upload open any more


async def test_start_without_hello_on_a_new_tcp_connection_is_refused() -> None:
    async with SimulatorFleet("tcp", 1, seed=6) as fleet:
        gun, address = fleet.guns[0], fleet.addresses[0]
        first = await open_client(address, reconnect=False)
        await first.set_output(33.0)  # a setpoint a careless second host could run
        await first.close()
        await _until(lambda: not getattr(gun.link, "connected", False))
        port = int(address.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(encode_stream(Start(), 1))
            decoder, frames = StreamDecoder(), list[Frame]()
            async with asyncio.timeout(2.0):
                while not frames:
                    frames += decoder.feed(await reader.read(4096))
            response = next(f for f in frames if f.flags & FrameFlag.RESPONSE)
            assert decode_message(response) == Ack(MsgType.START, ResultCode.BAD_STATE)
            assert gun.firmware.state is MotorState.IDLE
        finally:
            writer.close()
    assert fleet.violations == []


async def test_a_second_tcp_host_is_told_the_gun_is_busy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with SimulatorFleet("tcp", 1, seed=7) as fleet:
        address = fleet.addresses[0]
        first = await open_client(address, reconnect=False)
        try:
            code, out, err = await asyncio.to_thread(run_main, capsys, "probe", address)
        finally:
            await first.close()
    assert err == f"tpdevice: error: {address}: device busy: another host is connected to it\n"
    assert out == ""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        refused = f"tcp://127.0.0.1:{free.getsockname()[1]}"
    refused_code, _, _ = await asyncio.to_thread(run_main, capsys, "probe", refused)
    assert code == refused_code != 0  # like any other connection error
