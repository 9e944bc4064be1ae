"""The daemon's config file (YAML): guns, journal, control API, MQTT; errors name file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from tpdevice.daemon.paths import default_journal_path
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.profile_yaml import ParsedYaml, YamlProblem, parse_yaml
from tpdevice.transport.address import parse_address
from tpdevice.transport.errors import AddressError

__all__ = ["ConfigError", "DaemonConfig", "DeviceConfig", "default_journal_path", "load_config"]

MAX_CONFIG_BYTES = 256 * 1024
DeviceId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class ConfigError(TpDeviceError):
    """The config file cannot be used; the message names the file, line and field."""


def _address(text: str) -> str:
    try:
        parse_address(text)
    except AddressError as err:
        raise ValueError(str(err)) from None
    return text


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(_Model):
    """One gun the daemon drives."""

    id: DeviceId
    name: str = Field(default="", max_length=64)
    address: Annotated[str, AfterValidator(_address)]
    auto_connect: bool = True


class ApiConfig(_Model):
    """Where the control API listens: a Unix socket always; TCP only with a token file."""

    socket: Path | None = None
    tcp: str | None = Field(default=None, pattern=r"^[\w.:\[\]-]+:\d{1,5}$")
    token_file: Path | None = None

    @model_validator(mode="after")
    def _tcp_needs_a_token(self) -> ApiConfig:
        if self.tcp is not None and self.token_file is None:
            raise ValueError("a TCP listener needs token_file (commands must be authenticated)")
        return self


class MqttConfig(_Model):
    """The broker link (see the MQTT documentation for the URL's options)."""

    url: str = Field(pattern=r"^mqtts?://")
    discovery: bool = False
    telemetry_hz: float = Field(default=2.0, gt=0, le=20)


class DaemonConfig(_Model):
    """A whole config file."""

    node: str | None = Field(default=None, pattern=r"^[\w-]{1,64}$")
    journal: Path | None = None
    api: ApiConfig = ApiConfig()
    mqtt: MqttConfig | None = None
    devices: list[DeviceConfig] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> DaemonConfig:
        seen: set[str] = set()
        for index, device in enumerate(self.devices):
            if device.id in seen:
                raise ValueError(f"devices[{index}].id = {device.id!r} is used twice")
            seen.add(device.id)
        return self

    def device(self, device_id: str) -> DeviceConfig | None:
        """The configured gun with this id, if any."""
        return next((d for d in self.devices if d.id == device_id), None)


def load_config(path: Path) -> DaemonConfig:
    """Read and check a config file; ConfigError names the file, line and field."""
    parsed = _parse(path)
    try:
        return DaemonConfig.model_validate(parsed.data if parsed.data is not None else {})
    except ValidationError as err:
        raise ConfigError(_first_problem(path, parsed, err)) from None


def _parse(path: Path) -> ParsedYaml:
    try:
        info = path.stat()
        if not path.is_file():
            raise ConfigError(f"{path}: not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} kB")
        with path.open("rb") as stream:
            text = stream.read(MAX_CONFIG_BYTES + 1).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        parsed = parse_yaml(text)
    except YamlProblem as err:
        where = f"{path}:{err.line}" if err.line else str(path)
        raise ConfigError(f"{where}: {err.message}") from None
    if parsed.data is not None and not isinstance(parsed.data, dict):
        raise ConfigError(f"{path}:1: the top level must be a mapping (devices, api, mqtt, ...)")
    return parsed


def _first_problem(path: Path, parsed: ParsedYaml, err: ValidationError) -> str:
    problem = err.errors(include_url=False)[0]
    loc: tuple[Any, ...] = tuple(problem["loc"])
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    message = problem["msg"].removeprefix("Value error, ")
    where = f"{path}:{parsed.line_of(loc)}"
    value = problem["input"]
    if isinstance(value, dict | list):  # a section: its field name says enough
        return f"{where}: {field}: {message}"
    return f"{where}: {field} = {value!r}: {message}" if field else f"{where}: {message}"
