"""FrameHelper: SLIP bytes to messages and back, counting what it rejects."""

from __future__ import annotations

import logging

import pytest

from tpdevice.drivers.native.codec import FrameHelper
from tpdevice.protocol import (
    Ack,
    Frame,
    FrameFlag,
    Message,
    MsgType,
    Start,
    encode_frame,
    encode_stream,
    slip_encode,
)


def _helper() -> tuple[FrameHelper, list[bytes], list[tuple[Frame, Message]]]:
    written: list[bytes] = []
    got: list[tuple[Frame, Message]] = []
    helper = FrameHelper("fake://gun", written.append, lambda f, m: got.append((f, m)))
    return helper, written, got


def test_send_writes_one_slip_frame() -> None:
    helper, written, _ = _helper()
    helper.send(Start(), 7, FrameFlag.RETRANSMIT)
    assert written == [encode_stream(Start(), 7, FrameFlag.RETRANSMIT)]
    assert helper.stats.frames_sent == 1


def test_split_chunks_and_garbage_are_handled() -> None:
    helper, _, got = _helper()
    data = b"noise" + encode_stream(Ack(MsgType.START), 3, FrameFlag.RESPONSE)
    for i in range(len(data)):
        helper.data_received(data[i : i + 1])
    assert [(f.seq, m) for f, m in got] == [(3, Ack(MsgType.START))]
    assert helper.bad_frames == 1  # "noise" before the first END
    assert helper.garbage_bytes == 5


def test_malformed_payload_is_counted_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tpdevice")
    helper, _, got = _helper()
    helper.data_received(slip_encode(encode_frame(MsgType.ACK, 1, FrameFlag.RESPONSE, b"\x11")))
    helper.data_received(slip_encode(encode_frame(0x66, 2, 0, b"")))  # unknown type
    helper.data_received(encode_stream(Ack(MsgType.STOP), 4, FrameFlag.RESPONSE))
    assert helper.stats.malformed == 2
    assert helper.stats.unknown_type == 1 and helper.unknown_types == {0x66}
    assert helper.stats.messages == 1
    assert [f.seq for f, _ in got] == [4]
    assert helper.decoder_stats()["frames"] == 3
    assert all(r.levelno <= logging.DEBUG for r in caplog.records)  # per-frame noise: DEBUG
    text = helper.describe_received()
    assert "1 frames of unknown type (0x66)" in text
    assert "1 frames with an undecodable payload" in text and "garbage" not in text


def test_nothing_received_is_described() -> None:
    helper, _, _ = _helper()
    assert helper.describe_received() == "nothing received"
