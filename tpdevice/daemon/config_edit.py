"""Adding and removing guns in the daemon's config file: the rest of the file kept as written
(comments too, where the layout allows), replaced atomically, never losing another gun."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tpdevice.daemon.config import ConfigError, DaemonConfig, DeviceConfig, load_config

__all__ = ["add_device_to_file", "default_config_path", "remove_device_from_file"]


def default_config_path() -> Path:
    """$XDG_CONFIG_HOME/tpdevice/daemon.yaml (~/.config by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tpdevice" / "daemon.yaml"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One edit at a time: two commands adding guns at once must not lose either."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise ConfigError(f"{path}: cannot write ({err.strerror or err})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def add_device_to_file(path: Path, device: DeviceConfig) -> None:
    """Add `device` (a new file if there is none); ConfigError on a duplicate id or address."""
    with _locked(path):
        _add(path, device)


def _add(path: Path, device: DeviceConfig) -> None:
    text = _read(path) if path.exists() else ""
    config = load_config(path) if text.strip() else DaemonConfig()
    for other in config.devices:
        if other.id == device.id:
            raise ConfigError(f"{path}: a gun with id {device.id!r} is already configured")
        if other.address == device.address:
            raise ConfigError(f"{path}: {device.address} is already configured as {other.id}")
    wanted = [*config.devices, device]
    _write(path, _checked(text, _appended(text, device), wanted))


def remove_device_from_file(path: Path, device_id: str) -> DeviceConfig:
    """Remove the gun `device_id` and return it; ConfigError if the file has no such gun."""
    load_config(path)  # a missing or broken file: said before anything is created
    with _locked(path):
        return _remove(path, device_id)


def _remove(path: Path, device_id: str) -> DeviceConfig:
    config = load_config(path)
    device = config.device(device_id)
    if device is None:
        known = ", ".join(d.id for d in config.devices) or "none"
        raise ConfigError(f"{path}: no gun {device_id!r} (configured: {known})")
    text = _read(path)
    wanted = [d for d in config.devices if d.id != device_id]
    _write(path, _checked(text, _removed(text, device_id), wanted))
    return device


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = getattr(err, "strerror", None) or err
        raise ConfigError(f"{path}: cannot read ({why})") from None


def _item_text(device: DeviceConfig, column: int) -> str:
    item: dict[str, Any] = {"id": device.id}
    if device.name:
        item["name"] = device.name
    item["address"] = device.address
    if not device.auto_connect:
        item["auto_connect"] = False
    lines = yaml.safe_dump([item], sort_keys=False, allow_unicode=True).splitlines()
    return "".join(" " * column + line + "\n" for line in lines)


def _devices_node(text: str) -> tuple[MappingNode | None, Node | None]:
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return None, None
    if not isinstance(root, MappingNode):
        return None, None
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == "devices":
            return root, value
    return root, None


def _line_start(text: str, line: int) -> int:
    """The offset of 0-based `line` (len(text) past the end)."""
    offset = 0
    for _ in range(line):
        found = text.find("\n", offset)
        if found < 0:
            return len(text)
        offset = found + 1
    return offset


def _appended(text: str, device: DeviceConfig) -> str | None:
    """The text with the gun appended to the devices list; None when the layout is unusual."""
    root, devices = _devices_node(text)
    body = text if not text or text.endswith("\n") else text + "\n"
    if devices is None:
        if root is None and text.strip():
            return None
        return body + "devices:\n" + _item_text(device, 2)
    if not isinstance(devices, SequenceNode) or devices.flow_style or not devices.value:
        return None
    end = devices.value[-1].end_mark
    at = _line_start(text, end.line + (1 if end.column else 0))
    head = text[:at] if text[:at].endswith("\n") or not at else text[:at] + "\n"
    return head + _item_text(device, devices.start_mark.column) + text[at:]


def _removed(text: str, device_id: str) -> str | None:
    """The text without the gun's list item; None when the layout is unusual."""
    _, devices = _devices_node(text)
    if not isinstance(devices, SequenceNode) or devices.flow_style or len(devices.value) < 2:
        return None
    items = devices.value
    for index, item in enumerate(items):
        if _id_of(item) != device_id:
            continue
        start = _line_start(text, item.start_mark.line)
        if index + 1 < len(items):
            end = _line_start(text, items[index + 1].start_mark.line)
        else:
            mark = item.end_mark
            end = _line_start(text, mark.line + (1 if mark.column else 0))
        return text[:start] + text[end:]
    return None


def _id_of(item: Node) -> str | None:
    if isinstance(item, MappingNode):
        for key, value in item.value:
            if isinstance(key, ScalarNode) and key.value == "id" and isinstance(value, ScalarNode):
                return str(value.value)
    return None


def _checked(old: str, new: str | None, wanted: list[DeviceConfig]) -> str:
    """`new` when it reads back as `old` with exactly the `wanted` guns; else a plain rewrite."""
    old_data = _data(old)
    if new is not None:
        data = _data(new)
        if _same(data, old_data) and _devices(data) == wanted:
            return new
    devices = [d.model_dump(exclude_defaults=True, mode="json") for d in wanted]
    return yaml.safe_dump({**old_data, "devices": devices}, sort_keys=False, allow_unicode=True)


def _data(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError:
        return {"devices": "unreadable"}
    return data if isinstance(data, dict) else {"devices": "unreadable"}


def _same(data: dict[str, Any], old: dict[str, Any]) -> bool:
    """Everything but the guns unchanged."""
    return {k: v for k, v in data.items() if k != "devices"} == {
        k: v for k, v in old.items() if k != "devices"
    }


def _devices(data: dict[str, Any]) -> list[DeviceConfig] | None:
    try:
        return DaemonConfig.model_validate(data).devices
    except ValueError:
        return None


def _write(path: Path, text: str) -> None:
    """Replace the file atomically (a crash leaves the old or the new file, never half of one)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o600
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as err:
        raise ConfigError(f"{path}: cannot write ({err.strerror or err})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise ConfigError(f"{path}: cannot write ({err.strerror or err})") from None
