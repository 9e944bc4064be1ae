"""`tpdevice bench timing`: the JSON line, no early step starts, the profile, bad options."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import pytest
from cli_helpers import run_bench, run_main

from tpdevice.cli.bench_fleet import start_fleet
from tpdevice.cli.bench_timing import (
    TimingSettings,
    _result,
    measure_floor,
    summarize,
    timing_profile,
)
from tpdevice.therapy.clock import RealClock
from tpdevice.therapy.timeline import compile_profile

REQUIRED = {
    "bench", "n", "sessions", "transport", "loop", "p50_ms", "p99_ms", "max_ms", "floor_p50_ms",
    "floor_p99_ms", "ratio_p50", "early_starts", "steps_per_session", "spin_ms", "starts",
}  # fmt: skip


def bench(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict[str, Any], str]:
    """Run `bench timing ARGV` in process; the final JSON object and stderr."""
    return run_bench(capsys, "timing", *argv)


def test_smoke_two_sessions_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    result, err = bench(capsys, "--sessions", "2", "--transport", "sim", "--seconds", "2")
    assert set(result) >= REQUIRED
    assert (result["bench"], result["sessions"], result["transport"]) == ("timing", 2, "sim")
    assert result["steps_per_session"] == 1  # two one-second steps: one transition each
    assert result["n"] == 2
    assert result["early_starts"] == 0
    assert result["starts"] == "spread"
    assert 0 <= result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert 0 <= result["floor_p50_ms"] <= result["floor_p99_ms"]
    assert "step lateness" in err and "timer floor" in err
    assert result["goal_met"] is None  # 2 in-process sessions: not what the goal is set for
    assert "goal: 99 % of steps start within 2 ms after they are due" in err
    assert "not judged on this run" in err
    assert "targets are set" not in err


@pytest.mark.parametrize(("p99_ms", "verdict"), [(3.1, "missed"), (1.2, "met")])
def test_a_goal_says_met_or_missed_and_that_the_bench_is_a_report(
    capsys: pytest.CaptureFixture[str], p99_ms: float, verdict: str
) -> None:
    settings = TimingSettings(50, "serial", "asyncio", 15.0)
    lateness_ms = [0.5] * 98 + [p99_ms, p99_ms]
    result = _result(settings, timing_profile(15.0), (lateness_ms, 0), [0.001] * 10, 0)
    assert result["goal_met"] is (verdict == "met")
    summarize(result)
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "goal: 99 % of steps start within 2 ms after they are due, for 50 or more sessions on "
        f"serial guns: {verdict} (a report: the bench exits 0 whatever the figures"
    ) in err


def test_timing_profile_is_dense_and_wall_timed() -> None:
    profile = timing_profile(15)
    timeline = compile_profile(profile)
    assert len(timeline.steps) == 15
    assert {step.duration_s for step in timeline.steps} == {1.0}
    assert [step.start_s for step in timeline.steps] == [float(i) for i in range(15)]
    assert not any(step.contact_timed for step in timeline.steps)
    assert len({step.freq_hz for step in timeline.steps}) > 2  # transitions change the output
    assert len(timing_profile(500).steps) == 64  # a profile holds at most 64 steps


def test_spread_and_aligned_starts() -> None:
    spread = TimingSettings(4, "sim", "asyncio", 10.0).offsets_s()
    assert spread == [0.0, 0.25, 0.5, 0.75]
    assert TimingSettings(4, "sim", "asyncio", 10.0, aligned=True).offsets_s() == [0.0] * 4


async def test_floor_never_wakes_early() -> None:
    late_s = await measure_floor(RealClock(), [0.0, 0.0, 0.01], steps=3, period_s=0.02)
    assert len(late_s) == 9
    assert min(late_s) >= 0


async def test_a_child_fleet_gives_every_address() -> None:
    async with AsyncExitStack() as stack:
        addresses = await start_fleet("serial", 3, "asyncio", stack)
        assert len(set(addresses)) == 3
        assert all(address.startswith("serial:///dev/pts/") for address in addresses)
        assert await start_fleet("sim", 2, "asyncio", stack) == ["sim", "sim"]


@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        (["--transport", "ble"], 2, "--transport: 'ble' is not one of serial, tcp, sim"),
        (["--seconds", "1"], 2, "--seconds: 1 must lie in 2..64"),
        (["--spin-ms", "-1"], 2, "--spin-ms: -1"),
        (["--sessions", "0"], 2, "Invalid value for '--sessions'"),
        (["--loop", "trio"], 2, "--loop: unknown event loop 'trio'"),
        (["--profile", "no-such-profile", "--transport", "sim"], 1, "unknown profile"),
    ],
)
def test_bad_options_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], code: int, text: str
) -> None:
    exit_code, out, err = run_main(capsys, "bench", "timing", *argv)
    assert (exit_code, out) == (code, "")
    assert err.count("\n") == 1, err
    assert text in err
