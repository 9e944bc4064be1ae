"""The golden vectors in docs/ decode to their documented meaning and encode back byte for byte."""

import enum
import json
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest

from tpdevice.protocol import (
    FrameFlag,
    MsgType,
    ProgramStep,
    StreamDecoder,
    crc16,
    decode_frame,
    decode_message,
    encode_message,
    program_hash,
    slip_encode,
)
from tpdevice_sim.testing import FirmwareHarness

VECTORS = json.loads((Path(__file__).parents[1] / "docs" / "protocol-vectors.json").read_text())
FRAMES = {v["name"]: v for v in VECTORS["frames"]}


def _plain(value: Any) -> Any:
    return value.name.lower() if isinstance(value, enum.Enum) else value


def test_crc_check_value() -> None:
    crc = VECTORS["crc"]
    assert crc16(crc["check_input_ascii"].encode()) == int(crc["check_value_hex"], 16) == 0x29B1


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: v["name"])
def test_vector_decodes_to_its_meaning(vector: dict[str, Any]) -> None:
    frame = decode_frame(bytes.fromhex(vector["frame_hex"]))
    message = decode_message(frame)
    assert (MsgType(frame.msg_type).name, frame.seq, frame.flags) == (
        vector["type"],
        vector["seq"],
        vector["flags"],
    )
    assert is_dataclass(message)
    assert {f.name: _plain(getattr(message, f.name)) for f in fields(message)} == vector["fields"]
    assert encode_message(message, frame.seq, frame.flags).hex(" ") == vector["frame_hex"]


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: v["name"])
def test_vector_stream_form(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["frame_hex"])
    assert slip_encode(raw).hex(" ") == vector["stream_hex"]
    frames = StreamDecoder().feed(bytes.fromhex(vector["stream_hex"]))
    assert [decode_frame(raw)] == frames


@pytest.mark.parametrize("vector", VECTORS["rejected"], ids=lambda v: v["name"])
def test_rejected_vectors_are_counted_by_kind(vector: dict[str, Any]) -> None:
    decoder = StreamDecoder()
    assert decoder.feed(bytes.fromhex(vector["stream_hex"])) == []
    assert decoder.stats.as_dict()[vector["rejected"]] == 1
    assert decoder.stats.rejected == 1


def test_program_hash_vector() -> None:
    names = VECTORS["program_hash"]["steps"]
    steps = [decode_message(decode_frame(bytes.fromhex(FRAMES[n]["frame_hex"]))) for n in names]
    program = [s for s in steps if isinstance(s, ProgramStep)]
    assert program == steps
    assert f"{program_hash(program):08x}" == VECTORS["program_hash"]["crc32_hex"]


@pytest.mark.parametrize("exchange", VECTORS["exchanges"], ids=lambda v: v["name"])
def test_exchange_vectors_hold_on_the_reference_firmware(exchange: dict[str, Any]) -> None:
    """Each rule exchange, step by step: the response, the fault raised and the motor state."""
    host = FirmwareHarness()
    for step in exchange["steps"]:
        if step.get("connect"):
            host.connect()
        if "silent_s" in step:
            host.run(step["silent_s"])
        if "send" in step:
            out = host.send_raw(bytes.fromhex(step["send"]))
            responses = [r.frame for r in out if r.frame.flags & FrameFlag.RESPONSE]
            if "expect" in step:
                assert [decode_frame(bytes.fromhex(step["expect"]))] == responses, step
        if "fault" in step:
            fault = host.faults()[-1]
            assert (fault.code.name.lower(), fault.active) == (step["fault"], True), step
        if "state" in step:
            assert host.firmware.state.name.lower() == step["state"], step
    assert host.monitor.violations == []
