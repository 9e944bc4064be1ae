"""`tpdevice sim` as a real process: addresses on stdout, probe-able, clean exit on signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

import pytest
from cli_helpers import sim_process

from tpdevice.cli.app import main

NOISE = ("Traceback", "Task was destroyed", "Exception ignored")


def read_addresses(proc: subprocess.Popen[str], count: int) -> list[str]:
    """The first `count` stdout lines (the sim flushes each at once)."""
    assert proc.stdout is not None
    return [proc.stdout.readline().strip() for _ in range(count)]


def stop(proc: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[int, str]:
    """Send the signal, wait, return exit code and stderr."""
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=10)
    return proc.returncode, err


def probe_json(address: str) -> list[dict[str, Any]]:
    """Run `tpdevice probe ADDR --json --seconds 0.3` as a process; its JSON lines."""
    result = subprocess.run(
        [sys.executable, "-m", "tpdevice", "probe", address, "--json", "--seconds", "0.3"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def check_probe(lines: list[dict[str, Any]], model: str, serial: str) -> None:
    """One capabilities line, then telemetry lines."""
    caps, *samples = lines
    assert caps["type"] == "capabilities"
    assert (caps["model"], caps["serial"]) == (model, serial)
    assert caps["watchdog_ms"] == 1000
    assert "program" in caps["features"]
    assert samples
    assert all(s["type"] == "telemetry" and s["state"] == "idle" for s in samples)


def test_serial_guns_each_on_a_pty() -> None:
    with sim_process("--transport", "serial", "--count", "2") as proc:
        addresses = read_addresses(proc, 2)
        assert all(a.startswith("serial:///dev/pts/") for a in addresses)
        assert len(set(addresses)) == 2
        for i, address in enumerate(addresses):
            check_probe(probe_json(address), "tp-sim-pro", f"SIM-{i:04d}")
        code, err = stop(proc)
    assert code == 0
    assert "2 simulated guns on serial" in err
    assert not any(noise in err for noise in NOISE), err


def test_tcp_gun_honours_options() -> None:
    args = ("--transport", "tcp", "--seed", "7", "--model", "tp-sim-mini")
    with sim_process(*args, "--time-scale", "2", "--faults", "delay_ms=1") as proc:
        (address,) = read_addresses(proc, 1)
        assert address.startswith("tcp://127.0.0.1:")
        check_probe(probe_json(address), "tp-sim-mini", "SIM-0007")
        code, err = stop(proc)
    assert code == 0
    for text in ("model tp-sim-mini", "seed 7", "faults delay_ms=1", "time scale 2x"):
        assert text in err
    assert not any(noise in err for noise in NOISE), err


def test_ctrl_c_exits_cleanly() -> None:
    with sim_process("--transport", "serial") as proc:
        read_addresses(proc, 1)
        code, err = stop(proc, signal.SIGINT)
    assert code == 0
    assert not any(noise in err for noise in NOISE), err


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["--faults", "drop=1.5"], "tpdevice: error: --faults: drop=1.5 is out of range (0..1)"),
        (["--faults", "bogus=1"], "--faults: unknown key 'bogus'"),
        (["--model", "nope"], "--model: unknown gun model 'nope' (known: tp-sim-pro, "),
        (["--transport", "loopback"], "--transport: loopback"),
        (["--transport", "usb"], "--transport: 'usb' is not supported"),
        (["--scenario", "wild"], "--scenario: unknown contact scenario 'wild'"),
        (["--time-scale", "0"], "--time-scale: 0 must be a number > 0"),
        (["--loop", "trio"], "--loop: unknown event loop 'trio'"),
    ],
)
def test_bad_options_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], text: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", *argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert text in err
    assert err.count("\n") == 1
