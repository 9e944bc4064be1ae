"""Fault soak: sessions through a lossy, dropping link on real ptys and TCP sockets.

Every gun is a simulator behind its link's fault injection; the sessions run on the real
clock because the link faults (disconnects in particular) act in real time. All sessions of
a test run at once in one loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tpdevice.cli.bench_soak import DEFAULT_FAULTS, SoakResult, SoakSettings, soak
from tpdevice.therapy.engine import ExecutionMode
from tpdevice_sim.faults import parse_fault_spec

SEEDS = 20
MODES = (ExecutionMode.HOST, ExecutionMode.FIRMWARE)
HARSH = "drop=0.2,corrupt=0.05,disconnect_every_s=2"


async def _soak_both(faults: str, guns: int, **changes: Any) -> dict[str, SoakResult]:
    """One session per gun, `guns` per transport (modes alternating), all at once."""
    spec = parse_fault_spec(faults)
    transports = ("serial", "tcp")
    results = await asyncio.gather(*(
        soak(SoakSettings(1.0, transport, spec, guns, seed=100 * i, once=True, **changes))
        for i, transport in enumerate(transports)
    ))  # fmt: skip
    return dict(zip(transports, results, strict=True))


@pytest.mark.timeout(120)  # real-time sessions: ~12 s alone, more on a loaded machine
async def test_every_session_completes_through_drops_corruption_duplicates_and_disconnects() -> (
    None
):
    results = await _soak_both(DEFAULT_FAULTS, SEEDS * len(MODES), session_s=6.0)
    for transport, result in results.items():
        records = result.records
        for mode in MODES:
            assert sum(1 for r in records if r.mode == mode.value) == SEEDS, transport
        not_completed = [r for r in records if r.outcome != "completed"]
        assert not not_completed, f"{transport}: {not_completed}"
        # The simulators' monitors also catch a request acted on twice.
        assert result.violations == [], transport
        assert result.motors_running == [], transport
        # The sessions did go through disconnects (every 5 s; each session is ~6 s long).
        assert sum(r.link_losses for r in records) >= len(records) // 2, transport


@pytest.mark.timeout(120)
async def test_harsh_faults_end_each_session_completed_or_with_a_clear_cause() -> None:
    results = await _soak_both(HARSH, 4, session_s=3.0, reconnect_grace_s=3.0)
    for transport, result in results.items():
        assert len(result.records) == 4, transport
        for record in result.records:
            assert record.outcome in ("completed", "failed", "aborted"), record
            if record.outcome != "completed":
                assert record.reason and record.detail, record  # e.g. device_fault: watchdog
        assert result.violations == [], transport
        assert result.motors_running == [], transport
