"""The simulator's one-pack TELEMETRY and ACK encoders give encode_message's bytes exactly."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tpdevice.protocol import (
    Ack,
    FrameFlag,
    MessageError,
    MotorState,
    ResultCode,
    Telemetry,
    TimeSyncReply,
    decode_frame,
    decode_message,
    encode_message,
)
from tpdevice_sim.telemetry import encode_response, encode_telemetry

# Values around and past each field's wire range, so both the bytes and the refusals compare.
FLOATS = st.floats(min_value=-10.0, max_value=7000.0) | st.sampled_from(
    [0.0, 0.004, 0.005, 0.015, 655.35, 655.354, 655.36, 6553.5, math.nan, math.inf, -0.004]
)
TEMPS = st.floats(min_value=-3300.0, max_value=3300.0) | st.sampled_from(
    [-3276.8, -3276.85, 3276.7, 3276.75, -0.04, math.nan, -math.inf]
)
INTS = st.integers(min_value=-2, max_value=0x1_0000_0001)


def _outcome(encode: object, telemetry: Telemetry, seq: int, flags: int) -> bytes | str:
    assert callable(encode)
    try:
        result = encode(telemetry, seq, flags)
    except MessageError as err:
        return f"error: {err}"
    assert isinstance(result, bytes)
    return result


@settings(max_examples=400, deadline=None)
@given(
    time_ms=INTS,
    freq_hz=FLOATS,
    force_n=FLOATS,
    contact=st.booleans(),
    battery=st.integers(min_value=-1, max_value=256),
    temp_c=TEMPS,
    state=st.sampled_from(list(MotorState)),
    step=st.integers(min_value=-1, max_value=0x1_0000),
    seq=st.integers(min_value=0, max_value=0x1_FFFF),
)
def test_fast_telemetry_matches_encode_message(
    time_ms: int,
    freq_hz: float,
    force_n: float,
    contact: bool,
    battery: int,
    temp_c: float,
    state: MotorState,
    step: int,
    seq: int,
) -> None:
    telemetry = Telemetry(time_ms, freq_hz, force_n, contact, battery, temp_c, state, step)
    flags = FrameFlag.FROM_DEVICE
    expected = _outcome(encode_message, telemetry, seq, flags)
    assert _outcome(encode_telemetry, telemetry, seq, flags) == expected


def test_fast_telemetry_round_trips() -> None:
    telemetry = Telemetry(123_456, 41.25, 63.4, True, 87, 31.5, MotorState.RUNNING, 3)
    frame = decode_frame(encode_telemetry(telemetry, 7))
    assert (frame.seq, frame.flags) == (7, FrameFlag.FROM_DEVICE)
    assert decode_message(frame) == telemetry


@pytest.mark.parametrize("freq_hz", [-1.0, 700.0, math.nan])
def test_fast_telemetry_refuses_what_does_not_fit(freq_hz: float) -> None:
    telemetry = Telemetry(0, freq_hz, 0.0, False, 50, 20.0, MotorState.IDLE)
    with pytest.raises(MessageError, match="freq_hz"):
        encode_telemetry(telemetry, 1)


@settings(max_examples=200, deadline=None)
@given(
    request_type=st.integers(min_value=0, max_value=255),
    result=st.sampled_from(list(ResultCode)),
    seq=st.integers(min_value=0, max_value=0xFFFF),
)
def test_ack_response_matches_the_generic_encoder(
    request_type: int, result: ResultCode, seq: int
) -> None:
    ack = Ack(request_type, result)
    assert encode_response(ack, seq) == encode_message(ack, seq, FrameFlag.RESPONSE)


def test_other_responses_use_the_generic_encoder() -> None:
    reply = TimeSyncReply(123, 456)
    assert encode_response(reply, 9) == encode_message(reply, 9, FrameFlag.RESPONSE)
