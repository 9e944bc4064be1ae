"""`tpdevice devices scan|list`: guns heard over BLE, the configured ones, every node's on MQTT."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tpdevice.cli.bench_loop import resolve_loop_name, run_on_loop
from tpdevice.cli.errors import CliError
from tpdevice.transport.ble import HCI_ENV
from tpdevice.transport.ble_scan import ScanResult, scan

__all__ = ["list_devices", "list_mqtt_devices", "render_table", "run_scan"]


def run_scan(timeout_s: float, hci: str | None, json_out: bool) -> list[ScanResult]:
    """Scan for `timeout_s`, print the guns heard (a table, or one JSON array), return them."""
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise CliError(f"--timeout: {timeout_s:g} must be a number of seconds > 0")
    spec = _hci_spec(hci)
    if not json_out:
        where = f"HCI {spec}" if spec else "the system Bluetooth adapter"
        sys.stderr.write(f"tpdevice devices scan: listening {timeout_s:g} s on {where}\n")
    results = run_on_loop(scan(timeout_s, spec), resolve_loop_name(None))
    if json_out:
        sys.stdout.write(json.dumps([result.as_dict() for result in results]) + "\n")
        return results
    render_table(results, timeout_s, Console(highlight=False))
    return results


def _hci_spec(hci: str | None) -> str | None:
    """--hci, else TPDEVICE_BLE_HCI, else None (the platform adapter)."""
    if hci is not None:
        if not hci.strip():
            raise CliError("--hci: empty HCI spec (e.g. tcp-client:127.0.0.1:9001 or usb:0)")
        return hci.strip()
    return os.environ.get(HCI_ENV, "").strip() or None


def render_table(results: Sequence[ScanResult], timeout_s: float, console: Console) -> None:
    """The guns as a table, then the address to use for each on one unwrapped line."""
    if not results:
        console.print(f"no guns heard within {timeout_s:g} s")
        return
    table = Table(title="guns heard over BLE", title_justify="left")
    for column in ("name", "address", "RSSI", "driver"):
        table.add_column(column, justify="right" if column == "RSSI" else "left", no_wrap=True)
    for result in results:
        table.add_row(result.name or "?", result.address, f"{result.rssi} dBm", result.driver)
    console.print(table)
    # A table column would wrap or cut a long URL; on lines of their own they copy whole.
    console.print("use as:")
    width = max(len(result.name or "?") for result in results)
    for result in results:
        line = f"  {result.name or '?':<{width}}  {result.url}"
        console.print(line, soft_wrap=True, markup=False)


def list_devices(json_out: bool, socket: Path | None = None) -> None:
    """The running daemon's guns: id, name, driver, state, battery, firmware, holder."""
    from tpdevice.cli.daemon_client import DaemonClient

    devices = DaemonClient(socket).get("/v1/devices")
    if json_out:
        sys.stdout.write(json.dumps(devices) + "\n")
        return
    if not devices:
        sys.stderr.write(
            "tpdevice devices: the daemon drives no guns (tpdevice devices add ID ADDRESS)\n"
        )
        return
    table = Table(title="guns of the daemon", title_justify="left")
    for column in ("id", "name", "driver", "state", "battery", "firmware", "session"):
        table.add_column(column, no_wrap=column in ("id", "state"))
    for device in devices:
        battery = device.get("battery_pct")
        table.add_row(
            device["id"], device["name"], device["driver"] or "-", device["state"],
            "-" if battery is None else f"{battery:.0f} %", device.get("firmware") or "-",
            device.get("session_id") or "-",
        )  # fmt: skip
    Console(highlight=False).print(table)
    for device in devices:
        if device.get("last_error"):
            sys.stderr.write(f"{device['id']}: {device['last_error']}\n")


def list_mqtt_devices(url: str, json_out: bool) -> None:
    """Every daemon's guns on the broker at `url`, from their retained messages."""
    from tpdevice.mqtt.fleet import read_fleet
    from tpdevice.mqtt.settings import MqttSettings, MqttSettingsError

    try:
        settings = MqttSettings.from_url(url)
    except MqttSettingsError as err:
        raise CliError(f"--mqtt: {err}") from None
    guns = run_on_loop(read_fleet(settings), resolve_loop_name(None))
    if json_out:
        sys.stdout.write(json.dumps([gun.as_dict() for gun in guns]) + "\n")
        return
    if not guns:
        sys.stderr.write(f"tpdevice devices: no daemon publishes guns on {settings.safe_url}\n")
        return
    table = Table(title=f"guns on {settings.safe_url}", title_justify="left")
    for column in ("node", "id", "name", "driver", "state", "availability"):
        table.add_column(column, no_wrap=column in ("node", "id", "state"))
    for gun in guns:
        table.add_row(gun.node, gun.id, gun.name, gun.driver or "-", gun.state, gun.availability)
    Console(highlight=False).print(table)
