"""Device address strings (`sim`, `serial://`, `tcp://`, `ble://`) and opening them."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import parse_qsl

from tpdevice.transport.base import Transport
from tpdevice.transport.errors import AddressError, TransportError
from tpdevice.transport.registry import DEFAULT_DRIVER, get_driver, registered

__all__ = [
    "DEFAULT_BAUD",
    "STANDARD_BAUDS",
    "DeviceAddress",
    "Driver",
    "Scheme",
    "open_transport",
    "parse_address",
]

Scheme = Literal["sim", "serial", "tcp", "ble"]
Driver = str  # a registered driver's name (tpdevice.transport.registry)

DEFAULT_BAUD = 115200
STANDARD_BAUDS = (
    *(1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000),
    *(921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000),
)

_SCHEMES: tuple[str, ...] = get_args(Scheme)
_QUERY_KEYS: dict[str, frozenset[str]] = {
    "sim": frozenset({"driver", "id"}),
    "serial": frozenset({"baud", "driver"}),
    "tcp": frozenset({"driver"}),
    "ble": frozenset({"driver", "hci", "mtu"}),
}  # and the options of each driver that accepts the scheme
_KNOWN_FORMS = "sim, serial:///dev/PORT, tcp://HOST:PORT, ble://AA:BB:CC:DD:EE:FF, ble://name=NAME"
SIM_ID_MAX = 65535
_HOST_LABEL_MAX = 63
_HOST_NAME_MAX = 253
_MAC_RE = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
# CoreBluetooth (macOS) names peripherals by UUID instead of MAC.
_UUID_RE = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


@dataclass(frozen=True)
class DeviceAddress:
    """A parsed device address; `text` is what the user typed, for messages."""

    scheme: Scheme
    text: str
    path: str | None = None
    host: str | None = None
    port: int | None = None
    baud: int = DEFAULT_BAUD
    ble_address: str | None = None
    ble_name: str | None = None
    driver: Driver = DEFAULT_DRIVER
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    sim_id: int | None = None

    def __str__(self) -> str:
        return self.text

    @property
    def device_id(self) -> str:
        """A stable name for the gun: `sim-2` for `sim?id=2`, else the address as typed."""
        if self.scheme == "sim":
            return "sim" if self.sim_id is None else f"sim-{self.sim_id}"
        return self.text


class _Parts:
    """The pieces of an address while it is being parsed."""

    def __init__(self, text: str, scheme: str, body: str, query: dict[str, str]) -> None:
        self.text, self.scheme, self.body, self.query = text, scheme, body, query

    def fail(self, what: str) -> AddressError:
        """An AddressError naming this address."""
        return AddressError(f"{self.text}: {what}")


def parse_address(text: str) -> DeviceAddress:
    """Parse a user-typed device address; raise AddressError (one line) on any fault."""
    parts = _split(text)
    driver = _driver(parts)
    params = types.MappingProxyType(dict(parts.query))
    if parts.scheme == "sim":
        if parts.body:
            raise parts.fail("sim takes no path (use sim, sim?id=N or sim?driver=...)")
        return DeviceAddress("sim", parts.text, driver=driver, params=params, sim_id=_sim_id(parts))
    if parts.scheme == "serial":
        path, baud = _serial_path(parts), _baud(parts)
        return DeviceAddress(
            "serial", parts.text, path=path, baud=baud, driver=driver, params=params
        )
    if parts.scheme == "tcp":
        host, port = _host_port(parts)
        return DeviceAddress("tcp", parts.text, host=host, port=port, driver=driver, params=params)
    mac, name = _ble_target(parts)
    _ble_query(parts)
    return DeviceAddress(
        "ble", parts.text, ble_address=mac, ble_name=name, driver=driver, params=params
    )


def open_transport(address: DeviceAddress) -> Transport:
    """Build the (unopened) transport for a serial, tcp or ble address."""
    # Imported here: parsing an address (every `run`) must not pay for pyserial or BLE.
    if address.scheme == "serial" and address.path is not None:
        from tpdevice.transport.serial import SerialTransport

        return SerialTransport(address.path, address.baud, address=address.text)
    if address.scheme == "tcp" and address.host is not None and address.port is not None:
        from tpdevice.transport.tcp import TcpTransport

        return TcpTransport(address.host, address.port, address=address.text)
    if address.scheme == "ble":
        from tpdevice.transport.ble import ble_transport_for

        return ble_transport_for(address)
    if address.scheme == "sim":
        raise TransportError(
            f"{address.text}: sim is opened by the device layer (tpdevice.device), "
            "not by open_transport"
        )
    raise TransportError(f"{address.text}: incomplete {address.scheme} address")


def _split(text: str) -> _Parts:
    """Split `scheme://body?query` (or `sim?query`) and check the scheme and query keys."""
    shown = _printable(text.strip())
    if not shown:
        raise AddressError(f"{text!r}: empty device address (known forms: {_KNOWN_FORMS})")
    if shown != text.strip():
        raise AddressError(f"{shown}: address contains control characters")
    scheme, sep, rest = shown.partition("://")
    if not sep:
        scheme, _, query = shown.partition("?")
        rest = "?" + query if query else ""
        if scheme.lower() != "sim":
            raise AddressError(f"{shown}: {_unknown_scheme_hint(shown)}")
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise AddressError(f"{shown}: unknown scheme {scheme!r} (known forms: {_KNOWN_FORMS})")
    body, _, query_text = rest.partition("?")
    parts = _Parts(shown, scheme, body, {})
    parts.query = _query(parts, query_text)
    return parts


def _unknown_scheme_hint(text: str) -> str:
    """Explain a scheme-less address, guessing what was meant when that is easy."""
    if text.startswith("/"):
        return f"no scheme; for a serial port write serial://{text}"
    return f"no scheme (known forms: {_KNOWN_FORMS})"


def _query(parts: _Parts, query_text: str) -> dict[str, str]:
    """Parse `k=v&k=v`, rejecting malformed pairs, duplicates and keys this scheme lacks."""
    if not query_text:
        return {}
    try:
        pairs = parse_qsl(query_text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise parts.fail(f"malformed query {query_text!r} (expected key=value&...)") from None
    allowed = _QUERY_KEYS[parts.scheme].union(
        *(spec.options for spec in registered() if parts.scheme in spec.schemes)
    )
    query: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise parts.fail(f"unknown query key {key!r} for {parts.scheme} (known: {known})")
        if key in query:
            raise parts.fail(f"query key {key!r} given twice")
        query[key] = value
    return query


def _driver(parts: _Parts) -> Driver:
    """The `driver=` query value (a registered driver), default the native one."""
    return get_driver(parts.query.get("driver", DEFAULT_DRIVER), where=parts.text).name


def _sim_id(parts: _Parts) -> int | None:
    """The `id=` of a sim address (1..65535), naming one of several in-process guns."""
    text = parts.query.get("id")
    if text is None:
        return None
    if not _is_decimal(text):
        raise parts.fail(f"sim id {text!r} is not an integer")
    if not 1 <= int(text) <= SIM_ID_MAX:
        raise parts.fail(f"sim id {int(text)} out of range 1..{SIM_ID_MAX}")
    return int(text)


def _serial_path(parts: _Parts) -> str:
    """The device path of `serial:///dev/...`."""
    if not parts.body:
        raise parts.fail("missing device path (expected serial:///dev/ttyUSB0)")
    if not parts.body.startswith("/"):
        raise parts.fail(f"device path must be absolute (expected serial:///{parts.body})")
    return parts.body


def _baud(parts: _Parts) -> int:
    """The `baud=` query value, default 115200, restricted to standard rates."""
    text = parts.query.get("baud")
    if text is None:
        return DEFAULT_BAUD
    if not _is_decimal(text):
        raise parts.fail(f"baud {text!r} is not an integer")
    baud = int(text)
    if baud not in STANDARD_BAUDS:
        raise parts.fail(f"unsupported baud {baud} (standard rates: 1200..4000000, e.g. 115200)")
    return baud


def _host_port(parts: _Parts) -> tuple[str, int]:
    """The host and port of `tcp://host:port` (IPv6 hosts in brackets)."""
    body = parts.body
    if "/" in body:
        raise parts.fail("unexpected path after host:port (expected tcp://host:port)")
    host, sep, port_text = body.rpartition(":")
    if not sep or host.endswith(":") or (host.startswith("[") != host.endswith("]")):
        raise parts.fail("missing port (expected tcp://host:port)")
    host = host[1:-1] if host.startswith("[") else host
    if not host:
        raise parts.fail("missing host (expected tcp://host:port)")
    if ":" not in host:
        _check_host_name(parts, host)
    if not port_text:
        raise parts.fail("missing port (expected tcp://host:port)")
    if not _is_decimal(port_text):
        raise parts.fail(f"port {port_text!r} is not an integer")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise parts.fail(f"port {port} out of range 1..65535")
    return host, port


def _check_host_name(parts: _Parts, host: str) -> None:
    """A host name resolvers accept: labels of 1..63 characters, 253 in all (one final dot ok)."""
    name = host.removesuffix(".")
    if len(name) > _HOST_NAME_MAX:
        raise parts.fail(f"host name {host!r} longer than {_HOST_NAME_MAX} characters")
    for label in name.split("."):
        if not label:
            raise parts.fail(f"host {host!r} has an empty label (between dots)")
        if len(label) > _HOST_LABEL_MAX:
            raise parts.fail(f"host {host!r} has a label longer than {_HOST_LABEL_MAX} characters")


def _ble_target(parts: _Parts) -> tuple[str | None, str | None]:
    """(MAC, None) for `ble://AA:BB:..`, (None, name) for `ble://name=NAME`."""
    body = parts.body
    if body.startswith("name="):
        name = body.removeprefix("name=")
        if not name:
            raise parts.fail("empty BLE name (expected ble://name=Pro)")
        return None, name
    if not body:
        raise parts.fail("missing BLE address (expected ble://AA:BB:CC:DD:EE:FF or ble://name=Pro)")
    if _MAC_RE.fullmatch(body) or _UUID_RE.fullmatch(body):
        return body.upper(), None
    raise parts.fail(
        f"bad BLE MAC {body!r} (expected six hex pairs like AA:BB:CC:DD:EE:FF, or name=NAME)"
    )


def _ble_query(parts: _Parts) -> None:
    """Check `hci=` (a bumble transport spec, non-empty) and `mtu=` (23..517)."""
    if "hci" in parts.query and not parts.query["hci"].strip():
        raise parts.fail("empty hci (expected e.g. hci=tcp-client:127.0.0.1:9001 or hci=usb:0)")
    text = parts.query.get("mtu")
    if text is None:
        return
    if not _is_decimal(text):
        raise parts.fail(f"mtu {text!r} is not an integer")
    if not 23 <= int(text) <= 517:
        raise parts.fail(f"mtu {int(text)} out of range 23..517")


def _printable(text: str) -> str:
    """The text with control characters escaped, so messages stay on one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _is_decimal(text: str) -> bool:
    """True for plain ASCII digits (str.isdigit also accepts other scripts' digits)."""
    return text.isascii() and text.isdigit()
