"""`tpdevice probe`: capabilities and telemetry, or one clear line for a bad device."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import tty
from collections.abc import Iterator
from typing import Any

import pytest
from cli_helpers import run_main

JUNK = b"\x01\x02 garbage \xc0\x00\xffnot a frame\xc0\xdb\x01\xc0"


def run_process(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "tpdevice", *argv],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def test_sim_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "probe", "sim", "--json", "--seconds", "0.25")
    assert code == 0, err
    assert "built-in simulator" in err
    caps, *samples = (json.loads(line) for line in out.splitlines())
    assert caps["type"] == "capabilities"
    assert caps["address"] == "sim"
    assert caps["freq_min_hz"] < caps["freq_max_hz"]
    assert caps["telemetry_hz"] == 20
    assert len(samples) >= 2
    first = samples[0]
    assert first["type"] == "telemetry"
    assert set(first) >= {"device_time_ms", "freq_hz", "force_n", "contact", "battery_pct"}
    assert first["step_index"] is None


def test_sim_table_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("probe", "sim", "--seconds", "0.2", "--watchdog-ms", "500", "--telemetry-hz", "50")
    code, out, _ = run_main(capsys, *argv)
    assert code == 0
    for text in ("capabilities", "tp-sim-pro", "29\u201340 Hz", "500 ms", "50 Hz", "battery %"):
        assert text in out
    assert "telemetry samples in 0.2 s" in out


def test_zero_seconds_prints_only_capabilities(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "probe", "sim", "--json", "--seconds", "0")
    assert code == 0
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["capabilities"]


def test_spin_runs_the_motor_then_stops_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "probe", "sim", "--json", "--seconds", "1.2", "--spin", "33")
    assert code == 0, err
    samples = [json.loads(line) for line in out.splitlines()][1:]
    assert samples[0]["freq_hz"] < 30  # it spins up from rest...
    assert samples[-1]["state"] == "running"
    assert abs(samples[-1]["freq_hz"] - 33) < 1.5  # ...to the requested rate


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["--spin", "80"], "sim: freq_hz=80 is outside the device range 29..40 Hz"),
        (["--spin", "33", "--force", "500"], "force_target_n=500 exceeds the device maximum"),
    ],
)
def test_spin_outside_the_device_range_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], text: str
) -> None:
    code, _, err = run_main(capsys, "probe", "sim", "--seconds", "0.1", *argv)
    assert code == 1
    assert text in err
    assert "Traceback" not in err


def free_port() -> int:
    """A TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("address", "text"),
    [
        ("nosuch://x", "nosuch://x"),
        (
            "serial:///dev/tpdevice-no-such-tty",
            "serial:///dev/tpdevice-no-such-tty: no such device",
        ),
        ("tcp://127.0.0.1:{port}", "connection refused"),
    ],
)
def test_unreachable_is_one_line(
    capsys: pytest.CaptureFixture[str], address: str, text: str
) -> None:
    code, out, err = run_main(capsys, "probe", address.format(port=free_port()))
    assert code != 0
    assert text in err
    assert err.count("\n") == 1
    assert out == ""


@pytest.fixture
def garbage_pty() -> Iterator[str]:
    """A pty that answers everything with junk; yields its serial address."""
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)

    def answer() -> None:
        try:
            while os.read(master_fd, 4096):
                os.write(master_fd, JUNK)
        except OSError:
            return

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield f"serial://{os.ttyname(slave_fd)}"
    os.close(slave_fd)
    os.close(master_fd)
    thread.join(timeout=2)


def test_garbage_answering_pty_is_one_line(garbage_pty: str) -> None:
    result = run_process("probe", garbage_pty)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert f"{garbage_pty}: no valid answer to HELLO" in result.stderr
    assert "garbage" in result.stderr


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts and reads but never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in accepted:
        conn.close()
    thread.join(timeout=2)


def test_silent_tcp_server_is_one_line(silent_server: str) -> None:
    result = run_process("probe", silent_server, "--json")
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"{silent_server}: no valid answer to HELLO (nothing received)" in result.stderr


@pytest.mark.parametrize("spin", [False, True], ids=["watch", "spin"])
async def test_probe_heartbeats_only_a_motor_it_started(
    monkeypatch: pytest.MonkeyPatch, spin: bool
) -> None:
    from tpdevice.cli.probe_cmd import JsonOutput, Spin, probe
    from tpdevice.transport import parse_address
    from tpdevice_sim.firmware import Firmware
    from tpdevice_sim.gun import SimulatorFleet

    beats: list[float] = []
    on_heartbeat = Firmware._on_heartbeat

    def counting(self: Firmware, *args: Any) -> Any:
        beats.append(args[-1])
        return on_heartbeat(self, *args)

    monkeypatch.setattr(Firmware, "_on_heartbeat", counting)
    async with SimulatorFleet("tcp", 1, seed=1) as fleet:
        options = {"watchdog_ms": 200, "telemetry_hz": 20}
        await probe(
            parse_address(fleet.addresses[0]), 0.3, JsonOutput(), options,
            Spin(32.0) if spin else None,
        )  # fmt: skip
    assert bool(beats) is spin  # a read-only probe never feeds another host's watchdog
