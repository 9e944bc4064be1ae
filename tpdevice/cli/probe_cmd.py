"""`tpdevice probe ADDR`: connect, show the capabilities and a few seconds of telemetry.

Any driver: a gun without a handshake shows the capabilities its client synthesizes; what
its driver does not measure (DriverSpec.unmeasured) is null in JSON and `-` in the table.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.cli.run_output import PipeConsole, output_error
from tpdevice.device import ConnectionState, open_gun, run_heartbeat
from tpdevice.device.api import GunClient, TelemetryPolling
from tpdevice.errors import TpDeviceError
from tpdevice.protocol import NO_STEP, Capabilities, Feature, StopReason, Telemetry
from tpdevice.transport import DeviceAddress, get_driver, parse_address
from tpdevice.units import NOT_MEASURED, range_with_unit, with_unit

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


def capabilities_dict(address: str, caps: Capabilities, driver: str) -> dict[str, Any]:
    """The capabilities as one JSON-ready object."""
    return {
        "type": "capabilities",
        "address": address,
        "driver": driver,
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


def telemetry_dict(sample: Telemetry, unmeasured: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One telemetry sample as a JSON-ready object; `unmeasured` fields are None."""
    values: dict[str, Any] = {
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
    for name in unmeasured:
        values[name] = None
    return values


class ProbeOutput(Protocol):
    """Where the probe's findings go."""

    def capabilities(self, address: str, caps: Capabilities, driver: str) -> None:
        """Show what the device is (and remember which telemetry fields it cannot measure)."""

    def telemetry(self, sample: Telemetry) -> None:
        """Show one telemetry sample."""

    def finished(self, samples: int, duration_s: float) -> None:
        """The telemetry window is over."""


class JsonOutput:
    """JSON lines on stdout, flushed one by one."""

    def __init__(self) -> None:
        self._unmeasured: frozenset[str] = frozenset()

    def _line(self, obj: dict[str, Any]) -> None:
        try:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()
        except OSError as err:  # a reader that went away: one line, as `run` says it
            raise output_error(err) from None

    def capabilities(self, address: str, caps: Capabilities, driver: str) -> None:
        """One capabilities line."""
        self._unmeasured = get_driver(driver).unmeasured
        self._line(capabilities_dict(address, caps, driver))

    def telemetry(self, sample: Telemetry) -> None:
        """One telemetry line."""
        self._line(telemetry_dict(sample, self._unmeasured))

    def finished(self, samples: int, duration_s: float) -> None:
        """Nothing more to say in JSON."""


class TableOutput:
    """A rich table of capabilities, then one telemetry row per sample as it arrives."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or PipeConsole(highlight=False)
        self._header_done = False
        self._unmeasured: frozenset[str] = frozenset()

    def capabilities(self, address: str, caps: Capabilities, driver: str) -> None:
        """A two-column table."""
        self._unmeasured = get_driver(driver).unmeasured
        table = Table(title=f"{address}: capabilities", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        allowed_ms = range_with_unit(caps.watchdog_min_ms, caps.watchdog_max_ms, "ms")
        rows = (
            ("driver", driver),
            ("model", caps.model),
            ("serial", caps.serial),
            ("firmware", caps.firmware),
            ("protocol version", str(caps.protocol_version)),
            ("frequency range", range_with_unit(caps.freq_min_hz, caps.freq_max_hz, "Hz")),
            ("force max", _force_max_text(caps, self._unmeasured)),
            ("features", ", ".join(feature_names(caps.features)) or "none"),
            ("watchdog granted", f"{caps.watchdog_ms} ms (device allows {allowed_ms})"),
            ("telemetry rate", _telemetry_rate_text(caps)),
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
        cells = {
            "force_n": f"{sample.force_n:.1f}", "contact": "yes" if sample.contact else "no",
            "battery_pct": str(sample.battery_pct), "motor_temp_c": f"{sample.motor_temp_c:.1f}",
        }  # fmt: skip
        for name in self._unmeasured:
            cells[name] = "-"
        row = (
            f"{sample.device_time_ms / 1000:.3f}", f"{sample.freq_hz:.1f}", cells["force_n"],
            cells["contact"], cells["battery_pct"], cells["motor_temp_c"],
            sample.state.name.lower(),
        )  # fmt: skip
        self.console.print(_ROW.format(*row))

    def finished(self, samples: int, duration_s: float) -> None:
        """A closing line."""
        self.console.print(f"{samples} telemetry samples in {duration_s:g} s", style="dim")


def _force_max_text(caps: Capabilities, unmeasured: frozenset[str]) -> str:
    """'150 N', or 'not measured' for a gun without a force reading."""
    if caps.force_max_n <= 0 or "force_n" in unmeasured:
        return NOT_MEASURED
    return with_unit(caps.force_max_n, "N")


def _telemetry_rate_text(caps: Capabilities) -> str:
    """'20 Hz (up to 50 Hz)', or what a gun that streams nothing gives instead."""
    if caps.telemetry_hz <= 0:
        return "none streamed (status polled with each heartbeat)"
    return f"{with_unit(caps.telemetry_hz, 'Hz')} (up to {with_unit(caps.telemetry_max_hz, 'Hz')})"


async def watch_telemetry(
    client: GunClient, duration_s: float, out: ProbeOutput, *, beat: bool = False
) -> int:
    """Show telemetry for `duration_s`; ProbeError if the link drops.

    `beat` (the probe started the motor) holds the heartbeat; otherwise the probe never
    feeds a watchdog: a motor some other host started stops when that host goes away.
    """
    stream = client.telemetry()
    lost: list[ConnectionState] = []

    def on_state(old: ConnectionState, new: ConnectionState) -> None:
        if new in _GONE:
            lost.append(new)
            stream.close()

    unsubscribe = client.subscribe_state(on_state)
    helper = run_heartbeat(client, owner="probe") if beat else poll_telemetry(client)
    beater = asyncio.create_task(helper)
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
        beater.cancel()
        await asyncio.wait([beater])
    if lost:
        last_error = getattr(client, "last_error", None)
        cause = f" ({last_error})" if last_error else ""
        raise ProbeError(f"link lost during the probe after {count} samples{cause}")
    return count


async def poll_telemetry(client: GunClient) -> None:
    """Ask a gun that reports only when asked for telemetry, at the heartbeat's pace."""
    if not isinstance(client, TelemetryPolling):
        return
    while client.state is not ConnectionState.CLOSED:
        client.poll_telemetry()
        await asyncio.sleep(client.heartbeat.interval_s)


async def spin_up(client: GunClient, spin: Spin) -> None:
    """Run the motor at the requested rate with a gentle pressure band for the hand.

    (A gun without a force sensor takes the band as a cue and sends only the rate.)
    """
    cap_n = min(spin.force_n + SPIN_CAP_MARGIN_N, client.capabilities.force_max_n)
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
    """Connect, show the capabilities, optionally spin the motor, watch telemetry, close.

    A gun that reports only when asked is asked at the heartbeat's pace: that is its telemetry.
    """
    client = await open_gun(address, reconnect=False, poll_status=True, **options)
    if address.scheme == "sim":
        sys.stderr.write("tpdevice probe: using the built-in simulator (in process)\n")
    try:
        out.capabilities(address.text, client.capabilities, client.identity.driver)
        if spin is not None:
            await spin_up(client, spin)
        spinning = spin is not None
        samples = (
            await watch_telemetry(client, duration_s, out, beat=spinning) if duration_s > 0 else 0
        )
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
