"""The simulated firmware as a state machine: handshake, NACKs, dedup, setpoints, safety."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from tpdevice.protocol import (
    NO_STEP,
    Ack,
    Capabilities,
    FaultCode,
    Feature,
    Frame,
    FrameFlag,
    Heartbeat,
    Hello,
    Message,
    MotorState,
    MsgType,
    ProgramAction,
    ProgramBegin,
    ProgramControl,
    ResultCode,
    SetOutput,
    Start,
    Stop,
    StopReason,
    Telemetry,
    TimeSync,
    TimeSyncReply,
    decode_frame,
    encode_frame,
    encode_message,
)
from tpdevice_sim.config import ALL_FEATURES, FirmwareConfig, spread_phase
from tpdevice_sim.firmware import Firmware
from tpdevice_sim.invariants import InvariantMonitor
from tpdevice_sim.physics import ContactScenario
from tpdevice_sim.testing import FirmwareHarness


@pytest.fixture
def host() -> FirmwareHarness:
    harness = FirmwareHarness()
    harness.hello(watchdog_ms=500, telemetry_hz=20)
    return harness


def _running(host: FirmwareHarness, freq_hz: float = 35.0, **output: float) -> None:
    assert host.ack(SetOutput(freq_hz, **output)).result is ResultCode.OK
    assert host.ack(Start()).result is ResultCode.OK


def _result(host: FirmwareHarness, raw: bytes) -> ResultCode:
    (received,) = host.send_raw(raw)
    assert isinstance(received.message, Ack)
    return received.message.result


# --- handshake --------------------------------------------------------------------------------


def test_capabilities_describe_the_gun() -> None:
    host = FirmwareHarness(FirmwareConfig(serial="SN-7", firmware_version="9.9"))
    caps = host.hello(watchdog_ms=800, telemetry_hz=10)
    assert (caps.model, caps.serial, caps.firmware) == ("tp-sim-pro", "SN-7", "9.9")
    assert caps.features == int(ALL_FEATURES)
    assert (caps.freq_min_hz, caps.freq_max_hz, caps.force_max_n) == (29.0, 40.0, 120.0)
    assert (caps.watchdog_ms, caps.telemetry_hz) == (800, 10)
    assert (caps.watchdog_min_ms, caps.watchdog_max_ms, caps.telemetry_max_hz) == (100, 10_000, 50)


@pytest.mark.parametrize(
    ("watchdog_ms", "granted_ms"), [(0, 1000), (1, 100), (60_000, 10_000), (250, 250)]
)
def test_watchdog_grant_is_clamped_and_cannot_be_switched_off(
    watchdog_ms: int, granted_ms: int
) -> None:
    assert FirmwareHarness().hello(watchdog_ms=watchdog_ms).watchdog_ms == granted_ms


@pytest.mark.parametrize(("telemetry_hz", "granted_hz"), [(0, 1), (200, 50), (25, 25)])
def test_telemetry_grant_is_clamped(telemetry_hz: int, granted_hz: int) -> None:
    assert FirmwareHarness().hello(telemetry_hz=telemetry_hz).telemetry_hz == granted_hz


def test_telemetry_flows_at_the_granted_rate_from_hello_on() -> None:
    host = FirmwareHarness()
    assert host.run(1.0) == []
    host.hello(telemetry_hz=20)
    host.run(2.0)
    telemetry = host.messages(Telemetry)
    assert len(telemetry) == 40
    times = [t.device_time_ms for t in telemetry if isinstance(t, Telemetry)]
    assert {b - a for a, b in itertools.pairwise(times)} == {50}
    last = telemetry[-1]
    assert isinstance(last, Telemetry)
    assert (last.state, last.step_index, last.battery_pct) == (MotorState.IDLE, NO_STEP, 100)


def test_guns_greeted_together_send_on_their_own_grids() -> None:
    """A fleet greeted at one instant spreads its telemetry over the period, as real guns do."""
    first_ms = []
    for seed in range(8):
        host = FirmwareHarness(FirmwareConfig(telemetry_phase=spread_phase(seed)))
        host.run(1.0)
        host.hello(telemetry_hz=20)
        host.run(0.2, step_s=0.001)
        times = [t.device_time_ms for t in host.messages(Telemetry) if isinstance(t, Telemetry)]
        assert {b - a for a, b in itertools.pairwise(times)} == {50}  # the rate is unchanged
        assert 1000 < times[0] <= 1050  # the first sample within one period of the greeting
        first_ms.append(times[0])
    assert first_ms[0] == 1050  # seed 0 (a lone simulated gun) keeps the greeting's grid
    gaps = [b - a for a, b in itertools.pairwise(sorted(first_ms))]
    assert min(gaps) >= 3, first_ms  # 8 guns over 50 ms: none within 3 ms of another


def test_a_telemetry_phase_outside_a_period_is_refused() -> None:
    with pytest.raises(ValueError, match=r"telemetry_phase=1.0 must be in \[0, 1\)"):
        FirmwareConfig(telemetry_phase=1.0)


def test_hello_stops_a_running_motor_and_says_why(host: FirmwareHarness) -> None:
    _running(host)
    host.run(0.2, heartbeat_s=0.1)
    host.hello(watchdog_ms=500)
    assert host.firmware.state is MotorState.FAULTED
    assert host.firmware.output == SetOutput(0.0)
    assert host.physics.motor.target_freq_hz == 0.0
    assert [(f.code, f.active) for f in host.faults()] == [(FaultCode.NEW_HOST, True)]
    assert host.monitor.violations == []


def test_time_sync_echoes_host_time_with_device_clock(host: FirmwareHarness) -> None:
    host.clock.advance(1.25)
    reply = host.request(TimeSync(123_456_789))
    assert reply == TimeSyncReply(123_456_789, 1_250_000)


# --- every NACK -------------------------------------------------------------------------------


def test_requests_before_hello_are_bad_state() -> None:
    host = FirmwareHarness()
    for message in (Start(), Heartbeat(1), SetOutput(35.0), Stop(), ProgramBegin(1, 0)):
        assert host.ack(message).result is ResultCode.BAD_STATE
    assert host.firmware.state is MotorState.IDLE


def test_unknown_or_device_side_types_are_unsupported(host: FirmwareHarness) -> None:
    assert _result(host, encode_frame(0x55, 90, 0, b"")) is ResultCode.UNSUPPORTED
    assert _result(host, encode_frame(MsgType.TELEMETRY, 91, 0, bytes(15))) is (
        ResultCode.UNSUPPORTED
    )


def test_features_the_gun_lacks_are_unsupported() -> None:
    features = ALL_FEATURES & ~(Feature.PROGRAM | Feature.TIME_SYNC)
    host = FirmwareHarness(FirmwareConfig(features=features))
    host.hello()
    assert host.ack(ProgramBegin(2, 0)).result is ResultCode.UNSUPPORTED
    assert host.ack(TimeSync(1)).result is ResultCode.UNSUPPORTED


@pytest.mark.parametrize(
    ("msg_type", "payload"),
    [
        (MsgType.SET_OUTPUT, b"\x01\x02\x03"),  # too short
        (MsgType.STOP, b"\x63"),  # reason 99 is not a StopReason
        (MsgType.HELLO, b"\x01"),
    ],
)
def test_malformed_payloads(host: FirmwareHarness, msg_type: int, payload: bytes) -> None:
    assert _result(host, encode_frame(msg_type, 77, 0, payload)) is ResultCode.MALFORMED


@pytest.mark.parametrize(
    "output",
    [
        SetOutput(40.5),
        SetOutput(10.0),
        SetOutput(35.0, force_cap_n=120.1),
        SetOutput(35.0, force_target_n=120.1),
    ],
    ids=["above-range", "below-range", "cap-above-max", "target-above-max"],
)
def test_out_of_range_output_changes_nothing(host: FirmwareHarness, output: SetOutput) -> None:
    _running(host, 30.0)
    assert host.ack(output).result is ResultCode.OUT_OF_RANGE
    assert host.firmware.output == SetOutput(30.0)
    assert host.physics.motor.target_freq_hz == 30.0


def test_range_limits_and_zero_are_accepted(host: FirmwareHarness) -> None:
    limits = SetOutput(40.0, force_target_n=120.0, force_cap_n=120.0)
    for output in (SetOutput(29.0), limits, SetOutput(0.0)):
        assert host.ack(output).result is ResultCode.OK


def test_overheat_trips_refuses_start_and_clears_when_cool(host: FirmwareHarness) -> None:
    _running(host)
    host.physics.thermal.motor_temp_c = 75.0  # past the 70 degC cutoff
    host.run(0.1, heartbeat_s=0.05)
    assert [(f.code, f.active) for f in host.faults()] == [(FaultCode.OVERHEAT, True)]
    assert host.firmware.state is MotorState.FAULTED
    assert host.physics.motor.target_freq_hz == 0.0
    assert host.ack(Start()).result is ResultCode.OVERHEAT
    host.physics.thermal.motor_temp_c = 40.0
    host.run(0.1)
    assert [(f.code, f.active) for f in host.faults()] == [
        (FaultCode.OVERHEAT, True),
        (FaultCode.OVERHEAT, False),
    ]
    assert host.firmware.state is MotorState.IDLE  # type: ignore[comparison-overlap]
    assert host.ack(Start()).result is ResultCode.BAD_STATE  # the fault dropped the setpoint
    _running(host)


def test_low_battery_trips_and_refuses_start(host: FirmwareHarness) -> None:
    _running(host)
    host.physics.battery.battery_pct = 5.0
    host.run(0.05, heartbeat_s=0.05)
    assert [(f.code, f.active) for f in host.faults()] == [(FaultCode.LOW_BATTERY, True)]
    assert host.ack(Start()).result is ResultCode.LOW_BATTERY
    assert host.physics.motor.target_freq_hz == 0.0


# --- idempotent retransmission ----------------------------------------------------------------


def test_same_seq_twice_is_answered_identically_and_acted_on_once(host: FirmwareHarness) -> None:
    host.ack(SetOutput(35.0))
    first = host.firmware.handle_frame(_frame(Start(), 50), host.clock.now_s())
    host.ack(Stop(StopReason.USER))
    host.run(1.0)
    assert host.firmware.state is MotorState.IDLE
    again = host.firmware.handle_frame(_frame(Start(), 50, FrameFlag.RETRANSMIT), 1.0)
    assert again == first
    assert host.firmware.state is MotorState.IDLE  # not started a second time
    assert host.monitor.violations == []


def test_retransmitted_heartbeat_does_not_feed_the_watchdog(host: FirmwareHarness) -> None:
    _running(host)
    host.send(Heartbeat(0), seq=200)
    host.run(0.4)
    host.send(Heartbeat(0), seq=200, flags=FrameFlag.RETRANSMIT)  # answered, not acted on
    host.run(0.2)
    assert host.firmware.state is MotorState.FAULTED
    assert host.monitor.violations == []


def test_window_holds_the_last_128_requests(host: FirmwareHarness) -> None:
    first = host.request(TimeSync(7), seq=5000)
    for _ in range(127):
        host.send(Heartbeat(0))
    host.clock.advance(1.0)
    assert host.request(TimeSync(7), seq=5000, flags=FrameFlag.RETRANSMIT) == first  # stored
    host.send(Heartbeat(0))  # the 128th newer request evicts it
    assert host.request(TimeSync(7), seq=5000, flags=FrameFlag.RETRANSMIT) == TimeSyncReply(
        7, 1_000_000
    )


def test_window_keys_on_type_and_payload_not_just_seq(host: FirmwareHarness) -> None:
    host.ack(SetOutput(35.0), seq=40)
    assert host.ack(Start(), seq=40) == Ack(MsgType.START)  # a different request: acted on
    assert host.firmware.state is MotorState.RUNNING
    host.run(0.2)
    assert host.ack(Stop(), seq=40) == Ack(MsgType.STOP)
    assert host.firmware.state is MotorState.STOPPING  # type: ignore[comparison-overlap]
    assert host.monitor.violations == []


def _first_session(host: FirmwareHarness) -> None:
    """A short session that starts the motor: HELLO, SET_OUTPUT, START, heartbeats (seq 1..5)."""
    assert host.hello(watchdog_ms=1000, telemetry_hz=20).watchdog_ms == 1000
    _running(host)
    host.run(0.1, heartbeat_s=0.05)
    assert host.seq == 5
    assert host.firmware.state is MotorState.RUNNING


def test_a_new_host_reusing_the_numbers_gets_fresh_answers_and_can_stop() -> None:
    host = FirmwareHarness()
    _first_session(host)
    host.seq = 0  # a new host process numbers its requests from 1 again
    caps = host.hello(watchdog_ms=5000, telemetry_hz=5)
    assert (caps.watchdog_ms, caps.telemetry_hz) == (5000, 5)
    assert host.firmware.watchdog.timeout_ms == 5000
    assert host.firmware.state is MotorState.FAULTED  # the HELLO stopped the first host's run
    assert host.ack(Stop(StopReason.USER)) == Ack(MsgType.STOP)  # seq 2, like the old SET_OUTPUT
    assert host.physics.motor.target_freq_hz == 0.0
    assert host.monitor.violations == []


def test_hello_clears_the_window_even_for_byte_identical_requests() -> None:
    host = FirmwareHarness()
    _first_session(host)
    host.ack(Stop())  # seq 6
    host.run(1.0)
    assert host.firmware.state is MotorState.IDLE
    host.seq = 0
    host.hello(watchdog_ms=1000, telemetry_hz=20)  # the same bytes as the first HELLO
    _running(host)  # the same SET_OUTPUT (seq 2) and START (seq 3) as the first session
    assert host.firmware.state is MotorState.RUNNING  # type: ignore[comparison-overlap]  # acted on, and not stale behind STOP 6
    assert host.physics.motor.target_freq_hz == 35.0
    assert host.monitor.violations == []


def test_a_retransmitted_hello_is_handled_again_with_the_same_answer() -> None:
    host = FirmwareHarness()
    first = host.send(Hello(1, 500, 20), seq=1)
    host.request(TimeSync(7), seq=2)
    host.clock.advance(1.0)
    again = host.send(Hello(1, 500, 20), seq=1, flags=FrameFlag.RETRANSMIT)
    assert [r.frame for r in again] == [r.frame for r in first]
    assert host.request(TimeSync(7), seq=2) == TimeSyncReply(7, 1_000_000)  # window cleared


@pytest.mark.parametrize("before", ["never-started", "stopping", "watchdog-fault"])
def test_hello_while_idle_resets_the_output_to_off(host: FirmwareHarness, before: str) -> None:
    _running(host, 35.0, force_target_n=20.0, force_cap_n=60.0)
    if before == "never-started":
        host.ack(Stop())
        host.run(1.0)
    elif before == "stopping":
        host.ack(Stop())
    else:
        host.run(1.0)
    host.hello(watchdog_ms=500)
    assert host.firmware.output == SetOutput(0.0)
    # the new host's START inherits nothing: there is no rate to run at
    assert host.ack(Start()).result is ResultCode.BAD_STATE
    host.run(1.0, heartbeat_s=0.1)
    assert host.physics.motor.target_freq_hz == 0.0
    assert host.physics.motor.freq_hz == 0.0


# --- a late START never undoes a STOP -----------------------------------------------------------


def test_a_start_older_than_an_applied_stop_is_ok_and_does_not_run(host: FirmwareHarness) -> None:
    host.ack(SetOutput(35.0), seq=2)
    # START seq 3 is delayed on the wire; the user's STOP seq 4 is handled first.
    assert host.ack(Stop(StopReason.USER), seq=4).result is ResultCode.OK
    late = host.ack(Start(), seq=3, flags=FrameFlag.RETRANSMIT)
    assert late == Ack(MsgType.START, ResultCode.OK)
    assert host.firmware.state is MotorState.IDLE
    host.run(1.0)
    assert host.physics.motor.freq_hz == 0.0
    assert host.faults() == []  # never ran, so no watchdog either
    assert host.ack(Start(), seq=5).result is ResultCode.OK  # a newer START does run it
    assert host.firmware.state is MotorState.RUNNING  # type: ignore[comparison-overlap]


def test_a_stop_older_than_an_applied_start_still_stops(host: FirmwareHarness) -> None:
    host.ack(SetOutput(35.0), seq=2)
    host.ack(Start(), seq=4)
    host.run(0.2)
    assert host.firmware.state is MotorState.RUNNING
    assert host.ack(Stop(), seq=3) == Ack(MsgType.STOP)
    assert host.firmware.state is MotorState.STOPPING  # type: ignore[comparison-overlap]
    assert host.physics.motor.target_freq_hz == 0.0


def test_a_late_stop_keeps_the_newest_stop_as_the_order(host: FirmwareHarness) -> None:
    host.ack(SetOutput(35.0), seq=2)
    host.ack(Stop(), seq=10)
    host.ack(Stop(), seq=8)  # late, applied, but STOP 10 stays the newest
    host.ack(Start(), seq=9)  # sent before STOP 10
    assert host.firmware.state is MotorState.IDLE


@pytest.mark.parametrize(("behind", "runs"), [(1, False), (1024, False), (1025, True)])
def test_a_start_is_stale_only_within_the_horizon(
    host: FirmwareHarness, behind: int, runs: bool
) -> None:
    host.ack(SetOutput(35.0), seq=3000)
    host.ack(Stop(), seq=5000)
    assert host.ack(Start(), seq=5000 - behind).result is ResultCode.OK
    assert (host.firmware.state is MotorState.RUNNING) is runs


# --- newest setpoint wins ---------------------------------------------------------------------


def test_older_setpoint_arriving_late_is_ok_and_dropped(host: FirmwareHarness) -> None:
    _running(host, 30.0)
    assert host.ack(SetOutput(35.0), seq=10).result is ResultCode.OK
    assert host.ack(SetOutput(31.0), seq=9).result is ResultCode.OK
    assert host.firmware.output.freq_hz == 35.0
    assert host.physics.motor.target_freq_hz == 35.0


def test_setpoint_order_survives_seq_wrap(host: FirmwareHarness) -> None:
    host.ack(SetOutput(30.0), seq=65535)
    host.ack(SetOutput(33.0), seq=2)
    assert host.firmware.output.freq_hz == 33.0
    host.ack(SetOutput(36.0), seq=65534)
    assert host.firmware.output.freq_hz == 33.0


def test_hello_restarts_setpoint_order(host: FirmwareHarness) -> None:
    host.ack(SetOutput(35.0), seq=900)
    host.hello()
    host.ack(SetOutput(31.0), seq=1)
    assert host.firmware.output.freq_hz == 31.0


@pytest.mark.parametrize(
    ("behind", "applied"),
    [(1, False), (500, False), (1024, False), (1025, True), (2000, True), (32_770, True)],
)
def test_a_setpoint_is_stale_only_within_the_horizon(
    host: FirmwareHarness, behind: int, applied: bool
) -> None:
    host.ack(SetOutput(35.0), seq=5000)
    assert host.ack(SetOutput(31.0), seq=(5000 - behind) % 65536).result is ResultCode.OK
    assert host.firmware.output.freq_hz == (31.0 if applied else 35.0)


@pytest.mark.parametrize("others", [2000, 33_000])
def test_newest_setpoint_wins_after_many_other_requests(host: FirmwareHarness, others: int) -> None:
    host.ack(SetOutput(35.0))
    for _ in range(others):
        host.send(Heartbeat(0))
    assert host.ack(SetOutput(31.0)).result is ResultCode.OK
    assert host.firmware.output.freq_hz == 31.0
    assert host.ack(SetOutput(33.0), seq=(host.seq - 500) % 65536).result is ResultCode.OK
    assert host.firmware.output.freq_hz == 31.0  # 500 behind: stale, dropped


# --- watchdog ---------------------------------------------------------------------------------


def test_watchdog_expiry_stops_the_motor_until_a_new_start(host: FirmwareHarness) -> None:
    _running(host)
    host.run(1.0, heartbeat_s=0.125)
    assert host.firmware.state is MotorState.RUNNING
    host.run(1.0)  # the host goes silent at t = 1.0
    (fault,) = host.faults()
    assert (fault.code, fault.active, fault.device_time_ms) == (FaultCode.WATCHDOG, True, 1500)
    assert host.firmware.state is MotorState.FAULTED  # type: ignore[comparison-overlap]
    assert host.physics.motor.freq_hz == 0.0
    host.run(1.0, heartbeat_s=0.1)  # heartbeats alone do not restart it
    assert host.physics.motor.freq_hz == 0.0
    assert host.ack(Start()).result is ResultCode.BAD_STATE  # not back to the old 35 Hz
    _running(host)
    assert [(f.code, f.active) for f in host.faults()][-1] == (FaultCode.WATCHDOG, False)
    host.run(0.3, heartbeat_s=0.1)
    assert host.firmware.state is MotorState.RUNNING
    assert host.physics.motor.freq_hz > 0.0
    assert host.monitor.violations == []


def test_watchdog_fires_on_time_even_with_coarse_ticks(host: FirmwareHarness) -> None:
    _running(host)
    host.run(2.0, step_s=0.3)
    assert [f.device_time_ms for f in host.faults()] == [500]
    assert host.monitor.violations == []


def test_other_requests_do_not_feed_the_watchdog(host: FirmwareHarness) -> None:
    _running(host)
    for _ in range(10):
        host.run(0.1)
        host.ack(SetOutput(35.0))
    assert host.firmware.state is MotorState.FAULTED


def test_fault_is_retransmitted_until_acknowledged() -> None:
    host = FirmwareHarness(auto_ack=False)
    host.hello(watchdog_ms=500)
    _running(host)
    host.run(3.0)
    frames = [r for r in host.received if r.frame.msg_type == MsgType.FAULT]
    assert len(frames) == 6  # the original and 5 repeats
    assert {r.frame.seq for r in frames} == {frames[0].frame.seq}
    assert [bool(r.frame.flags & FrameFlag.RETRANSMIT) for r in frames] == [False] + [True] * 5
    assert [round(r.time_s - frames[0].time_s, 3) for r in frames] == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_acknowledged_fault_is_not_repeated() -> None:
    host = FirmwareHarness(auto_ack=False)
    host.hello(watchdog_ms=500)
    _running(host)
    host.run(0.75)
    seq = next(r.frame.seq for r in host.received if r.frame.msg_type == MsgType.FAULT)
    host.ack_device(seq)
    host.run(2.0)
    assert len([r for r in host.received if r.frame.msg_type == MsgType.FAULT]) == 2
    assert host.firmware.unacked == 0


def test_stop_is_always_ok_and_keeps_a_fault(host: FirmwareHarness) -> None:
    assert host.ack(Stop(StopReason.EMERGENCY)).result is ResultCode.OK
    _running(host)
    host.run(1.0)
    assert host.ack(Stop()).result is ResultCode.OK
    assert host.firmware.state is MotorState.FAULTED


def test_start_while_running_changes_nothing(host: FirmwareHarness) -> None:
    _running(host)
    host.run(0.3)
    assert host.ack(Start()).result is ResultCode.OK
    host.run(0.25)  # START did not feed the watchdog: it expires at 0.5 s
    assert host.firmware.state is MotorState.FAULTED


def test_stop_ramps_down_then_idles(host: FirmwareHarness) -> None:
    _running(host)
    host.run(1.0, heartbeat_s=0.1)
    host.ack(Stop())
    assert host.firmware.state is MotorState.STOPPING
    host.run(1.0)
    assert host.firmware.state is MotorState.IDLE  # type: ignore[comparison-overlap]
    assert host.physics.motor.freq_hz == 0.0


# --- force cap --------------------------------------------------------------------------------


def test_force_above_the_cap_for_250_ms_trips_over_force() -> None:
    host = FirmwareHarness(scenario=ContactScenario.STEADY)  # the hand presses 20 N
    host.hello(watchdog_ms=500)
    _running(host, force_target_n=5.0, force_cap_n=10.0)
    host.run(3.0, heartbeat_s=0.1)
    (fault,) = host.faults()
    assert (fault.code, fault.active) == (FaultCode.OVER_FORCE, True)
    over = [
        t.device_time_ms
        for t in host.messages(Telemetry)
        if isinstance(t, Telemetry) and t.force_n > 10.0
    ]
    assert fault.device_time_ms - over[0] >= 250 - 50  # first over-cap sample seen in telemetry
    assert host.firmware.state is MotorState.FAULTED
    assert host.physics.motor.target_freq_hz == 0.0
    assert host.monitor.violations == []
    assert host.ack(Start()).result is ResultCode.BAD_STATE  # the trip dropped the setpoint
    assert host.ack(SetOutput(35.0, 5.0, 0.0, 10.0)).result is ResultCode.OK
    assert host.ack(Start()).result is ResultCode.OK  # START clears it
    last = host.faults()[-1]
    assert (last.code, last.active) == (FaultCode.OVER_FORCE, False)


def test_gun_without_force_sensor_reports_no_force_and_enforces_no_cap() -> None:
    config = FirmwareConfig(features=ALL_FEATURES & ~Feature.FORCE_SENSOR)
    host = FirmwareHarness(config, scenario=ContactScenario.STEADY)
    caps = host.hello(watchdog_ms=500)
    assert not caps.features & Feature.FORCE_SENSOR
    _running(host, force_target_n=5.0, force_cap_n=10.0)
    host.run(2.0, heartbeat_s=0.1)
    assert host.faults() == []
    assert {t.force_n for t in host.messages(Telemetry) if isinstance(t, Telemetry)} == {0.0}
    assert any(t.contact for t in host.messages(Telemetry) if isinstance(t, Telemetry))


# --- the invariant monitor itself -------------------------------------------------------------


def _monitor() -> InvariantMonitor:
    return InvariantMonitor(
        freq_min_hz=29.0,
        freq_max_hz=40.0,
        watchdog_ms=500,
        watchdog_min_ms=100,
        watchdog_max_ms=10_000,
    )


def _driven(monitor: InvariantMonitor, from_s: float, to_s: float) -> None:
    """Samples every 10 ms of a motor driven at 35 Hz."""
    for i in range(round((to_s - from_s) / 0.01)):
        now_s = from_s + (i + 1) * 0.01
        monitor.on_sample(now_s, 0.01, freq_hz=35.0, driven=True, force_n=0.0, force_cap_n=None)


def test_monitor_flags_a_motor_driven_past_the_watchdog_once() -> None:
    monitor = _monitor()
    monitor.on_inbound(_frame(Heartbeat(0), 9), 1.0)
    _driven(monitor, 1.0, 2.0)
    (violation,) = monitor.violations
    assert violation.device_time_s == pytest.approx(1.52)
    assert "after the last heartbeat" in violation.text


def test_monitor_is_fed_only_by_new_feeding_requests_it_sees() -> None:
    monitor = _monitor()
    monitor.on_inbound(_frame(Heartbeat(0), 9), 0.0)
    monitor.on_inbound(_frame(Heartbeat(0), 9, FrameFlag.RETRANSMIT), 0.4)  # a replay
    monitor.on_inbound(_frame(TimeSync(1), 10), 0.4)  # not a heartbeat
    monitor.on_inbound(_frame(ProgramControl(ProgramAction.PAUSE), 11), 0.4)
    monitor.on_inbound(_frame(Heartbeat(0), 12, FrameFlag.RESPONSE), 0.4)  # not a request
    _driven(monitor, 0.0, 0.6)
    assert len(monitor.violations) == 1


@pytest.mark.parametrize(
    "feeding",
    [
        Heartbeat(0),
        Start(),
        ProgramControl(ProgramAction.RUN),
        ProgramControl(ProgramAction.RESUME),
    ],
    ids=["heartbeat", "start", "run", "resume"],
)
def test_monitor_is_fed_by_heartbeat_start_run_and_resume(feeding: Message) -> None:
    monitor = _monitor()
    monitor.on_inbound(_frame(feeding, 9), 0.4)
    _driven(monitor, 0.0, 0.6)
    assert monitor.violations == []


def test_monitor_takes_the_watchdog_grant_from_hello_and_forgets_at_hello() -> None:
    monitor = _monitor()
    monitor.on_inbound(_frame(Hello(1, 60_000, 20), 1), 0.0)
    assert monitor.watchdog_ms == 10_000  # granted by the monitor's own reading of the limits
    monitor.on_inbound(_frame(Hello(1, 1, 20), 1), 0.0)
    assert monitor.watchdog_ms == 100
    monitor.on_inbound(_frame(Hello(1, 0, 20), 1), 0.0)
    assert monitor.watchdog_ms == 500
    monitor.on_inbound(_frame(Heartbeat(0), 2), 0.0)
    monitor.on_inbound(_frame(Hello(1, 0, 20), 1), 0.4)
    monitor.on_inbound(_frame(Heartbeat(0), 2), 0.4)  # a new session: a new heartbeat
    _driven(monitor, 0.0, 0.6)
    assert monitor.violations == []


def test_monitor_allows_the_ramp_down() -> None:
    monitor = _monitor()
    monitor.on_sample(5.0, 0.01, freq_hz=20.0, driven=False, force_n=0.0, force_cap_n=None)
    assert monitor.violations == []


def test_monitor_flags_a_request_acted_on_twice() -> None:
    monitor = _monitor()
    frame = _frame(Start(), 7)
    monitor.on_request(frame, 0.0)
    monitor.on_request(dataclasses.replace(frame, flags=FrameFlag.RETRANSMIT), 0.1)
    assert "seq=7 START acted on twice" in monitor.violations[0].text
    monitor.on_inbound(_frame(Hello(1, 500, 20), 1), 0.2)
    monitor.on_request(frame, 0.3)  # a new session may reuse the number
    monitor.on_request(_frame(Stop(), 7), 0.3)  # same seq, another request
    assert len(monitor.violations) == 1


def test_monitor_flags_frequency_out_of_range_and_force_over_cap() -> None:
    monitor = _monitor()
    monitor.on_output(0.0, 45.0)
    for i in range(40):
        monitor.on_sample(i * 0.01, 0.01, freq_hz=35.0, driven=True, force_n=50.0, force_cap_n=40)
    texts = [v.text for v in monitor.violations]
    assert "45 Hz, outside 29..40 Hz" in texts[0]
    assert "above the 40 N cap" in texts[1]


class _FedByReplays(Firmware):
    """Deliberately broken firmware: a heartbeat answered from the window still feeds it."""

    def handle_frame(self, frame: Frame, now_s: float) -> list[bytes]:
        if frame.msg_type == MsgType.HEARTBEAT and self.hello_done:
            self._feed(now_s)  # its own feed path: the monitor must not take its word for it
        return super().handle_frame(frame, now_s)


def test_monitor_flags_a_firmware_fed_by_a_replayed_heartbeat() -> None:
    host = FirmwareHarness(firmware_class=_FedByReplays)
    host.hello(watchdog_ms=500)
    _running(host)
    host.send(Heartbeat(0), seq=200)
    for _ in range(10):
        host.run(0.1)
        host.send(Heartbeat(0), seq=200, flags=FrameFlag.RETRANSMIT)
    assert host.firmware.state is MotorState.RUNNING  # the bug: replays keep it fed
    (violation,) = host.monitor.violations
    assert "after the last heartbeat" in violation.text
    assert violation.device_time_s == pytest.approx(0.52)  # 500 ms + one 10 ms tick


def test_capabilities_round_trip_through_the_frame(host: FirmwareHarness) -> None:
    response = host.request(Hello(1, 0, 0))
    assert isinstance(response, Capabilities)
    assert response.watchdog_ms == 1000


def _frame(message: Message, seq: int, flags: int = 0) -> Frame:
    return decode_frame(encode_message(message, seq, flags))


def test_watchdog_keeps_real_time_under_a_time_scale() -> None:
    """At 8x, a host heartbeating every 250 real ms (2 device s) keeps a 1000 ms watchdog fed."""
    host = FirmwareHarness(FirmwareConfig(time_scale=8.0))
    host.hello(watchdog_ms=1000)
    _running(host)
    host.run(20.0, heartbeat_s=2.0)
    assert host.firmware.state is MotorState.RUNNING
    host.run(10.0)  # silent: 1000 real ms = 8 device s later the motor stops
    (fault,) = host.faults()
    assert fault.code is FaultCode.WATCHDOG
    assert fault.device_time_ms == 28_000
    assert host.monitor.violations == []
