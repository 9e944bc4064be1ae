"""Property tests: every message round-trips; no byte sequence breaks or stalls the decoder."""

import contextlib
import enum
from dataclasses import fields, is_dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tpdevice.protocol import (
    MESSAGE_TYPES,
    Frame,
    FrameError,
    Message,
    MessageError,
    ProtocolError,
    SetOutput,
    StreamDecoder,
    decode_frame,
    decode_message,
    encode_message,
    encode_stream,
    seq_newer,
)
from tpdevice.protocol.fields import WireField

MESSAGE_CLASSES = sorted(MESSAGE_TYPES.values(), key=lambda cls: cls.TYPE)
TEXT = st.text(max_size=40).filter(lambda s: len(s.encode()) <= 255)


def _field_values(field: WireField) -> st.SearchStrategy[Any]:
    """Values the field can carry exactly: drawn in wire units, converted to Python units."""
    low, high = field.limits
    if field.scale != 1:
        return st.integers(low, high).map(lambda raw: raw / field.scale)
    if field.kind is bool:
        return st.booleans()
    if field.kind is not int:
        assert issubclass(field.kind, enum.Enum)
        return st.sampled_from(list(field.kind))
    return st.integers(low, high)


def messages_of(cls: type[Message]) -> st.SearchStrategy[Message]:
    """Any valid instance of a message class."""
    values = {f.name: _field_values(f) for f in cls.FIELDS}
    values.update({name: TEXT for name in cls.TEXT_FIELDS})
    return st.builds(cls, **values)


ANY_MESSAGE = st.one_of([messages_of(cls) for cls in MESSAGE_CLASSES])
SEQ = st.integers(0, 0xFFFF)
FLAGS = st.integers(0, 7)


@given(message=ANY_MESSAGE, seq=SEQ, flags=FLAGS)
def test_round_trip_every_message(message: Message, seq: int, flags: int) -> None:
    frame = decode_frame(encode_message(message, seq, flags))
    assert (frame.msg_type, frame.seq, frame.flags) == (message.TYPE, seq, flags)
    assert decode_message(frame) == message


@given(messages=st.lists(ANY_MESSAGE, min_size=1, max_size=8), data=st.data())
def test_stream_split_anywhere_gives_the_same_frames(messages: list[Message], data: Any) -> None:
    stream = b"".join(encode_stream(m, i) for i, m in enumerate(messages))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = StreamDecoder()
    frames: list[Frame] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        frames.extend(decoder.feed(stream[start:end]))
    assert [decode_message(f) for f in frames] == messages
    assert decoder.stats.rejected == 0


@settings(max_examples=300)
@given(garbage=st.binary(max_size=2000), message=ANY_MESSAGE)
def test_garbage_never_raises_nor_stalls(garbage: bytes, message: Message) -> None:
    decoder = StreamDecoder()
    decoder.feed(garbage)
    frames = decoder.feed(encode_stream(message, 42))
    assert frames[-1].seq == 42
    assert decode_message(frames[-1]) == message


@given(raw=st.binary(max_size=600))
def test_decode_frame_raises_only_frame_errors(raw: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_frame(raw)


@given(msg_type=st.integers(0, 255), payload=st.binary(max_size=80))
def test_decode_message_raises_only_protocol_errors(msg_type: int, payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_message(Frame(msg_type, 1, 0, payload))


def test_oversize_run_without_end_is_dropped_and_decoder_recovers() -> None:
    decoder = StreamDecoder()
    assert decoder.feed(b"\x01" * 5000) == []
    assert decoder.feed(b"\x02" * 100) == []
    frames = decoder.feed(encode_stream(SetOutput(30.0), 9))
    assert [f.seq for f in frames] == [9]
    assert decoder.stats.oversize == 1


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (SetOutput(freq_hz=700.0), "SET_OUTPUT: freq_hz=700.0 is out of range (0..655.35)"),
        (SetOutput(freq_hz=-1.0), "SET_OUTPUT: freq_hz=-1.0 is out of range (0..655.35)"),
        (SetOutput(freq_hz=float("nan")), "SET_OUTPUT: freq_hz=nan is not a finite number"),
        (SetOutput(30.0, force_cap_n=7000.0), "force_cap_n=7000.0 is out of range (0..6553.5)"),
    ],
)
def test_encode_refuses_values_that_do_not_fit(message: Message, text: str) -> None:
    with pytest.raises(MessageError, match=text.replace("(", r"\(").replace(")", r"\)")):
        encode_message(message, 1)


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        (Frame(0x10, 1, 0, b"\x01"), "SET_OUTPUT: payload of 1 bytes, 12 needed"),
        (Frame(0x12, 1, 0, b"\x63"), "STOP: reason=99 is not a known StopReason"),
        (Frame(0x66, 1, 0, b""), "unknown message type 0x66"),
        (Frame(0x02, 1, 0, bytes(21) + b"\x05ab"), "CAPABILITIES: model runs past the end"),
    ],
)
def test_decode_errors_name_what_is_wrong(frame: Frame, text: str) -> None:
    with pytest.raises(MessageError, match=text):
        decode_message(frame)


@given(seq=SEQ, step=st.integers(1, 0x7FFF))
def test_seq_newer_is_serial_arithmetic(seq: int, step: int) -> None:
    later = (seq + step) % 0x10000
    assert seq_newer(later, seq)
    assert not seq_newer(seq, later)
    assert not seq_newer(seq, seq)


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.TYPE.name)
def test_dataclass_fields_follow_the_wire_order(cls: type[Message]) -> None:
    wire_order = [f.name for f in cls.FIELDS] + list(cls.TEXT_FIELDS)
    assert is_dataclass(cls)
    assert [f.name for f in fields(cls)] == wire_order
