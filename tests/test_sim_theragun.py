"""The simulated Theragun Gen 4: its own frame parser, keep-alive, monitor; bytes by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tpdevice_sim.record import report_theragun_violations, theragun_record
from tpdevice_sim.theragun import KEEPALIVE_S, NOTIFICATION_SIZE, TheragunFirmware

SPEED_2400 = bytes.fromhex("aa 70 01 03 09 60 03")  # cs = 1+3+0x09+0x60+3 = 0x70
SPEED_2100 = bytes.fromhex("aa 43 01 03 08 34 03")  # 0x0834: 1+3+0x08+0x34+3 = 0x43
SPEED_0 = bytes.fromhex("aa 07 01 03 00 00 03")
SPEED_3000 = bytes.fromhex("aa ca 01 03 0b b8 03")  # 0x0BB8: 1+3+0x0B+0xB8+3 = 0xCA
VERSION_REQUEST = bytes.fromhex("aa 20 20 00")
STATUS_REQUEST = bytes.fromhex("aa 10 10 00")


def test_speed_frame_runs_the_motor_and_zero_stops_it() -> None:
    gun = TheragunFirmware("Pro")
    assert gun.on_write(SPEED_2100, 0.0) == []
    assert (gun.rpm, gun.running) == (2100, True)
    gun.on_write(SPEED_0, 0.5)
    assert (gun.rpm, gun.running) == (0, False)
    assert gun.stats.speed_frames == 2
    assert gun.violations == []


def test_version_request_is_answered_with_bytes_12_and_13() -> None:
    gun = TheragunFirmware("Elite", version=0x0A0B)
    [answer] = gun.on_write(VERSION_REQUEST, 0.0)
    expected = bytearray(NOTIFICATION_SIZE)
    expected[0], expected[1], expected[2] = 0xBB, (0x20 + 0x0A + 0x0B) & 0xFF, 0x20
    expected[12], expected[13] = 0x0A, 0x0B
    assert answer == bytes(expected)
    assert answer[1] == 0x35


def test_status_request_reports_running_and_rpm() -> None:
    gun = TheragunFirmware("Prime")
    gun.on_write(SPEED_2400, 0.0)
    [answer] = gun.on_write(STATUS_REQUEST, 0.1)
    assert (answer[0], answer[2], answer[4], answer[13], answer[14]) == (0xBB, 0x10, 1, 0x09, 0x60)
    assert answer[1] == (0x10 + 0x01 + 0x09 + 0x60) & 0xFF


@pytest.mark.parametrize(
    ("frame", "counter"),
    [
        (bytes.fromhex("aa 71 01 03 09 60 03"), "bad_checksum"),
        (bytes.fromhex("aa 21 20 00"), "bad_checksum"),
        (bytes.fromhex("bb 70 01 03 09 60 03"), "malformed"),
        (bytes.fromhex("aa 20 20"), "malformed"),
        (b"", "malformed"),
        (bytes.fromhex("aa 04 01 03"), "unknown"),  # the short 'other mode' speed frame
        (bytes.fromhex("aa 30 30 00"), "unknown"),
        (bytes.fromhex("aa 6f 01 03 09 60 02"), "unknown"),  # wrong tail byte, checksum right
        (bytes.fromhex("aa 21 20 01"), "unknown"),
    ],
)
def test_bad_frames_are_ignored_and_counted(frame: bytes, counter: str) -> None:
    gun = TheragunFirmware("Pro")
    gun.on_write(SPEED_2100, 0.0)
    assert gun.on_write(frame, 0.1) == []
    assert gun.stats.as_dict()[counter] == 1
    assert gun.rpm == 2100  # nothing changed
    assert gun.stats.writes == 2


def test_keepalive_stops_a_motor_nobody_feeds() -> None:
    gun = TheragunFirmware("Pro")
    gun.on_write(SPEED_2400, 10.0)
    gun.tick(10.0 + KEEPALIVE_S - 0.1)
    assert gun.running
    gun.tick(10.0 + KEEPALIVE_S)
    assert not gun.running
    assert gun.stats.keepalive_stops == 1
    assert gun.violations == []


def test_each_speed_frame_feeds_the_keepalive() -> None:
    gun = TheragunFirmware("Pro")
    for step in range(20):
        now_s = step * 1.0
        gun.on_write(SPEED_2400, now_s)
        gun.tick(now_s + 0.9)
    assert gun.running
    assert gun.stats.keepalive_stops == 0


def test_monitor_catches_a_firmware_without_keepalive() -> None:
    gun = TheragunFirmware("Pro", keepalive_enabled=False)
    gun.on_write(SPEED_2400, 0.0)
    for step in range(1, 9):
        gun.tick(step * 0.5)
    assert gun.running
    [violation] = gun.violations
    assert "after the last speed frame" in violation.text
    # Ticks 0.5 s apart: allowed up to the keep-alive plus one tick (3.5 s), caught at 4.0 s.
    assert violation.device_time_s == pytest.approx(4.0)


def test_out_of_range_speed_runs_clamped_and_is_recorded() -> None:
    gun = TheragunFirmware("Pro")
    gun.on_write(SPEED_3000, 1.0)
    assert gun.rpm == 2400
    [violation] = gun.violations
    assert violation.text == "speed 3000 rpm commanded, outside 1750..2400 rpm"


@pytest.mark.parametrize(("model", "version"), [("Mini", 1), ("Pro", -1), ("Pro", 0x10000)])
def test_bad_configuration_is_refused(model: str, version: int) -> None:
    with pytest.raises(ValueError, match=r"unknown Theragun model|does not fit"):
        TheragunFirmware(model, version=version)


def test_each_violation_is_said_as_it_happens_and_counted_in_the_record() -> None:
    gun = TheragunFirmware("Pro", keepalive_enabled=False)
    peripheral = SimpleNamespace(serial="TG-SIM-0000", firmware=gun, violations=gun.violations)
    said: list[str] = []
    report_theragun_violations([peripheral], said.append)  # type: ignore[list-item]
    gun.on_write(SPEED_2400, 0.0)
    for step in range(1, 9):
        gun.tick(step * 0.5)
    assert len(said) == 1 and said[0].startswith("sim: TG-SIM-0000: invariant violated at ")
    record = theragun_record([peripheral])  # type: ignore[list-item]
    assert str(record) == "sim: 1 gun, 0 faults injected, 0 watchdog trips, 1 violation"
