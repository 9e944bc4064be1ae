"""Behaviour of link fault specs and the fault injector."""

from __future__ import annotations

import random

import pytest

from tpdevice_sim.faults import FaultInjector, FaultSpec, FaultSpecError, parse_fault_spec

FRAME = bytes(range(1, 17))
N_FRAMES = 10_000


def _injector(seed: int = 1, **kwargs: float) -> FaultInjector:
    return FaultInjector(FaultSpec(**kwargs), random.Random(seed))


# --- parsing ---------------------------------------------------------------------------------


def test_parse_full_spec() -> None:
    spec = parse_fault_spec(
        "drop=0.05,corrupt=0.01,dup=0.01,delay_ms=5,jitter_ms=3,disconnect_every_s=30"
    )
    assert spec == FaultSpec(
        drop=0.05, corrupt=0.01, dup=0.01, delay_ms=5.0, jitter_ms=3.0, disconnect_every_s=30.0
    )
    assert parse_fault_spec(str(spec)) == spec


@pytest.mark.parametrize("text", ["", "   ", ","])
def test_empty_spec_means_no_faults(text: str) -> None:
    spec = parse_fault_spec(text)
    assert spec == FaultSpec()
    assert not spec.active
    assert str(spec) == ""


def test_parse_tolerates_spaces() -> None:
    assert parse_fault_spec(" drop = 0.5 , dup=0.1 ") == FaultSpec(drop=0.5, dup=0.1)


KNOWN = "known: drop, corrupt, dup, delay_ms, jitter_ms, disconnect_every_s"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drop=1.5", "--faults: drop=1.5 is out of range (0..1)"),
        ("corrupt=-0.1", "--faults: corrupt=-0.1 is out of range (0..1)"),
        ("dup=2", "--faults: dup=2 is out of range (0..1)"),
        ("drop=nan", "--faults: drop=nan is out of range (0..1)"),
        ("delay_ms=-1", "--faults: delay_ms=-1 is out of range (>= 0)"),
        ("jitter_ms=inf", "--faults: jitter_ms=inf is out of range (>= 0)"),
        ("disconnect_every_s=0", "--faults: disconnect_every_s=0 is out of range (> 0)"),
        ("loss=0.1", f"--faults: unknown key 'loss' ({KNOWN})"),
        ("drop=0.1,drop", "--faults: 'drop' is missing '=' (expected key=value)"),
        ("drop=lots", "--faults: drop=lots is not a number (0..1)"),
        ("delay_ms=", "--faults: delay_ms= is not a number (>= 0)"),
        ("drop=0.1,dup=0.1,drop=0.2", "--faults: drop is given twice"),
    ],
)
def test_bad_spec_gives_one_line_naming_the_item(text: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse_fault_spec(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_source_name_is_configurable() -> None:
    with pytest.raises(FaultSpecError, match=r"^config faults: drop=3 is out of range"):
        parse_fault_spec("drop=3", source="config faults")


def test_spec_constructor_validates_too() -> None:
    with pytest.raises(FaultSpecError, match=r"drop=1\.5 is out of range \(0\.\.1\)"):
        FaultSpec(drop=1.5)


# --- injector --------------------------------------------------------------------------------


def test_no_faults_delivers_each_frame_once_now() -> None:
    injector = _injector()
    assert injector.deliveries(FRAME, 0.0) == [(0.0, FRAME)]
    assert injector.counts["frames"] == 1
    assert not injector.disconnect_due(1e9)


def test_statistics_roughly_match_probabilities() -> None:
    injector = _injector(drop=0.1, corrupt=0.05, dup=0.02)
    delivered = 0
    for i in range(N_FRAMES):
        delivered += len(injector.deliveries(FRAME, i * 0.001))
    counts = injector.counts
    assert counts["frames"] == N_FRAMES
    assert counts["drop"] == pytest.approx(1000, rel=0.15)
    kept = N_FRAMES - counts["drop"]
    assert counts["corrupt"] == pytest.approx(kept * 0.05, rel=0.2)
    assert counts["dup"] == pytest.approx(kept * 0.02, rel=0.3)
    assert delivered == kept + counts["dup"]


def test_drop_and_dup_shapes() -> None:
    assert _injector(drop=1.0).deliveries(FRAME, 0.0) == []
    assert _injector(dup=1.0).deliveries(FRAME, 0.0) == [(0.0, FRAME), (0.0, FRAME)]


def test_corruption_flips_exactly_one_byte() -> None:
    injector = _injector(corrupt=1.0)
    for i in range(500):
        [(_, out)] = injector.deliveries(FRAME, float(i))
        diffs = [a ^ b for a, b in zip(out, FRAME, strict=True) if a != b]
        assert len(diffs) == 1
    assert injector.counts["corrupt"] == 500


def test_empty_frame_is_never_corrupted() -> None:
    assert _injector(corrupt=1.0).deliveries(b"", 0.0) == [(0.0, b"")]


def test_delay_with_jitter_is_bounded_non_negative_and_fifo() -> None:
    injector = _injector(delay_ms=5.0, jitter_ms=3.0, dup=0.2)
    previous_due_s = 0.0
    delays: list[float] = []
    for i in range(N_FRAMES):
        now_s = i * 0.001  # frames 1 ms apart: jitter alone would reorder them
        for delay_s, _ in injector.deliveries(FRAME, now_s):
            assert delay_s >= 0.0
            assert now_s + delay_s >= previous_due_s
            previous_due_s = now_s + delay_s
            delays.append(delay_s)
    assert min(delays) >= 0.002 - 1e-9
    assert max(delays) <= 0.008 + 1e-9
    assert len({round(d, 6) for d in delays}) > 100


def test_jitter_larger_than_delay_never_goes_negative() -> None:
    injector = _injector(delay_ms=1.0, jitter_ms=5.0)
    delays = [d for i in range(1000) for d, _ in injector.deliveries(FRAME, i * 1.0)]
    assert min(delays) == 0.0
    assert max(delays) <= 0.006


def test_disconnect_schedule() -> None:
    injector = _injector(disconnect_every_s=30.0)
    assert not injector.disconnect_due(100.0)  # the period starts here
    assert not injector.disconnect_due(129.9)
    assert injector.disconnect_due(130.0)
    assert not injector.disconnect_due(130.1)
    assert injector.disconnect_due(160.5)
    assert injector.disconnect_due(250.0)  # after a long gap: once, not three times
    assert not injector.disconnect_due(250.1)
    assert injector.disconnect_due(280.0)
    assert injector.counts["disconnect"] == 4


def _run(seed: int) -> list[list[tuple[float, bytes]]]:
    injector = _injector(seed, drop=0.2, corrupt=0.2, dup=0.2, delay_ms=3.0, jitter_ms=2.0)
    return [injector.deliveries(FRAME, i * 0.01) for i in range(300)]


def test_same_seed_same_decisions_different_seed_different() -> None:
    assert _run(11) == _run(11)
    assert _run(11) != _run(12)
