"""`bench scale`'s figures: the JSON object of one run and the human summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console

from tpdevice.cli.bench_procstat import CpuWindow
from tpdevice.cli.benchkit import goal_text, ratio, summarize_ms

if TYPE_CHECKING:
    from tpdevice.cli.bench_scale import ScaleSettings

__all__ = ["TARGET_DEVICES", "TARGET_RATIO_P99", "result", "summarize"]

TARGET_DEVICES = 200
TARGET_RATIO_P99 = 2.0


def _per_gun_pct(cpu_s: float | None, wall_s: float, devices: int) -> float | None:
    if cpu_s is None or wall_s <= 0:
        return None
    return round(100 * cpu_s / wall_s / devices, 4)


def _rate(window: CpuWindow, devices: int) -> float | None:
    """Telemetry samples a gun a second that the daemon took in during the window."""
    return round(window.telemetry_samples / window.wall_s / devices, 2) if window.wall_s else None


def _figures_ms(samples_s: list[float], prefix: str) -> dict[str, float | None]:
    if not samples_s:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p99_ms": None, f"{prefix}_max_ms": None}
    return {f"{prefix}_{k}": v for k, v in summarize_ms(samples_s).items()}


def result(
    settings: ScaleSettings, devices: int, late_ms: list[float], floor_s: list[float],
    lags_s: list[float], window: CpuWindow, memory: tuple[int | None, int | None],
    incomplete: int, one_cpu: bool,
) -> dict[str, Any]:  # fmt: skip
    """The JSON object of one run at `devices` guns."""
    if not late_ms:
        from tpdevice.cli.bench_child import BenchError

        raise BenchError("bench scale: the sessions reported no step transitions")
    timing = summarize_ms([value / 1000 for value in late_ms])
    floor = summarize_ms(floor_s)
    ratio_p99 = ratio(timing["p99_ms"], floor["p99_ms"])
    ratio_ok = incomplete == 0 and ratio_p99 is not None and ratio_p99 <= TARGET_RATIO_P99
    rss_before, rss_after = memory
    rss_per_gun = None if rss_before is None or rss_after is None else (
        round((rss_after - rss_before) / devices, 1)
    )  # fmt: skip
    in_process = settings.transport == "sim"
    return {
        "bench": "scale", "n": len(late_ms), "devices": devices, "transport": settings.transport,
        "loop": settings.loop, "mode": "host", "time_scale": settings.time_scale,
        "telemetry_hz": 20, "telemetry_hz_per_gun": _rate(window, devices),
        "steps_per_session": len(late_ms) // devices,
        **timing, "floor_p50_ms": floor["p50_ms"], "floor_p99_ms": floor["p99_ms"],
        "floor_max_ms": floor["max_ms"], "floor_n": len(floor_s),
        "ratio_p50": ratio(timing["p50_ms"], floor["p50_ms"]), "ratio_p99": ratio_p99,
        "incomplete": incomplete, "events_journaled": len(lags_s),
        **_figures_ms(lags_s, "event_lag"),
        "wall_s": round(window.wall_s, 3),
        "daemon_cpu_pct": _per_gun_pct(window.own_cpu_s, window.wall_s, 1),
        "cpu_pct_per_gun": _per_gun_pct(window.own_cpu_s, window.wall_s, devices),
        "rss_kib_per_gun": rss_per_gun, "daemon_one_cpu": one_cpu,
        "sim_cpu": "included in the daemon's" if in_process else "own process",
        "sim_cpu_pct_per_gun": _per_gun_pct(window.helper_cpu_s, window.wall_s, devices),
        "target_devices": TARGET_DEVICES, "target_ratio_p99": TARGET_RATIO_P99,
        "ratio_ok": ratio_ok, "goal_met": ratio_ok if devices >= TARGET_DEVICES else None,
    }  # fmt: skip


def _text(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:g}{unit}"


def summarize(final: dict[str, Any]) -> None:
    """The human summary on stderr."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    for run in final.get("runs", []):
        verdict = "[green]ok[/green]" if run["ratio_ok"] else "[red]over[/red]"
        console.print(
            f"  {run['devices']:>5} guns: step lateness p99 {run['p99_ms']:.3f} ms, "
            f"floor p99 {run['floor_p99_ms']:.3f} ms, ratio {run['ratio_p99']}x {verdict}"
        )
    console.print(
        f"bench scale: {final['devices']} {final['transport']} guns in one daemon"
        f"{' on one CPU' if final['daemon_one_cpu'] else ''}, telemetry 20 Hz "
        f"({_text(final['telemetry_hz_per_gun'], ' Hz')} taken in a gun), host-timed "
        f"sessions ({final['steps_per_session']} steps each), time scale {final['time_scale']:g}x"
    )
    console.print(
        f"  step lateness   p50 {final['p50_ms']:.3f} ms  p99 {final['p99_ms']:.3f} ms  "
        f"max {final['max_ms']:.3f} ms  ({final['n']} transitions, "
        f"{final['incomplete']} sessions incomplete)"
    )
    console.print(
        f"  timer floor     p50 {final['floor_p50_ms']:.3f} ms  "
        f"p99 {final['floor_p99_ms']:.3f} ms  (ratio p99 {final['ratio_p99']}x)"
    )
    console.print(
        f"  event to journal  p50 {_text(final['event_lag_p50_ms'], ' ms')}  "
        f"p99 {_text(final['event_lag_p99_ms'], ' ms')}  ({final['events_journaled']} events)"
    )
    console.print(
        f"  per gun: daemon CPU {_text(final['cpu_pct_per_gun'], ' %')}, "
        f"RSS {_text(final['rss_kib_per_gun'], ' KiB')}; simulator CPU "
        + (
            "included in the daemon's (in process)"
            if final["transport"] == "sim"
            else _text(final["sim_cpu_pct_per_gun"], " %")
        )
    )
    if "max_devices_meeting_goal" in final:
        console.print(f"  largest N within the goal: {final['max_devices_meeting_goal']}")
    goal = f"step lateness p99 within {TARGET_RATIO_P99:g}x the timer floor's p99"
    applies_to = f"{TARGET_DEVICES} or more guns in one daemon"
    console.print(f"  {goal_text(goal, final.get('goal_met'), applies_to)}")
