"""Theragun Gen 4 frames, byte for byte, against the layout of the public buttplug.io notes."""

from __future__ import annotations

import math

import pytest

from tpdevice.drivers.theragun.codec import (
    COMMON,
    ELITE,
    PRIME,
    PRO,
    RPM_LIMIT,
    STATUS_REQUEST,
    VERSION_REQUEST,
    SpeedCommand,
    StatusInfo,
    TheragunError,
    TheragunModel,
    UnknownNotification,
    VersionInfo,
    checksum,
    encode_speed,
    find_model,
    is_theragun_name,
    model_for_name,
    model_for_names,
    parse_notification,
    rpm_for_freq,
)

# Checksums worked out by hand: cs = (0x01 + 0x03 + rpmHi + rpmLo + 0x03) & 0xFF.
SPEED_VECTORS = [
    (2400, "aa 70 01 03 09 60 03"),  # 0x0960: 1+3+0x09+0x60+3 = 0x70
    (1750, "aa e3 01 03 06 d6 03"),  # 0x06D6: 1+3+0x06+0xD6+3 = 0xE3
    (0, "aa 07 01 03 00 00 03"),  # stop: 1+3+0+0+3 = 0x07
    (RPM_LIMIT, "aa 35 01 03 0e 20 03"),  # 0x0E20: 1+3+0x0E+0x20+3 = 0x35
    (3327, "aa 12 01 03 0c ff 03"),  # 0x0CFF: 1+3+0x0C+0xFF+3 = 0x112, low byte 0x12
    (256, "aa 08 01 03 01 00 03"),  # 0x0100: 1+3+1+0+3 = 0x08
]


def notification(*positions: tuple[int, int], kind: int, size: int = 20) -> bytes:
    """A gun notification of `kind` with bytes set at positions; the checksum left at 0."""
    frame = bytearray(size)
    frame[0], frame[2] = 0xBB, kind
    for index, value in positions:
        frame[index] = value
    return bytes(frame)


@pytest.mark.parametrize(("rpm", "hex_frame"), SPEED_VECTORS)
def test_speed_frame_matches_the_documented_layout(rpm: int, hex_frame: str) -> None:
    assert encode_speed(rpm) == bytes.fromhex(hex_frame)
    assert SpeedCommand(rpm).encode() == bytes.fromhex(hex_frame)


def test_the_brief_example_checksum_is_0x70_not_0x6d() -> None:
    frame = encode_speed(2400)
    assert frame[1] == (0x01 + 0x03 + 0x09 + 0x60 + 0x03) & 0xFF == 0x70


def test_requests_are_the_documented_bytes() -> None:
    assert bytes.fromhex("aa 20 20 00") == VERSION_REQUEST
    assert bytes.fromhex("aa 10 10 00") == STATUS_REQUEST
    assert checksum(VERSION_REQUEST[2:]) == VERSION_REQUEST[1]


@pytest.mark.parametrize("rpm", [-1, RPM_LIMIT + 1, 0x10000])
def test_speed_out_of_range_is_refused(rpm: int) -> None:
    with pytest.raises(TheragunError, match=f"rpm={rpm} is outside 0..{RPM_LIMIT}"):
        encode_speed(rpm)


@pytest.mark.parametrize("rpm", [2400.0, True, "2400"])
def test_speed_must_be_an_int(rpm: object) -> None:
    with pytest.raises(TheragunError, match="must be an int"):
        SpeedCommand(rpm)  # type: ignore[arg-type]


def test_version_answer_decodes_bytes_12_and_13() -> None:
    # BB cs 20 ... 01 04 at 12..13: cs = 0x20 + 0x01 + 0x04 = 0x25.
    data = bytearray(notification((12, 0x01), (13, 0x04), kind=0x20))
    data[1] = 0x25
    assert parse_notification(bytes(data)) == VersionInfo(0x0104)
    assert VersionInfo(0x0104).text == "0x0104"


def test_version_answer_of_exactly_14_bytes() -> None:
    data = bytearray(notification((12, 0xAB), (13, 0xCD), kind=0x20, size=14))
    data[1] = (0x20 + 0xAB + 0xCD) & 0xFF  # 0x198 -> 0x98
    assert data[1] == 0x98
    assert parse_notification(bytes(data)) == VersionInfo(0xABCD)


def test_status_answer_decodes_running_and_rpm() -> None:
    # running flag in byte 4, rpm 0x0960 in 13..14: cs = 0x10 + 0x01 + 0x09 + 0x60 = 0x7A.
    data = bytearray(notification((4, 0x01), (13, 0x09), (14, 0x60), kind=0x10))
    data[1] = 0x7A
    assert parse_notification(bytes(data)) == StatusInfo(running=True, rpm=2400)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not a notification frame"),
        (bytes.fromhex("bb 20"), "not a notification frame"),
        (bytes.fromhex("aa 20 20 00"), "not a notification frame"),  # a host frame echoed
        (bytes.fromhex("bb 21 20 00"), "bad checksum"),
        (bytes.fromhex("bb 20 20 00"), "too short for kind 0x20"),
        (bytes.fromhex("bb 10 10 00 00"), "too short for kind 0x10"),
        (bytes.fromhex("bb 33 33"), "unknown kind 0x33"),
    ],
)
def test_undecodable_notifications_say_why(data: bytes, reason: str) -> None:
    assert parse_notification(data) == UnknownNotification(data, reason)


def test_a_flipped_bit_fails_the_checksum() -> None:
    good = bytearray(notification((12, 0x01), (13, 0x04), kind=0x20))
    good[1] = 0x25
    good[13] ^= 0x01
    parsed = parse_notification(bytes(good))
    assert isinstance(parsed, UnknownNotification)
    assert parsed.reason == "bad checksum"


@pytest.mark.parametrize(
    ("freq_hz", "model", "rpm"),
    [
        (40.0, PRO, 2400),
        (35.0, PRO, 2100),
        (29.2, ELITE, 1752),
        (1750 / 60, PRIME, 1750),
        (45.0, PRO, 2400),  # clamped down
        (20.0, PRO, 1750),  # clamped up
        (0.0, PRO, 0),  # off stays off
        (70.0, COMMON, 2400),  # an unknown model never runs above what every model runs
        (0.5, COMMON, 1750),
    ],
)
def test_rpm_for_freq_is_hz_times_60_clamped(
    freq_hz: float, model: TheragunModel, rpm: int
) -> None:
    assert rpm_for_freq(freq_hz, model) == rpm


@pytest.mark.parametrize("freq_hz", [-1.0, math.nan, math.inf])
def test_rpm_for_freq_refuses_nonsense(freq_hz: float) -> None:
    with pytest.raises(TheragunError, match="must be a number >= 0"):
        rpm_for_freq(freq_hz, PRO)


def test_model_ranges_and_frequencies() -> None:
    assert (PRO.rpm_min, PRO.rpm_max) == (1750, 2400)
    assert PRO.freq_max_hz == 40.0
    assert 29.16 < PRO.freq_min_hz < 29.17
    # Unknown, a gun gets the range every Gen 4 model shares, never 0..RPM_LIMIT.
    assert (COMMON.rpm_min, COMMON.rpm_max) == (1750, 2400)


@pytest.mark.parametrize(("low", "high"), [(2400, 1750), (-1, 100), (0, RPM_LIMIT + 1)])
def test_impossible_models_are_refused(low: int, high: int) -> None:
    with pytest.raises(TheragunError, match="need 0 <= rpm_min <= rpm_max"):
        TheragunModel("Odd", low, high)


@pytest.mark.parametrize(
    ("name", "model", "is_theragun"),
    [
        ("Pro", PRO, True),
        ("ELITE", ELITE, True),
        ("Theragun Prime", PRIME, True),
        ("Theragun", COMMON, True),
        ("AirPods Pro", COMMON, False),
        ("tpdevice-SIM-0000", COMMON, False),
        ("", COMMON, False),
        (None, COMMON, False),
    ],
)
def test_names(name: str | None, model: TheragunModel, is_theragun: bool) -> None:
    assert model_for_name(name) == model
    assert is_theragun_name(name) is is_theragun
    assert (find_model(name) is not None) is (model is not COMMON)


def test_the_first_name_that_names_a_model_wins() -> None:
    assert model_for_names(["TG4-0042", "Theragun Elite", "Prime"]) == ELITE
    assert model_for_names(["TG4-0042", "Massager"]) == COMMON
    assert model_for_names([]) == COMMON
