"""`tpdevice probe ADDR`: connect, show the capabilities and a few seconds of telemetry."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.device import ConnectionState, DeviceClient, open_client, run_heartbeat
from tpdevice.errors import TpDeviceError
from tpdevice.protocol import NO_STEP, Capabilities, Feature, StopReason, Telemetry
from tpdevice.transport import DeviceAddress, parse_address

__all__ = [
    "JsonOutput",
    "ProbeError",
    "Spin",
    "TableOutput",
    "capabilities_dict",
    "run",
    "telemetry_dict",
]

_GONE = frozenset({ConnectionState.DISCONNECTED, ConnectionState.CLOSED, ConnectionState.FAILED})
_ROW = "{:>12} {:>8} {:>7} {:>7} {:>9} {:>8}  {}"
SPIN_TOLERANCE_N = 5.0
SPIN_CAP_MARGIN_N = 15.0
SPIN_RAMP_N_PER_S = 10.0


@dataclass(frozen=True, slots=True)
class Spin:
    """Run the motor during the probe: rate and the pressure band's target."""

    freq_hz: float
    force_n: float = 20.0


class ProbeError(TpDeviceError):
    """The device stopped answering during the probe."""


def feature_names(features: int) -> list[str]:
    """Lower-case names of the feature bits set (unknown bits as hex)."""
    names = [flag.name.lower() for flag in Feature if flag and features & flag and flag.name]
    unknown = features & ~sum(int(flag) for flag in Feature)
    if unknown:
        names.append(f"0x{unknown:x}")
    return names


def capabilities_dict(address: str, caps: Capabilities) -> dict[str, Any]:
    """The capabilities as one JSON-ready object."""
    return {
        "type": "capabilities",
        "address": address,
        "model": caps.model,
        "serial": caps.serial,
        "firmware": caps.firmware,
        "protocol_version": caps.protocol_version,
        "freq_min_hz": caps.freq_min_hz,
        "freq_max_hz": caps.freq_max_hz,
        "force_max_n": caps.force_max_n,
        "features": feature_names(caps.features),
        "watchdog_ms": caps.watchdog_ms,
        "watchdog_min_ms": caps.watchdog_min_ms,
        "watchdog_max_ms": caps.watchdog_max_ms,
        "telemetry_hz": caps.telemetry_hz,
        "telemetry_max_hz": caps.telemetry_max_hz,
        "max_program_steps": caps.max_program_steps,
    }


def telemetry_dict(sample: Telemetry) -> dict[str, Any]:
    """One telemetry sample as a JSON-ready object."""
    return {
        "type": "telemetry",
        "device_time_ms": sample.device_time_ms,
        "freq_hz": sample.freq_hz,
        "force_n": sample.force_n,
        "contact": sample.contact,
        "battery_pct": sample.battery_pct,
        "motor_temp_c": sample.motor_temp_c,
        "state": sample.state.name.lower(),
        "step_index": None if sample.step_index == NO_STEP else sample.step_index,
    }


class ProbeOutput(Protocol):
    """Where the probe's findings go."""

    def capabilities(self, address: str, caps: Capabilities) -> None:
        """Show what the device is."""

    def telemetry(self, sample: Telemetry) -> None:
        """Show one telemetry sample."""

    def finished(self, samples: int, duration_s: float) -> None:
        """The telemetry window is over."""


class JsonOutput:
    """JSON lines on stdout, flushed one by one."""

    def _line(self, obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def capabilities(self, address: str, caps: Capabilities) -> None:
        """One capabilities line."""
        self._line(capabilities_dict(address, caps))

    def telemetry(self, sample: Telemetry) -> None:
        """One telemetry line."""
        self._line(telemetry_dict(sample))

    def finished(self, samples: int, duration_s: float) -> None:
        """Nothing more to say in JSON."""


class TableOutput:
    """A rich table of capabilities, then one telemetry row per sample as it arrives."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self._header_done = False

    def capabilities(self, address: str, caps: Capabilities) -> None:
        """A two-column table."""
        table = Table(title=f"{address}: capabilities", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        rows = (
            ("model", caps.model),
            ("serial", caps.serial),
            ("firmware", caps.firmware),
            ("protocol version", str(caps.protocol_version)),
            ("frequency range", f"{caps.freq_min_hz:g}-{caps.freq_max_hz:g} Hz"),
            ("force max", f"{caps.force_max_n:g} N"),
            ("features", ", ".join(feature_names(caps.features)) or "none"),
            ("watchdog granted", f"{caps.watchdog_ms} ms "
             f"(device allows {caps.watchdog_min_ms}-{caps.watchdog_max_ms} ms)"),
            ("telemetry rate", f"{caps.telemetry_hz} Hz (max {caps.telemetry_max_hz} Hz)"),
            ("max program steps", str(caps.max_program_steps)),
        )  # fmt: skip
        for name, value in rows:
            table.add_row(name, value)
        self.console.print(table)

    def telemetry(self, sample: Telemetry) -> None:
        """One row; the header before the first."""
        if not self._header_done:
            self._header_done = True
            header = _ROW.format("device s", "Hz", "N", "contact", "battery %", "temp °C", "state")
            self.console.print(header, style="bold")
        row = (
            f"{sample.device_time_ms / 1000:.3f}", f"{sample.freq_hz:.2f}",
            f"{sample.force_n:.1f}", "yes" if sample.contact else "no",
            str(sample.battery_pct), f"{sample.motor_temp_c:.1f}", sample.state.name.lower(),
        )  # fmt: skip
        self.console.print(_ROW.format(*row))

    def finished(self, samples: int, duration_s: float) -> None:
        """A closing line."""
        self.console.print(f"{samples} telemetry samples in {duration_s:g} s", style="dim")


async def watch_telemetry(client: DeviceClient, duration_s: float, out: ProbeOutput) -> int:
    """Show telemetry for `duration_s` while heartbeating; ProbeError if the link drops."""
    stream = client.telemetry()
    lost: list[ConnectionState] = []

    def on_state(old: ConnectionState, new: ConnectionState) -> None:
        if new in _GONE:
            lost.append(new)
            stream.close()

    unsubscribe = client.subscribe_state(on_state)
    beat = asyncio.create_task(run_heartbeat(client))
    count = 0
    try:
        async with asyncio.timeout(duration_s):
            async for sample in stream:
                out.telemetry(sample)
                count += 1
    except TimeoutError:
        pass
    finally:
        unsubscribe()
        stream.close()
        beat.cancel()
        await asyncio.wait([beat])
    if lost:
        cause = f" ({client.last_error})" if client.last_error else ""
        raise ProbeError(f"link lost during the probe after {count} samples{cause}")
    return count


async def spin_up(client: DeviceClient, spin: Spin) -> None:
    """Run the motor at the requested rate with a gentle pressure band for the hand."""
    cap_n = spin.force_n + SPIN_CAP_MARGIN_N
    if client.capabilities is not None:
        cap_n = min(cap_n, client.capabilities.force_max_n)
    await client.set_output(
        spin.freq_hz,
        force_target_n=spin.force_n,
        force_tolerance_n=SPIN_TOLERANCE_N,
        force_cap_n=cap_n,
        force_ramp_n_per_s=SPIN_RAMP_N_PER_S,
    )
    await client.start()


async def probe(
    address: DeviceAddress,
    duration_s: float,
    out: ProbeOutput,
    options: dict[str, Any],
    spin: Spin | None = None,
) -> None:
    """Connect, show the capabilities, optionally spin the motor, watch telemetry, close."""
    client = await open_client(address, reconnect=False, **options)
    if address.scheme == "sim":
        sys.stderr.write("tpdevice probe: using the built-in simulator (in process)\n")
    try:
        out.capabilities(address.text, client.capabilities)
        if spin is not None:
            await spin_up(client, spin)
        samples = await watch_telemetry(client, duration_s, out) if duration_s > 0 else 0
        if spin is not None:
            await client.stop(StopReason.USER)
        out.finished(samples, duration_s)
    finally:
        await client.close()  # sends STOP first if the motor still runs


def run(
    address: str,
    duration_s: float,
    json_out: bool,
    *,
    watchdog_ms: int = 1000,
    telemetry_hz: int = 20,
    loop: str | None = None,
    spin: Spin | None = None,
) -> None:
    """Probe one address; every failure is a TpDeviceError (one line, non-zero exit)."""
    parsed = parse_address(address)
    out: ProbeOutput = JsonOutput() if json_out else TableOutput()
    options = {"watchdog_ms": watchdog_ms, "telemetry_hz": telemetry_hz}
    run_on_loop(probe(parsed, duration_s, out, options, spin), resolve_loop_name(loop))
