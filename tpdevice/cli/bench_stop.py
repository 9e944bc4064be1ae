"""`tpdevice bench stop`: from `tpdevice stop` starting to every simulated motor stopped.

A daemon with N simulated guns runs a session on each; `tpdevice stop` is then timed as a
whole process (it exits once the daemon has every STOP acknowledged). The floor is a bare
`python -c pass` started the same way in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console

from tpdevice.cli.benchkit import emit, goal_text, median, ratio, summarize_ms
from tpdevice.cli.errors import CliError

__all__ = ["run"]

TARGET_MS = 100.0
_PROFILE = "piriformis"


def run(devices: int, runs: int) -> None:
    """Time `runs` stops of `devices` running guns; print the figures and the JSON line."""
    if not 1 <= devices <= 200 or not 1 <= runs <= 100:
        raise CliError("bench stop: --devices must be 1..200 and --runs 1..100")
    console = Console(stderr=True, highlight=False)
    with tempfile.TemporaryDirectory(prefix="tpdevice-bench-") as folder, _daemon(
        Path(folder), devices
    ) as socket:  # fmt: skip
        http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://tpdevice", timeout=10
        )
        stops_s, floors_s = [], []
        for index in range(runs):
            _start_sessions(http, devices)
            stops_s.append(_timed([sys.executable, "-m", "tpdevice", "stop"], socket))
            floors_s.append(_timed([sys.executable, "-c", "pass"], socket))
            _wait_all_stopped(http)
            console.print(f"run {index + 1}: stop {stops_s[-1] * 1000:.1f} ms")
    _report(console, devices, stops_s, floors_s)


def _report(console: Console, devices: int, stops_s: list[float], floors_s: list[float]) -> None:
    figures = summarize_ms(stops_s, 2)
    floor = summarize_ms(floors_s, 2)
    met = figures["p50_ms"] <= TARGET_MS
    console.print(
        f"tpdevice stop, process start to {devices} motors stopped: p50 {figures['p50_ms']} ms,"
        f" max {figures['max_ms']} ms; floor (python -c pass) p50 {floor['p50_ms']} ms"
    )
    console.print(goal_text(f"all motors stopped within {TARGET_MS:g} ms", met, f"{devices} guns"))
    emit({
        "bench": "stop", "n": len(stops_s), **figures, "floor_p50_ms": floor["p50_ms"],
        "floor_p99_ms": floor["p99_ms"], "ratio_p50": ratio(figures["p50_ms"], floor["p50_ms"]),
        "ratio_p99": ratio(figures["p99_ms"], floor["p99_ms"]), "devices": devices,
        "target_ms": TARGET_MS, "goal_met": met, "median_ms": round(median(stops_s) * 1000, 2),
    })  # fmt: skip


@contextmanager
def _daemon(folder: Path, devices: int) -> Iterator[Path]:
    socket = folder / "run" / "api.sock"
    argv = [
        sys.executable, "-m", "tpdevice", "daemon", "--sim", str(devices), "--socket", str(socket),
        "--journal", str(folder / "journal.sqlite3"),
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_ready(socket, devices, process)
        yield socket
    finally:
        process.terminate()
        process.wait(30)


def _wait_ready(socket: Path, devices: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CliError(f"bench stop: the daemon exited ({process.returncode})")
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket))) as http:
                found = http.get("http://tpdevice/v1/devices").json()
            if sum(d["state"] == "ready" for d in found) == devices:
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.05)
    raise CliError("bench stop: the simulated guns did not connect within 60 s")


def _start_sessions(http: httpx.Client, devices: int) -> None:
    for index in range(1, devices + 1):
        reply = http.post("/v1/sessions", json={"device": f"sim-{index}", "profile": _PROFILE,
                                                 "override": "benchmark"})  # fmt: skip
        if reply.status_code != 201:
            raise CliError(f"bench stop: sim-{index}: {reply.text}")
    time.sleep(0.5)  # the motors spin up


def _wait_all_stopped(http: httpx.Client) -> None:
    for _ in range(400):
        if all(s["state"] not in ("running", "paused") for s in http.get("/v1/sessions").json()):
            return
        time.sleep(0.025)
    raise CliError("bench stop: sessions still running after stop")


def _timed(argv: list[str], socket: Path) -> float:
    env = {**os.environ, "TPDEVICE_SOCKET": str(socket)}
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed_s = time.perf_counter() - began
    if done.returncode != 0:
        raise CliError(f"bench stop: {' '.join(argv[-2:])} failed: {done.stderr.decode().strip()}")
    return elapsed_s
