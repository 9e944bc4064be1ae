"""Where `tpdevice run --device X` runs: a configured gun id through the running daemon (or at
its configured address when no daemon runs), an address standalone unless the daemon holds it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tpdevice.cli.errors import CliError
from tpdevice.transport import AddressError, DeviceAddress, parse_address

__all__ = ["route", "run_on_daemon"]


def route(device: str | None) -> tuple[str | None, str | None]:
    """(the address to run standalone, or the daemon's gun id to run through it)."""
    if device is None:
        return None, None
    try:
        address = parse_address(device)
    except AddressError as err:
        return _by_id(device, err)
    if address.scheme != "sim":  # the built-in simulator lives in each process: nothing shared
        _refuse_if_held(address)
    return device, None


def _daemon_devices() -> list[dict[str, Any]] | None:
    """The running daemon's guns; None when no daemon runs (nothing imported then)."""
    from tpdevice.cli.daemon_client import socket_path

    if not socket_path().exists():
        return None
    from tpdevice.cli.daemon_client import DaemonClient, NoDaemonError

    client = DaemonClient()
    try:
        devices: list[dict[str, Any]] = client.get("/v1/devices")
    except NoDaemonError:
        return None
    finally:
        client.close()
    return devices


def _by_id(device_id: str, not_an_address: AddressError) -> tuple[str | None, str | None]:
    devices = _daemon_devices()
    if devices is not None:
        if any(d["id"] == device_id for d in devices):
            return None, device_id
        known = ", ".join(d["id"] for d in devices) or "none"
        raise CliError(
            f"--device: the running daemon has no gun {device_id!r} (its guns: {known});"
            f" an address? {not_an_address}"
        )
    from tpdevice.daemon.config import load_config
    from tpdevice.daemon.config_edit import default_config_path

    path = default_config_path()
    configured = load_config(path).device(device_id) if path.is_file() else None
    if configured is None:
        raise CliError(f"--device: {not_an_address}; nor is it a gun id in {path}")
    sys.stderr.write(
        f"tpdevice run: no daemon is running: {device_id} runs here at {configured.address}\n"
    )
    return configured.address, None


def _same_gun(a: DeviceAddress, b: DeviceAddress) -> bool:
    def key(x: DeviceAddress) -> tuple[Any, ...]:
        return (x.scheme, x.path, x.host, x.port, (x.ble_address or "").upper(), x.ble_name)

    return key(a) == key(b)


def _refuse_if_held(address: DeviceAddress) -> None:
    """Two controllers on one gun would fight: the daemon's gun runs through the daemon."""
    for device in _daemon_devices() or ():
        try:
            held = parse_address(device["address"])
        except AddressError:
            continue
        if _same_gun(address, held):
            raise CliError(
                f"--device: the daemon drives {address.text} as {device['id']}"
                f" (use --device {device['id']}: two controllers on one gun would fight)"
            )


def run_on_daemon(
    device_id: str, profile_id: str, side: str | None, *, json_out: bool, yes: bool,
    time_scale: float, mode: str, intensity_pct: float, profiles_dirs: list[Path],
) -> None:  # fmt: skip
    """Run through the daemon with `run`'s view, summary and exit codes."""
    from tpdevice.cli.run_cmd import SIDES, load_run_profile

    if side is not None and side not in SIDES:
        raise CliError(f"--side: {side!r} is not one of {', '.join(SIDES)}")
    for option, given in (
        ("--time-scale", time_scale != 1.0), ("--mode", mode != "auto"),
        ("--intensity", intensity_pct != 100.0), ("--profiles-dir", bool(profiles_dirs)),
    ):  # fmt: skip
        if given:
            raise CliError(
                f"{option}: {device_id} runs through the daemon, which decides this itself"
                " (leave the option out)"
            )
    profile = load_run_profile(profile_id, (), side)
    follow(device_id, profile, side, json_out=json_out, confirm=True, yes=yes)


def follow(
    device_id: str, profile: Any, side: str | None, *, json_out: bool, confirm: bool = False,
    yes: bool = False, pseudonym: str | None = None, override: str | None = None,
    socket: Path | None = None,
) -> None:  # fmt: skip
    """Start `profile` on the daemon's gun and show it to its end like `run`."""
    from tpdevice.cli.remote_run import RemoteRun, follow_on_daemon
    from tpdevice.cli.run_output import JsonRunOutput, LiveRunOutput, RunOutput

    out: RunOutput = JsonRunOutput() if json_out else LiveRunOutput()
    settings = RemoteRun(
        device_id, profile, side, pseudonym, override, confirm=confirm, yes=yes, socket=socket
    )
    follow_on_daemon(settings, out)
