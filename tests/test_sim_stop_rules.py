"""How the device stops: braking time, a setpoint dropped by a fault, refused setpoints."""

from __future__ import annotations

import pytest

from tpdevice.protocol import (
    FaultCode,
    MotorState,
    ResultCode,
    SetOutput,
    Start,
    Telemetry,
)
from tpdevice_sim.config import FirmwareConfig
from tpdevice_sim.physics import PRESETS
from tpdevice_sim.testing import FirmwareHarness

BRAKE_MS = 500  # docs/protocol.md 4.2: standstill within this long of the stop


@pytest.mark.parametrize("model", sorted(PRESETS))
def test_a_watchdog_stop_brakes_to_standstill_within_the_documented_time(model: str) -> None:
    spec = PRESETS[model]
    host = FirmwareHarness(FirmwareConfig(spec=spec))
    host.hello(watchdog_ms=200, telemetry_hz=50)
    assert host.ack(SetOutput(spec.freq_max_hz)).result is ResultCode.OK
    assert host.ack(Start()).result is ResultCode.OK
    host.run(2.0, heartbeat_s=0.05)  # at full rate
    host.run(1.5)  # the host goes silent
    (fault,) = host.faults()
    assert fault.code is FaultCode.WATCHDOG
    after = [
        t for t in host.messages(Telemetry)
        if isinstance(t, Telemetry) and t.device_time_ms >= fault.device_time_ms
    ]  # fmt: skip
    rates = [t.freq_hz for t in after]
    assert rates == sorted(rates, reverse=True)  # braking only, never driven again
    stopped_ms = next(t.device_time_ms for t in after if t.freq_hz == 0.0)
    assert stopped_ms - fault.device_time_ms <= BRAKE_MS
    assert all(t.state is MotorState.FAULTED for t in after)


@pytest.mark.parametrize(
    "output",
    [
        SetOutput(35.0, force_target_n=40.0, force_cap_n=30.0),
        SetOutput(35.0, force_target_n=20.0, force_tolerance_n=200.0),
    ],
    ids=["target-above-cap", "tolerance-above-max"],
)
def test_a_setpoint_outside_its_own_limits_is_out_of_range(output: SetOutput) -> None:
    host = FirmwareHarness()
    host.hello()
    assert host.ack(output).result is ResultCode.OUT_OF_RANGE
    assert host.firmware.output == SetOutput(0.0)  # changed nothing


def test_a_target_at_the_cap_or_under_the_device_maximum_is_accepted() -> None:
    host = FirmwareHarness()
    host.hello()
    assert host.ack(SetOutput(35.0, force_target_n=30.0, force_cap_n=30.0)).result is ResultCode.OK
    assert host.ack(SetOutput(35.0, force_target_n=100.0)).result is ResultCode.OK  # cap 0 = max


def test_start_at_0_hz_arms_nothing() -> None:
    host = FirmwareHarness()
    host.hello(watchdog_ms=200)
    assert host.ack(SetOutput(0.0)).result is ResultCode.OK
    assert host.ack(Start()).result is ResultCode.BAD_STATE
    host.run(1.0)
    assert host.firmware.state is MotorState.IDLE
    assert host.faults() == []  # no watchdog was armed
