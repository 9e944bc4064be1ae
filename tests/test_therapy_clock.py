"""Session clocks (real, scaled, virtual) and the device-time map."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

import pytest

from tpdevice.therapy.clock import RealClock, ScaledClock, SessionClock, VirtualClock
from tpdevice.therapy.devicetime import (
    DeviceTimeError,
    DeviceTimeMap,
    TimeSource,
    sync_device_time,
    unwrap_u32_ms,
)

U32 = 1 << 32


class EarlyWaker:
    """A fake monotonic clock whose sleep() wakes after `fraction` of the asked delay."""

    def __init__(self, fraction: float, min_step_s: float = 1e-5) -> None:
        self.now = 100.0
        self.fraction = fraction
        self.min_step_s = min_step_s
        self.asked: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay_s: float) -> None:
        self.asked.append(delay_s)
        self.now += max(delay_s * self.fraction, self.min_step_s)


def _fake_real(waker: EarlyWaker, **kwargs: float) -> RealClock:
    return RealClock(monotonic=waker.monotonic, wall=lambda: 1e9, sleep=waker.sleep, **kwargs)


# --- RealClock / ScaledClock -------------------------------------------------------------


async def test_real_clock_sleeps_again_when_woken_early() -> None:
    waker = EarlyWaker(fraction=0.5)
    clock = _fake_real(waker)
    deadline_s = clock.now_s() + 0.010
    await clock.sleep_until(deadline_s)
    assert clock.now_s() >= deadline_s
    assert len(waker.asked) > 1 and clock.resleeps == len(waker.asked) - 1
    assert waker.asked[0] == pytest.approx(0.010)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.999, 1.0])
async def test_real_clock_never_returns_before_the_deadline(fraction: float) -> None:
    waker = EarlyWaker(fraction)
    clock = _fake_real(waker, spin_s=0.0015)
    deadline_s = clock.now_s()
    for step_s in [0.01, 0.0001, 0.002, 0.0015, 0.05] * 20:
        deadline_s += step_s
        await clock.sleep_until(deadline_s)
        assert clock.now_s() >= deadline_s


async def test_spin_sleeps_coarsely_then_yields() -> None:
    waker = EarlyWaker(fraction=1.0, min_step_s=0.0005)
    clock = _fake_real(waker, spin_s=0.0015)
    await clock.sleep(0.010)
    assert waker.asked[0] == pytest.approx(0.0085)
    assert waker.asked[1:] == [0.0, 0.0, 0.0]  # 1.5 ms spun in 0.5 ms yields


async def test_past_deadline_yields_once_without_sleeping() -> None:
    waker = EarlyWaker(fraction=1.0)
    clock = _fake_real(waker)
    await clock.sleep_until(clock.now_s() - 1.0)
    assert waker.asked == [0.0]


@pytest.mark.parametrize("spin_s", [0.0, 0.0015])
async def test_real_loop_never_wakes_before_the_deadline(spin_s: float) -> None:
    clock = RealClock(spin_s=spin_s)
    deadline_s = clock.now_s()
    for _ in range(100):
        deadline_s += 0.0007
        await clock.sleep_until(deadline_s)
        assert clock.now_s() >= deadline_s


def test_uvloop_never_wakes_before_the_deadline() -> None:
    """uvloop rounds timers to whole ms and wakes up to ~1.4 ms early."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        clock = RealClock()
        deadline_s = clock.now_s()
        for _ in range(100):
            deadline_s += 0.0013
            await clock.sleep_until(deadline_s)
            assert clock.now_s() >= deadline_s

    uvloop.run(main())


async def test_scaled_clock_runs_faster_and_waits_scaled_real_time() -> None:
    waker = EarlyWaker(fraction=1.0)
    clock = ScaledClock(10.0, start_s=0.0, monotonic=waker.monotonic, sleep=waker.sleep)
    waker.now += 0.5
    assert clock.now_s() == pytest.approx(5.0)
    await clock.sleep_until(6.0)
    assert waker.asked[0] == pytest.approx(0.1)
    assert clock.now_s() >= 6.0


async def test_wall_time_moves_with_now() -> None:
    waker = EarlyWaker(fraction=1.0)
    clock = RealClock(monotonic=waker.monotonic, wall=lambda: 1_700_000_000.0)
    waker.now += 2.5
    assert clock.wall_time() == pytest.approx(1_700_000_002.5)
    scaled = ScaledClock(4.0, start_s=0.0, monotonic=waker.monotonic, wall=lambda: 1e9)
    waker.now += 1.0
    assert scaled.wall_time() - 1e9 == pytest.approx(scaled.now_s())


@pytest.mark.parametrize("scale", [0.0, -1.0, math.nan, math.inf])
def test_scaled_clock_rejects_bad_scale(scale: float) -> None:
    with pytest.raises(ValueError, match="time scale"):
        ScaledClock(scale)


@pytest.mark.parametrize("spin_s", [-0.001, math.nan, math.inf])
def test_real_clock_rejects_bad_spin(spin_s: float) -> None:
    with pytest.raises(ValueError, match="spin_s"):
        RealClock(spin_s=spin_s)


@pytest.mark.parametrize("make", [RealClock, VirtualClock])
async def test_clocks_reject_non_finite_deadlines(make: Callable[[], SessionClock]) -> None:
    clock = make()
    with pytest.raises(ValueError, match="deadline_s"):
        await clock.sleep_until(math.nan)
    with pytest.raises(ValueError, match="delay_s"):
        await clock.sleep(math.inf)


# --- VirtualClock ------------------------------------------------------------------------


async def test_virtual_sleepers_wake_in_deadline_order_at_their_deadline() -> None:
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, deadline_s: float) -> None:
        await clock.sleep_until(deadline_s)
        woke.append((name, clock.now_s()))

    await asyncio.gather(
        sleeper("c", 3.0), sleeper("a", 1.0), sleeper("b1", 2.0), sleeper("b2", 2.0)
    )
    assert woke == [("a", 1.0), ("b1", 2.0), ("b2", 2.0), ("c", 3.0)]
    assert clock.jumps == 3


async def test_virtual_time_stands_still_while_nobody_sleeps() -> None:
    clock = VirtualClock(5.0)
    fired: list[float] = []
    clock.call_at(6.0, lambda: fired.append(clock.now_s()))
    await asyncio.sleep(0.02)  # real time passes; the timer alone never moves virtual time
    assert clock.now_s() == 5.0 and fired == []
    await clock.sleep(10.0)
    assert fired == [6.0] and clock.now_s() == 15.0
    await asyncio.sleep(0.02)
    assert clock.now_s() == 15.0 and clock.sleepers == 0


async def test_cancelled_sleeper_neither_wakes_nor_moves_time() -> None:
    clock = VirtualClock()
    doomed = asyncio.create_task(clock.sleep_until(1.0))
    await asyncio.sleep(0)
    assert clock.sleepers == 1
    doomed.cancel()
    await clock.sleep_until(5.0)
    assert doomed.cancelled()
    assert clock.jumps == 1 and clock.now_s() == 5.0 and clock.sleepers == 0


async def test_cancelling_the_only_sleeper_stops_time() -> None:
    clock = VirtualClock()
    clock.call_at(0.5, lambda: None)
    sleeper = asyncio.create_task(clock.sleep(100.0))
    await asyncio.sleep(0)
    sleeper.cancel()
    await asyncio.sleep(0.02)
    assert clock.now_s() == 0.0 and clock.timers == 1


async def test_call_at_runs_in_order_and_cancel_prevents_it() -> None:
    clock = VirtualClock()
    ran: list[tuple[str, float]] = []
    clock.call_at(2.0, lambda: ran.append(("two", clock.now_s())))
    clock.call_later(1.0, ran.append, ("one", 1.0))
    cancelled = clock.call_at(1.5, lambda: ran.append(("never", clock.now_s())))
    cancelled.cancel()
    assert cancelled.cancelled() and cancelled.when() == 1.5
    await clock.sleep(3.0)
    assert ran == [("one", 1.0), ("two", 2.0)]


async def test_callbacks_at_an_instant_settle_before_sleepers_wake() -> None:
    """A gun's telemetry sent at t reaches the host before a control loop waking at t."""
    clock = VirtualClock()
    loop = asyncio.get_running_loop()
    delivered: list[float] = []
    sleeper = asyncio.create_task(clock.sleep_until(1.0))  # registered first
    await asyncio.sleep(0)
    clock.call_at(1.0, lambda: loop.call_soon(loop.call_soon, delivered.append, clock.now_s()))
    await sleeper
    assert delivered == [1.0] and clock.jumps == 1


async def test_call_at_due_now_runs_soon_without_moving_time() -> None:
    clock = VirtualClock(1.0)
    ran: list[float] = []
    clock.call_at(0.5, lambda: ran.append(clock.now_s()))
    assert ran == []
    await asyncio.sleep(0)
    assert ran == [1.0]


async def test_callbacks_can_reschedule_themselves() -> None:
    """The pattern of a simulated gun: each tick arms the next one."""
    clock = VirtualClock()
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(clock.now_s())
        clock.call_at(clock.now_s() + 0.25, tick)

    clock.call_at(0.25, tick)
    await clock.sleep(1.1)
    assert ticks == [0.25, 0.5, 0.75, 1.0]


async def test_failing_callback_goes_to_the_loop_handler_and_time_goes_on() -> None:
    clock = VirtualClock()
    errors: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        clock.call_at(1.0, lambda: 1 / 0)
        await clock.sleep(2.0)
    finally:
        loop.set_exception_handler(None)
    assert clock.now_s() == 2.0
    assert len(errors) == 1 and isinstance(errors[0]["exception"], ZeroDivisionError)


async def test_call_soon_chains_finish_before_time_jumps() -> None:
    """Like request -> ACK over an in-process link: every hop is a call_soon."""
    clock = VirtualClock()
    seen: list[float] = []
    loop = asyncio.get_running_loop()

    def hop(left: int) -> None:
        seen.append(clock.now_s())
        if left:
            loop.call_soon(hop, left - 1)

    async def requester() -> float:
        done = loop.create_future()
        loop.call_soon(hop, 40)
        loop.call_later(0, lambda: None)
        loop.call_soon(lambda: loop.call_soon(lambda: loop.call_soon(done.set_result, None)))
        await done
        return clock.now_s()

    sleeper = asyncio.create_task(clock.sleep(1.0))
    answered_at_s = await requester()
    await sleeper
    assert answered_at_s == 0.0 and seen == [0.0] * 41


@pytest.mark.parametrize("settle_yields", [1, 3])
async def test_settle_yields_is_configurable(settle_yields: int) -> None:
    clock = VirtualClock(settle_yields=settle_yields)
    await clock.sleep(1.0)
    assert clock.now_s() == 1.0


async def test_max_step_bounds_each_jump() -> None:
    clock = VirtualClock(max_step_s=1.0)
    await clock.sleep(4.5)
    assert clock.now_s() == 4.5 and clock.jumps == 5


async def test_past_deadline_does_not_move_virtual_time() -> None:
    clock = VirtualClock(10.0)
    await clock.sleep_until(3.0)
    await clock.sleep(0.0)
    assert clock.now_s() == 10.0 and clock.jumps == 0


async def test_virtual_wall_time_follows_virtual_time() -> None:
    clock = VirtualClock(2.0, wall_start_s=1_700_000_000.0)
    await clock.sleep(30.0)
    assert clock.wall_time() == 1_700_000_030.0


async def _fifty_sessions(clock: VirtualClock) -> list[tuple[int, float]]:
    trace: list[tuple[int, float]] = []

    async def session(index: int) -> None:
        deadline_s = 0.0
        for _ in range(100):
            deadline_s += 0.25 + index * 0.001
            await clock.sleep_until(deadline_s)
            assert clock.now_s() == deadline_s
            trace.append((index, clock.now_s()))

    await asyncio.gather(*(session(i) for i in range(50)))
    return trace


async def test_fifty_concurrent_sessions_are_deterministic() -> None:
    first = await _fifty_sessions(VirtualClock())
    second = await _fifty_sessions(VirtualClock())
    assert len(first) == 5000 and first == second
    assert [t for _, t in first] == sorted(t for _, t in first)


async def test_twenty_minutes_of_deadlines_pass() -> None:
    clock = VirtualClock()
    deadline_s = 0.0
    for _ in range(5000):
        deadline_s += 0.24
        await clock.sleep_until(deadline_s)
    assert clock.now_s() == pytest.approx(1200.0) and clock.jumps == 5000


async def test_two_virtual_clocks_on_one_loop_do_not_starve_each_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = VirtualClock(), VirtualClock()
    caplog.set_level(logging.WARNING, logger="tpdevice.therapy.clock")
    await asyncio.gather(first.sleep(50.0), second.sleep(70.0))
    assert (first.now_s(), second.now_s()) == (50.0, 70.0)
    assert "never went idle" not in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"settle_yields": 0}, "settle_yields"),
        ({"max_step_s": 0.0}, "max_step_s"),
        ({"max_step_s": math.inf}, "max_step_s"),
        ({"start_s": math.nan}, "start_s"),
    ],
)
def test_virtual_clock_rejects_bad_settings(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VirtualClock(**kwargs)


def test_call_at_rejects_non_finite_times() -> None:
    with pytest.raises(ValueError, match="when_s"):
        VirtualClock().call_at(math.nan, lambda: None)


# --- device time -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "near", "expected"),
    [
        (5, 0, 5),
        (5, U32 - 10, U32 + 5),  # wrapped forward
        (U32 - 10, U32 + 5, U32 - 10),  # a late sample from before the wrap
        (0, 3 * U32 + 7, 3 * U32),
        (1000, 2000, 1000),
    ],
)
def test_unwrap_u32_ms(value: int, near: int, expected: int) -> None:
    assert unwrap_u32_ms(value, near) == expected


@pytest.mark.parametrize("value", [-1, U32])
def test_unwrap_rejects_values_outside_u32(value: int) -> None:
    with pytest.raises(ValueError, match="not a u32"):
        unwrap_u32_ms(value, 0)


def test_map_needs_a_sample_first() -> None:
    time_map = DeviceTimeMap()
    assert not time_map.ready and time_map.source is TimeSource.NONE
    with pytest.raises(DeviceTimeError, match="no time sync"):
        time_map.to_session_s(1000)
    with pytest.raises(DeviceTimeError, match="no time sync"):
        time_map.to_device_ms(1.0)


def test_map_keeps_the_lowest_rtt_sample() -> None:
    time_map = DeviceTimeMap()
    assert time_map.add_sync(offset_s=5.010, rtt_s=0.020, now_s=10.0)
    assert time_map.add_sync(offset_s=5.001, rtt_s=0.002, now_s=10.1)
    assert not time_map.add_sync(offset_s=5.030, rtt_s=0.060, now_s=10.2)
    assert time_map.source is TimeSource.TIME_SYNC
    assert time_map.to_session_s(15_101) == pytest.approx(10.1)
    assert time_map.to_device_ms(10.1) == 15_101


def test_an_old_sample_gives_way_to_a_fresh_one() -> None:
    time_map = DeviceTimeMap(max_drift_ppm=100.0)
    time_map.add_sync(offset_s=5.0, rtt_s=0.002, now_s=0.0)
    assert not time_map.add_sync(offset_s=5.1, rtt_s=0.010, now_s=10.0)
    # After 100 s the old sample may be off by 10 ms of drift: a 10 ms-rtt sample is better.
    assert time_map.add_sync(offset_s=5.1, rtt_s=0.010, now_s=100.0)
    assert time_map.best is not None and time_map.best.offset_s == 5.1


def test_map_unwraps_device_time_across_the_u32_wrap() -> None:
    time_map = DeviceTimeMap()
    device_now_s = (U32 - 1500) / 1000.0  # 1.5 s before the wrap
    time_map.add_sync(offset_s=device_now_s - 100.0, rtt_s=0.001, now_s=100.0)
    times = [time_map.to_session_s(ms % U32) for ms in range(U32 - 1500, U32 + 1500, 500)]
    assert times == pytest.approx([100.0, 100.5, 101.0, 101.5, 102.0, 102.5])


def test_arrivals_keep_the_least_delayed_one() -> None:
    time_map = DeviceTimeMap()
    assert time_map.add_arrival(1000, arrival_s=50.030)
    assert time_map.add_arrival(1050, arrival_s=50.055)  # 5 ms less delay
    assert not time_map.add_arrival(1100, arrival_s=50.140)
    assert time_map.source is TimeSource.ARRIVAL
    assert time_map.to_session_s(1050) == pytest.approx(50.055)


def test_time_sync_overrides_arrivals() -> None:
    time_map = DeviceTimeMap()
    time_map.add_arrival(1000, arrival_s=50.0)
    assert time_map.add_sync(offset_s=-49.0, rtt_s=0.004, now_s=50.0)
    assert not time_map.add_arrival(2000, arrival_s=50.0)
    assert time_map.to_session_s(1000) == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("offset_s", "rtt_s", "now_s", "match"),
    [
        (0.0, -0.001, 0.0, "rtt_s"),
        (math.nan, 0.0, 0.0, "offset_s"),
        (0.0, 0.0, math.inf, "now_s"),
    ],
)
def test_add_sync_rejects_bad_samples(
    offset_s: float, rtt_s: float, now_s: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        DeviceTimeMap().add_sync(offset_s, rtt_s, now_s)


def test_map_rejects_bad_drift() -> None:
    with pytest.raises(ValueError, match="max_drift_ppm"):
        DeviceTimeMap(max_drift_ppm=-1.0)


class ScriptedSync:
    """A TimeSyncClient answering from a list of (offset_s, rtt_s)."""

    def __init__(self, answers: list[tuple[float, float]]) -> None:
        self.answers = answers
        self.clocks: list[Callable[[], float] | None] = []

    async def time_sync(self, now_s: Callable[[], float] | None = None) -> tuple[float, float]:
        self.clocks.append(now_s)
        return self.answers.pop(0)


async def test_sync_device_time_takes_samples_on_the_session_clock() -> None:
    clock = VirtualClock(7.0)
    client = ScriptedSync([(2.0, 0.010), (2.001, 0.002), (2.003, 0.008)])
    time_map = DeviceTimeMap()
    assert await sync_device_time(client, clock.now_s, time_map) == 2
    assert client.clocks == [clock.now_s] * 3
    assert time_map.best is not None and time_map.best.offset_s == 2.001
    with pytest.raises(ValueError, match="samples"):
        await sync_device_time(client, clock.now_s, time_map, samples=0)
