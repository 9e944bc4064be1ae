"""Device address parsing: every accepted form and every rejection message."""

from __future__ import annotations

import pytest

from tpdevice.errors import TpDeviceError
from tpdevice.transport import (
    AddressError,
    DeviceAddress,
    TransportError,
    open_transport,
    parse_address,
)
from tpdevice.transport.serial import SerialTransport
from tpdevice.transport.tcp import TcpTransport

FORMS = "sim, serial:///dev/PORT, tcp://HOST:PORT, ble://AA:BB:CC:DD:EE:FF, ble://name=NAME"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sim", {"scheme": "sim", "driver": "native"}),
        ("sim://", {"scheme": "sim"}),
        ("SIM", {"scheme": "sim"}),
        ("sim?driver=theragun", {"scheme": "sim", "driver": "theragun"}),
        ("sim://?driver=native", {"scheme": "sim", "driver": "native"}),
        ("serial:///dev/ttyUSB0", {"scheme": "serial", "path": "/dev/ttyUSB0", "baud": 115200}),
        ("serial:///dev/ttyACM1?baud=921600", {"path": "/dev/ttyACM1", "baud": 921600}),
        (
            "serial:///dev/ttyUSB0?baud=9600&driver=theragun",
            {"baud": 9600, "driver": "theragun", "params": {"baud": "9600", "driver": "theragun"}},
        ),
        ("tcp://127.0.0.1:5555", {"scheme": "tcp", "host": "127.0.0.1", "port": 5555}),
        ("tcp://gun-3.local:1", {"host": "gun-3.local", "port": 1}),
        ("tcp://[::1]:65535", {"host": "::1", "port": 65535}),
        ("ble://aa:bb:cc:dd:ee:0f", {"scheme": "ble", "ble_address": "AA:BB:CC:DD:EE:0F"}),
        ("ble://name=Pro", {"ble_name": "Pro", "ble_address": None}),
        ("ble://name=Pro?driver=theragun", {"ble_name": "Pro", "driver": "theragun"}),
        (
            "ble://12345678-9abc-def0-1234-56789abcdef0",
            {"ble_address": "12345678-9ABC-DEF0-1234-56789ABCDEF0"},
        ),
        ("  tcp://h:2  ", {"host": "h", "port": 2, "text": "tcp://h:2"}),
        (f"tcp://{'x' * 63}.lan.:9", {"host": f"{'x' * 63}.lan.", "port": 9}),
        ("sim?id=2", {"scheme": "sim", "sim_id": 2, "device_id": "sim-2"}),
        ("sim", {"sim_id": None, "device_id": "sim"}),
        ("tcp://h:2", {"device_id": "tcp://h:2"}),
    ],
)
def test_parse_accepts(text: str, expected: dict[str, object]) -> None:
    address = parse_address(text)
    for name, value in expected.items():
        actual = getattr(address, name)
        assert (dict(actual) if name == "params" else actual) == value, name
    assert str(address) == text.strip()


def test_address_is_frozen_and_hashable() -> None:
    address = parse_address("tcp://h:2")
    assert address == parse_address("tcp://h:2")
    assert hash(address) == hash(parse_address("tcp://h:2"))
    with pytest.raises(AttributeError):
        address.port = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f"'': empty device address (known forms: {FORMS})"),
        ("udp://h:1", f"udp://h:1: unknown scheme 'udp' (known forms: {FORMS})"),
        ("kitchen-gun", f"kitchen-gun: no scheme (known forms: {FORMS})"),
        ("/dev/ttyUSB0", "/dev/ttyUSB0: no scheme; for a serial port write serial:///dev/ttyUSB0"),
        ("sim://x", "sim://x: sim takes no path (use sim, sim?id=N or sim?driver=...)"),
        ("serial://", "serial://: missing device path (expected serial:///dev/ttyUSB0)"),
        (
            "serial://dev/ttyUSB0",
            "serial://dev/ttyUSB0: device path must be absolute (expected serial:///dev/ttyUSB0)",
        ),
        (
            "serial:///dev/ttyS0?baud=fast",
            "serial:///dev/ttyS0?baud=fast: baud 'fast' is not an integer",
        ),
        ("serial:///dev/ttyS0?baud=", "serial:///dev/ttyS0?baud=: baud '' is not an integer"),
        (
            "serial:///dev/ttyS0?baud=12345",
            "serial:///dev/ttyS0?baud=12345: unsupported baud 12345"
            " (standard rates: 1200..4000000, e.g. 115200)",
        ),
        (
            "serial:///dev/ttyS0?baud=9600&baud=19200",
            "serial:///dev/ttyS0?baud=9600&baud=19200: query key 'baud' given twice",
        ),
        (
            "serial:///dev/ttyS0?parity=E",
            "serial:///dev/ttyS0?parity=E: unknown query key 'parity' for serial"
            " (known: baud, driver)",
        ),
        (
            "tcp://h:1?baud=9600",
            "tcp://h:1?baud=9600: unknown query key 'baud' for tcp (known: driver)",
        ),
        ("sim?x", "sim?x: malformed query 'x' (expected key=value&...)"),
        ("tcp://host", "tcp://host: missing port (expected tcp://host:port)"),
        ("tcp://host:", "tcp://host:: missing port (expected tcp://host:port)"),
        ("tcp://:80", "tcp://:80: missing host (expected tcp://host:port)"),
        ("tcp://", "tcp://: missing port (expected tcp://host:port)"),
        ("tcp://h:http", "tcp://h:http: port 'http' is not an integer"),
        ("tcp://h:0", "tcp://h:0: port 0 out of range 1..65535"),
        ("tcp://h:65536", "tcp://h:65536: port 65536 out of range 1..65535"),
        ("tcp://h:1/x", "tcp://h:1/x: unexpected path after host:port (expected tcp://host:port)"),
        (
            "ble://",
            "ble://: missing BLE address (expected ble://AA:BB:CC:DD:EE:FF or ble://name=Pro)",
        ),
        (
            "ble://AA:BB:CC:DD:EE",
            "ble://AA:BB:CC:DD:EE: bad BLE MAC 'AA:BB:CC:DD:EE'"
            " (expected six hex pairs like AA:BB:CC:DD:EE:FF, or name=NAME)",
        ),
        (
            "ble://GG:BB:CC:DD:EE:FF",
            "ble://GG:BB:CC:DD:EE:FF: bad BLE MAC 'GG:BB:CC:DD:EE:FF'"
            " (expected six hex pairs like AA:BB:CC:DD:EE:FF, or name=NAME)",
        ),
        ("ble://name=", "ble://name=: empty BLE name (expected ble://name=Pro)"),
        ("sim?driver=bose", "sim?driver=bose: unknown driver 'bose' (known: native, theragun)"),
        ("tcp://h:1\x00", "tcp://h:1\\x00: address contains control characters"),
        ("tcp://a..b:1", "tcp://a..b:1: host 'a..b' has an empty label (between dots)"),
        ("tcp://.a:1", "tcp://.a:1: host '.a' has an empty label (between dots)"),
        (
            f"tcp://{'x' * 64}.lan:1",
            f"tcp://{'x' * 64}.lan:1: host '{'x' * 64}.lan' has a label longer than 63 characters",
        ),
        (
            f"tcp://{'a.' * 127}b:1",
            f"tcp://{'a.' * 127}b:1: host name '{'a.' * 127}b' longer than 253 characters",
        ),
        ("sim?id=0", "sim?id=0: sim id 0 out of range 1..65535"),
        ("sim?id=two", "sim?id=two: sim id 'two' is not an integer"),
        ("sim?id=1&id=2", "sim?id=1&id=2: query key 'id' given twice"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(AddressError) as caught:
        parse_address(text)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, TpDeviceError)


def test_open_transport_builds_serial_and_tcp() -> None:
    serial_transport = open_transport(parse_address("serial:///dev/ttyX?baud=9600"))
    assert isinstance(serial_transport, SerialTransport)
    assert (serial_transport.path, serial_transport.baud) == ("/dev/ttyX", 9600)
    assert serial_transport.address == "serial:///dev/ttyX?baud=9600"
    tcp_transport = open_transport(parse_address("tcp://[::1]:7"))
    assert isinstance(tcp_transport, TcpTransport)
    assert (tcp_transport.host, tcp_transport.port) == ("::1", 7)
    assert not tcp_transport.is_open


def test_open_transport_refuses_sim() -> None:
    with pytest.raises(TransportError, match=r"^sim: sim is opened by the device layer"):
        open_transport(parse_address("sim"))
    with pytest.raises(TransportError, match="incomplete tcp address"):
        open_transport(DeviceAddress("tcp", "tcp://?"))
