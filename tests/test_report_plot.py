"""The session report PNG, read back: size, the phases shaded, the band and both traces drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdevice.daemon.journal_queries import SessionRecord, StepRecord, TelemetryRecord
from tpdevice.daemon.report_plot import (
    BAND_COLOUR,
    FORCE_COLOUR,
    PHASE_COLOURS,
    RATE_COLOUR,
    plot_session,
)

image = pytest.importorskip("matplotlib.image")
colors = pytest.importorskip("matplotlib.colors")

RECORD = SessionRecord(
    "s-1", "gun-2", "upper-trapezius", "neck and shoulder", "left", "host", "c-9",
    "2026-12-04T10:00:00.000Z", "2026-12-04T10:01:10.000Z", 70.0, 3, 3, 60.0, "completed", "",
    None,
)  # fmt: skip


def _step(index: int, kind: str, start_s: float, duration_s: float, freq_hz: float,
          band: tuple[float, float]) -> StepRecord:  # fmt: skip
    return StepRecord(
        index, kind, "left", 1, freq_hz, band[0], band[1], start_s, start_s, 0.4, duration_s,
        duration_s, False,
    )  # fmt: skip


STEPS = [
    _step(0, "hold", 0.0, 30.0, 33.0, (15.0, 25.0)),
    _step(1, "release", 30.0, 20.0, 30.0, (0.0, 0.0)),
    _step(2, "rest", 50.0, 20.0, 0.0, (0.0, 0.0)),
]


def _telemetry(force: bool) -> list[TelemetryRecord]:
    samples = []
    for i in range(350):
        t_s = i * 0.2
        step = next(s for s in reversed(STEPS) if s.actual_start_s <= t_s)
        force_n = (20.0 if step.kind == "hold" else 3.0) if force else None
        samples.append(TelemetryRecord(t_s, step.freq_hz, force_n, True, 80.0, 31.0))
    return samples


def _has_colour(pixels: object, colour: str) -> bool:
    import numpy as np

    rgb = np.asarray(pixels)[..., :3]
    wanted = np.array(colors.to_rgb(colour))
    return bool((np.abs(rgb - wanted) < 0.02).all(axis=-1).any())


def test_the_report_shows_phases_band_and_both_traces(tmp_path: Path) -> None:
    out = tmp_path / "report.png"
    plot_session(RECORD, STEPS, _telemetry(force=True), out)
    pixels = image.imread(out)
    assert pixels.shape[:2] == (600, 1000)
    for colour in (*PHASE_COLOURS.values(), BAND_COLOUR, RATE_COLOUR, FORCE_COLOUR):
        if colour != PHASE_COLOURS["sweep"]:  # this session has no sweep
            assert _has_colour(pixels, colour), colour
    assert not _has_colour(pixels, PHASE_COLOURS["sweep"])


def test_a_gun_without_force_sensing_draws_no_force_trace(tmp_path: Path) -> None:
    out = tmp_path / "report.png"
    plot_session(RECORD, STEPS, _telemetry(force=False), out)
    pixels = image.imread(out)
    assert _has_colour(pixels, RATE_COLOUR)
    assert not _has_colour(pixels, FORCE_COLOUR)
