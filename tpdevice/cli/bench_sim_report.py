"""`bench sim`'s figures: each child's CPU per gun-second, the JSON object and the summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from tpdevice.cli.benchkit import goal_text, percentile, ratio

__all__ = ["KEEP_UP_HZ", "Window", "result", "summarize"]

KEEP_UP_HZ = 19.0  # telemetry a gun-second that counts as keeping up with 20 Hz
GOAL = "N guns at 20 Hz telemetry in one simulator process within one CPU core"


@dataclass(slots=True)
class Window:
    """Slices of one measured window: (wall seconds, child CPU seconds, telemetry frames)."""

    slices: list[tuple[float, float, int]] = field(default_factory=list)
    heartbeats_sent: int = 0
    write_stalls: int = 0
    links_lost: int = 0
    host_cpu_s: float = 0.0  # this process's own, while driving the child

    def add(self, wall_s: float, cpu_s: float, frames: int) -> None:
        """Keep one slice."""
        self.slices.append((wall_s, cpu_s, frames))

    def totals(self) -> tuple[float, float, int]:
        """Wall seconds, CPU seconds and frames over the whole window."""
        return (
            sum(s[0] for s in self.slices),
            sum(s[1] for s in self.slices),
            sum(s[2] for s in self.slices),
        )

    def ms_per_gun_s(self, devices: int) -> list[float]:
        """Each slice's child CPU in milliseconds per gun-second, sorted."""
        return sorted(1000 * cpu_s / wall_s / devices for wall_s, cpu_s, _ in self.slices)


def _figures(window: Window, devices: int) -> dict[str, float]:
    """CPU per gun-second (whole window and per slice), CPU % of a core, telemetry rate."""
    wall_s, cpu_s, frames = window.totals()
    per_slice = window.ms_per_gun_s(devices)
    return {
        "cpu_ms_per_gun_s": round(1000 * cpu_s / wall_s / devices, 4),
        "p50_ms": round(percentile(per_slice, 0.5), 4),
        "p99_ms": round(percentile(per_slice, 0.99), 4),
        "max_ms": round(per_slice[-1], 4),
        "cpu_pct_one_core": round(100 * cpu_s / wall_s, 2),
        "telemetry_hz_per_gun": round(frames / wall_s / devices, 2),
        "cpu_ms_per_frame": round(1000 * cpu_s / frames, 5) if frames else 0.0,
    }


def result(devices: int, transport: str, sim: Window, floor: Window) -> dict[str, Any]:
    """The JSON object: the simulator's figures, the floor's, their ratios and the goal."""
    own, base = _figures(sim, devices), _figures(floor, devices)
    keeps_up = own["telemetry_hz_per_gun"] >= KEEP_UP_HZ
    within = own["cpu_pct_one_core"] <= 100.0
    return {
        "bench": "sim",
        "n": len(sim.slices),
        "devices": devices,
        "transport": transport,
        **{k: own[k] for k in ("p50_ms", "p99_ms", "max_ms")},
        "floor_p50_ms": base["p50_ms"],
        "floor_p99_ms": base["p99_ms"],
        "ratio_p50": ratio(own["p50_ms"], base["p50_ms"]),
        "ratio_per_frame": ratio(own["cpu_ms_per_frame"], base["cpu_ms_per_frame"]),
        "sim_cpu_ms_per_gun_s": own["cpu_ms_per_gun_s"],
        "sim_cpu_pct_one_core": own["cpu_pct_one_core"],
        "sim_cpu_ms_per_frame": own["cpu_ms_per_frame"],
        "telemetry_hz_per_gun": own["telemetry_hz_per_gun"],
        "floor_cpu_ms_per_gun_s": base["cpu_ms_per_gun_s"],
        "floor_cpu_pct_one_core": base["cpu_pct_one_core"],
        "floor_cpu_ms_per_frame": base["cpu_ms_per_frame"],
        "floor_telemetry_hz_per_gun": base["telemetry_hz_per_gun"],
        "heartbeats_sent": sim.heartbeats_sent,
        "write_stalls": sim.write_stalls,
        "links_lost": sim.links_lost + floor.links_lost,
        "host_cpu_pct_one_core": round(100 * sim.host_cpu_s / sim.totals()[0], 2),
        "keeps_up": keeps_up,
        "within_one_core": within,
        "goal_met": keeps_up and within,
    }


def summarize(final: dict[str, Any]) -> None:
    """The human summary on stderr."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(
        f"bench sim: {final['devices']} {final['transport']} guns in one simulator process, "
        f"telemetry asked at {final['telemetry_hz_asked']} Hz, {final['n']} one-second samples "
        f"(load average {final['load_avg_1m']})"
    )
    console.print(
        f"  simulator  {final['sim_cpu_ms_per_gun_s']:.4f} ms CPU a gun-second "
        f"(p50 {final['p50_ms']:.4f}, p99 {final['p99_ms']:.4f}), "
        f"{final['sim_cpu_pct_one_core']:.1f} % of one core, "
        f"{final['telemetry_hz_per_gun']:.2f} telemetry frames a gun-second"
    )
    console.print(
        f"  floor      {final['floor_cpu_ms_per_gun_s']:.4f} ms CPU a gun-second "
        f"(p50 {final['floor_p50_ms']:.4f}), {final['floor_cpu_pct_one_core']:.1f} % of one core, "
        f"{final['floor_telemetry_hz_per_gun']:.2f} frames a gun-second "
        f"(ratio p50 {final['ratio_p50']}x, per frame {final['ratio_per_frame']}x)"
    )
    console.print(goal_text(GOAL, final["goal_met"], f"N = {final['devices']}"))
