"""`tpdevice probe` of Theragun guns: synthesized capabilities, status telemetry, 1-line errors."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys

import pytest
from cli_helpers import json_lines, run_main

needs_bumble = pytest.mark.skipif(
    importlib.util.find_spec("bumble") is None
    or importlib.util.find_spec("bleak_retry_connector") is None,
    reason="probing over the virtual radio needs bumble and bleak-retry-connector (ble-sim extra)",
)
UNMEASURED = ("force_n", "contact", "battery_pct", "motor_temp_c")


def test_a_simulated_theragun_shows_what_is_known_and_nulls_what_is_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_main(capsys, "probe", "sim?driver=theragun", "--json", "--seconds", "0.6")
    assert code == 0, err
    caps, *samples = json_lines(out)
    assert caps["type"] == "capabilities"
    assert (caps["driver"], caps["model"], caps["firmware"]) == (
        "theragun",
        "Theragun Pro",
        "0x0104",
    )
    assert (caps["freq_min_hz"], caps["freq_max_hz"]) == (pytest.approx(1750 / 60), 40.0)
    assert (caps["features"], caps["force_max_n"], caps["max_program_steps"]) == ([], 0.0, 0)
    assert samples, "a status answer per heartbeat is the Theragun's telemetry"
    for sample in samples:
        assert (sample["type"], sample["freq_hz"], sample["state"]) == ("telemetry", 0.0, "idle")
        assert all(sample[name] is None for name in UNMEASURED)


def test_a_native_gun_keeps_every_telemetry_field(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "probe", "sim", "--json", "--seconds", "0.25")
    assert code == 0, err
    caps, first, *_ = json_lines(out)
    assert caps["driver"] == "native"
    assert all(isinstance(first[name], int | float) for name in UNMEASURED)


def test_a_spinning_theragun_in_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("probe", "sim?driver=theragun", "--seconds", "0.6", "--spin", "35")
    code, out, err = run_main(capsys, *argv)
    assert code == 0, err
    for text in ("driver", "theragun", "Theragun Pro", "29.2\u201340 Hz", "features", "none"):
        assert text in out
    assert "29.1667" not in out
    force_row = next(line for line in out.splitlines() if "force max" in line)
    assert "not measured" in force_row and "0 N" not in force_row
    rate_row = next(line for line in out.splitlines() if "telemetry rate" in line)
    assert "none streamed" in rate_row and "0 Hz" not in rate_row
    rows = [line.split() for line in out.splitlines() if line.rstrip().endswith("running")]
    assert rows, out
    assert all(row[1:] == ["35.0", "-", "-", "-", "-", "running"] for row in rows)


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (
            ["tcp://127.0.0.1:9?driver=theragun"],
            "tpdevice: error: tcp://127.0.0.1:9?driver=theragun: the theragun driver needs a "
            "ble:// or sim address",
        ),
        (
            ["serial:///dev/ttyUSB0?driver=theragun"],
            "the theragun driver needs a ble:// or sim address",
        ),
    ],
)
def test_what_a_theragun_cannot_reach_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], text: str
) -> None:
    code, out, err = run_main(capsys, "probe", *argv, "--seconds", "0.1")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and text in err


def test_an_unknown_driver_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "probe", "sim?driver=vibrator", "--seconds", "0.1")
    assert (code, out) == (2, "")  # a mistyped address, like a bad option
    text = "sim?driver=vibrator: unknown driver 'vibrator'"
    assert err.count("\n") == 1 and text in err


def test_a_theragun_spin_outside_its_range_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "probe", "sim?driver=theragun", "--spin", "80")
    assert code == 1
    assert "Theragun Pro" in out  # the capabilities came first
    *notes, line = err.splitlines()
    assert notes == ["tpdevice probe: using the built-in simulator (in process)"]
    assert line == (
        "tpdevice: error: sim?driver=theragun: freq_hz=80 is outside the device range "
        "29.1667..40 Hz (or 0 for off)"
    )


# --- over the virtual radio, from another process -----------------------------------------------


async def probe_process(*args: str) -> tuple[int, str, str]:
    """`python -m tpdevice probe ARGS` without an HCI override; exit code, stdout, stderr."""
    env = {k: v for k, v in os.environ.items() if k != "TPDEVICE_BLE_HCI"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpdevice", "probe", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@needs_bumble
@pytest.mark.parametrize(
    ("form", "model"),
    # By MAC, the model comes from the name the gun gives over GATT (the MAC says none).
    [("ble://name=Pro?{hci}", "Theragun Pro"), ("{mac}?driver=theragun&{hci}", "Theragun Pro")],
    ids=["by-name", "by-mac"],
)
async def test_probe_spins_a_theragun_over_ble_and_stops_it(form: str, model: str) -> None:
    from tpdevice_sim.ble.theragun_peripheral import TheragunFleet

    async with TheragunFleet(1, model="Pro") as fleet:
        firmware = fleet.guns[0].firmware
        mac, hci = fleet.addresses[0].split("?driver=theragun&", 1)
        address = form.format(mac=mac, hci=hci)
        code, out, err = await probe_process(address, "--json", "--seconds", "0.6", "--spin", "30")
        assert code == 0, err
        caps, *samples = json_lines(out)
        assert (caps["address"], caps["driver"], caps["model"]) == (address, "theragun", model)
        assert {(s["freq_hz"], s["state"]) for s in samples} == {(30.0, "running")}
        # The probe stopped the motor itself (the keep-alive would take 3 s).
        assert firmware.rpm == 0 and firmware.stats.keepalive_stops == 0
        assert firmware.stats.status_requests >= len(samples)
    assert fleet.violations == []


@needs_bumble
async def test_the_wrong_driver_for_a_gun_is_one_line() -> None:
    from tpdevice_sim.ble.theragun_peripheral import TheragunFleet
    from tpdevice_sim.gun import SimulatorFleet

    async with SimulatorFleet("ble", 1) as natives, TheragunFleet(1) as theraguns:
        native = natives.addresses[0]
        theragun = theraguns.addresses[0].replace("driver=theragun", "driver=native")
        code, out, err = await probe_process(f"{native}&driver=theragun")
        assert (code, out, err.count("\n")) == (1, "", 1)
        assert f"{native}&driver=theragun: no theragun GATT service" in err
        assert "(not a Theragun Gen 4; a tpdevice gun needs driver=native)" in err
        code, out, err = await probe_process(theragun)
        assert (code, out, err.count("\n")) == (1, "", 1)
        assert f"{theragun}: no native GATT service" in err
        assert natives.guns[0].firmware.state.name == "IDLE"
