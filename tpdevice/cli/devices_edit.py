"""`tpdevice devices add|remove` and `scan --add`: the config file edited, the daemon told live."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tpdevice.cli.daemon_client import DaemonClient, DaemonRefusedError, NoDaemonError
from tpdevice.cli.errors import CliError
from tpdevice.daemon.config import DeviceConfig, load_config
from tpdevice.daemon.config_edit import (
    add_device_to_file,
    default_config_path,
    remove_device_from_file,
)
from tpdevice.transport.ble_scan import ScanResult

__all__ = ["add_device", "add_scanned", "id_from_name", "remove_device"]

_ID_MAX = 32


def device_config(device_id: str, address: str, name: str, auto_connect: bool) -> DeviceConfig:
    """The gun as the config holds it; CliError naming the option that is wrong."""
    try:
        return DeviceConfig(id=device_id, name=name, address=address, auto_connect=auto_connect)
    except ValidationError as err:
        problem = err.errors(include_url=False)[0]
        field = str(problem["loc"][0]) if problem["loc"] else "device"
        message = str(problem["msg"]).removeprefix("Value error, ")
        if field == "id":
            message = "use 1-32 lower-case letters, digits, - and _ (starting with a letter/digit)"
        label = {"id": "ID", "address": "ADDRESS"}.get(field, f"--{field.replace('_', '-')}")
        value = str(problem["input"])
        if not message.startswith(value):
            message = f"{value!r}: {message}"
        raise CliError(f"{label}: {message}") from None


def _daemon_view(
    client: DaemonClient, config: Path | None
) -> tuple[Path, list[dict[str, Any]] | None]:
    """The config file to edit and the running daemon's guns (None when no daemon runs).

    A running daemon keeps its guns in one file: that one is edited, so a gun added now is
    still there when the daemon next starts; another --config is refused.
    """
    try:
        devices: list[dict[str, Any]] = client.get("/v1/devices")
    except NoDaemonError:
        return config or default_config_path(), None
    kept = client.get("/v1/daemon").get("config")
    if kept is None:
        return config or default_config_path(), devices
    if config is not None and config.absolute() != Path(kept):
        raise CliError(
            f"--config: the running daemon keeps its guns in {kept}, not {config}:"
            " give that file (or no --config), or stop the daemon first"
        )
    return Path(kept), devices


def add_device(device: DeviceConfig, config: Path | None, socket: Path | None) -> None:
    """Write the gun into the config; the running daemon adopts it at once."""
    client = DaemonClient(socket)
    try:
        path, live = _daemon_view(client, config)
        for other in [*(d.model_dump() for d in _configured(path)), *(live or ())]:
            if device.id == other["id"] or device.address == other["address"]:
                raise CliError(
                    f"{other['address']} is already configured as {other['id']}"
                    if device.address == other["address"]
                    else f"a gun with id {device.id!r} is already configured ({other['address']})"
                )
        add_device_to_file(path, device)
        if live is None:
            print(f"added {device.id} ({device.address}) to {path}; the daemon is not running")
            return
        try:
            client.post("/v1/devices", device.model_dump(mode="json"))
        except DaemonRefusedError as err:
            raise DaemonRefusedError(
                f"added {device.id} to {path}, but the daemon refused it: {err}"
            ) from None
        print(f"added {device.id} ({device.address}) to {path}; the daemon drives it now")
    finally:
        client.close()


def remove_device(device_id: str, config: Path | None, socket: Path | None) -> None:
    """Take the gun out of the config; the running daemon drops it (never mid-session)."""
    client = DaemonClient(socket)
    try:
        path, live = _daemon_view(client, config)
        held = next((d for d in live or () if d["id"] == device_id), None)
        if held is not None and held.get("session_id"):
            raise CliError(
                f"{device_id} is running session {held['session_id']}: stop it first"
                f" (tpdevice session stop {held['session_id']})"
            )
        in_file = _in_file(path, device_id)
        if held is None and not in_file:
            raise CliError(f"no gun {device_id!r} in {path} or the running daemon")
        if held is not None:  # first: the daemon refuses a gun that a session just took
            client.delete(f"/v1/devices/{device_id}")
        if in_file:
            remove_device_from_file(path, device_id)
        where = f"removed {device_id} from {path}" if in_file else f"{device_id} is not in {path}"
        tail = "the daemon is not running" if live is None else "the daemon dropped it"
        print(f"{where}; {tail}")
    finally:
        client.close()


def _in_file(path: Path, device_id: str) -> bool:
    return path.is_file() and load_config(path).device(device_id) is not None


def id_from_name(name: str | None, taken: set[str]) -> str:
    """A config id from an advertised name (`tpdevice-SIM-0007` -> tpdevice-sim-0007), unique."""
    base = re.sub(r"[^a-z0-9_-]+", "-", (name or "gun").lower()).strip("-_")[:_ID_MAX] or "gun"
    candidate, number = base, 2
    while candidate in taken:
        suffix = f"-{number}"
        candidate, number = base[: _ID_MAX - len(suffix)] + suffix, number + 1
    return candidate


def add_scanned(
    results: Sequence[ScanResult], device_id: str | None, config: Path | None,
    socket: Path | None,
) -> None:  # fmt: skip
    """Add every gun heard (each named after its advertised name), or the one heard as --id."""
    if not results:
        raise CliError("--add: no guns heard, nothing to add")
    if device_id is not None and len(results) != 1:
        names = ", ".join(r.name or r.address for r in results)
        raise CliError(f"--id: {len(results)} guns heard ({names}); --id names exactly one")
    client = DaemonClient(socket)
    try:
        path, _ = _daemon_view(client, config)
    finally:
        client.close()
    configured = _configured(path)
    taken = {d.id for d in configured}
    known = {d.address for d in configured}
    for result in results:
        if result.url in known:
            print(f"{result.url} is already configured")
            continue
        chosen = device_id or id_from_name(result.name, taken)
        taken.add(chosen)
        device = device_config(chosen, result.url, (result.name or "")[:64], True)
        add_device(device, path, socket)


def _configured(path: Path) -> list[DeviceConfig]:
    return list(load_config(path).devices) if path.is_file() else []
