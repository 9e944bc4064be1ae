"""A STOP and START at the same instant leave the motor driven: the force cap keeps counting."""

from __future__ import annotations

from tpdevice.protocol import FaultCode, MotorState, ResultCode, SetOutput, Start, Stop
from tpdevice_sim.physics import ContactScenario
from tpdevice_sim.testing import FirmwareHarness


def test_stop_start_at_once_cannot_hold_off_the_force_cap() -> None:
    host = FirmwareHarness(scenario=ContactScenario.STEADY)  # the hand presses 20 N
    host.hello(watchdog_ms=500)
    assert host.ack(SetOutput(35.0, force_target_n=5.0, force_cap_n=10.0)).result is ResultCode.OK
    assert host.ack(Start()).result is ResultCode.OK
    for _ in range(30):  # 3 s, well past the 250 ms hold, restarted every 100 ms
        host.run(0.1)
        if host.firmware.state is MotorState.FAULTED:
            break
        assert host.ack(Stop()).result is ResultCode.OK
        assert host.ack(Start()).result is ResultCode.OK
    assert [(f.code, f.active) for f in host.faults()] == [(FaultCode.OVER_FORCE, True)]
    assert host.monitor.violations == []
