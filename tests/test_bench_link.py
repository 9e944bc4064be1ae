"""`tpdevice bench link` ends with a complete JSON line; speed is reported, not asserted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from cli_helpers import run_bench, run_main

from tpdevice.cli.bench_link import LinkTarget, resolve_target

REQUIRED = {
    "bench", "transport", "n", "loop", "p50_ms", "p99_ms", "max_ms", "floor_p50_ms",
    "floor_p99_ms", "ratio_p50", "frames_per_s",
}  # fmt: skip
SERIAL_ONLY = {"wire_115200_ms", "ratio_wire", "target_p50_ms", "target_ratio"}


def bench(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict[str, Any], str]:
    """Run `bench link ARGV` in process; the final JSON object and stderr."""
    return run_bench(capsys, "link", *argv)


def check(result: dict[str, Any], transport: str, n: int) -> None:
    """The keys every link bench reports, with sane values."""
    assert set(result) >= REQUIRED
    assert (result["bench"], result["transport"], result["n"]) == ("link", transport, n)
    if transport == "serial":  # the DESIGN targets are set for a pty
        assert (result["target_p50_ms"], result["target_ratio"]) == (0.5, 5)
        met = result["p50_ms"] <= 0.5 and result["ratio_p50"] <= 5
        assert result["goal_met"] is met
    else:
        assert result["goal_met"] is None
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert 0 < result["floor_p50_ms"] <= result["floor_p99_ms"]
    assert result["frames_per_s"] > 0


def test_sim_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    result, err = bench(capsys, "--device", "sim", "--n", "50")
    check(result, "loopback", 50)
    assert not set(result) & SERIAL_ONLY
    assert "raw echo floor" in err
    assert "not judged on this run" in err and "targets are set" not in err


def test_sim_on_plain_asyncio(capsys: pytest.CaptureFixture[str]) -> None:
    result, _ = bench(capsys, "--device", "sim", "--n", "50", "--loop", "asyncio")
    check(result, "loopback", 50)
    assert result["loop"] == "asyncio"


def test_serial_starts_its_own_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    result, err = bench(capsys, "--device", "serial", "--n", "50")
    check(result, "serial", 50)
    assert result["device"].startswith("serial:///dev/pts/")
    assert result["wire_115200_ms"] == pytest.approx(
        (result["request_bytes"] + result["ack_bytes"]) * 10 / 115.2, abs=1e-3
    )
    assert result["ratio_wire"] > 0
    assert "wire time" in err
    verdict = "met" if result["goal_met"] else "missed"
    text = " ".join(err.split())
    assert "goal: half the answers within 0.5 ms and within 5x the raw echo" in text
    assert f"a pseudo-terminal link (--device serial): {verdict} (a report: the bench" in text


def test_tcp_starts_its_own_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    result, _ = bench(capsys, "--device", "tcp", "--n", "50")
    check(result, "tcp", 50)
    assert not set(result) & SERIAL_ONLY


def test_targets() -> None:
    assert resolve_target("sim").kind == "loopback"
    assert resolve_target("serial").address is None
    external = resolve_target("tcp://10.0.0.2:7000")
    assert (external.kind, external.address) == ("tcp", "tcp://10.0.0.2:7000")
    ble = resolve_target("ble://AA:BB:CC:DD:EE:FF?hci=usb:0")
    assert (ble.kind, ble.address) == ("ble", "ble://AA:BB:CC:DD:EE:FF?hci=usb:0")
    assert resolve_target("ble") == LinkTarget("ble", None, "ble")  # starts a BLE simulator


def test_unreachable_device_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    device = "serial:///dev/tpdevice-no-such-tty"
    code, _, err = run_main(capsys, "bench", "link", "--device", device, "--n", "10")
    assert code == 1
    assert err.count("\n") == 1
    assert "no such device" in err


def test_serial_echo_server_echoes_and_stops_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tpdevice_sim.echo", "--transport", "serial"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address.startswith("serial:///dev/pts/")
        fd = os.open(address.removeprefix("serial://"), os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"\xc0hello\xc0")
            assert os.read(fd, 64) == b"\xc0hello\xc0"
        finally:
            os.close(fd)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert err == ""
