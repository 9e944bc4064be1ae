"""The daemon's config file: a good one read whole, each mistake one line with file and line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import run_main

from tpdevice.daemon.config import ConfigError, load_config
from tpdevice.daemon.config_edit import default_config_path

GOOD = """\
node: room-2
journal: /var/lib/tpdevice/journal.sqlite3
api:
  tcp: 127.0.0.1:8765
  token_file: /etc/tpdevice/token
mqtt:
  url: mqtt://broker.local
  discovery: true
devices:
  - id: gun-1
    name: Treatment room gun
    address: serial:///dev/ttyUSB0?baud=115200
  - id: gun-2
    address: tcp://10.0.0.7:7000
    auto_connect: false
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clinic.yaml"
    path.write_text(text)
    return path


def test_a_good_config_is_read_whole(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert config.node == "room-2"
    assert [d.id for d in config.devices] == ["gun-1", "gun-2"]
    gun_2 = config.device("gun-2")
    assert gun_2 is not None and not gun_2.auto_connect
    assert config.mqtt is not None and config.mqtt.discovery
    assert config.api.tcp == "127.0.0.1:8765"


def test_an_empty_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "# nothing yet\n"))
    assert config.devices == [] and config.mqtt is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace(":7000", ""), ":14: devices[1].address = 'tcp://10.0.0.7'"),
        (GOOD.replace("id: gun-2", "id: gun-1"), ": devices[1].id = 'gun-1' is used twice"),
        (GOOD.replace("id: gun-2", "id: Gun 2"), ":13: devices[1].id = 'Gun 2'"),
        (GOOD.replace("discovery: true", "discovery: maybe"), ":8: mqtt.discovery = 'maybe'"),
        (GOOD.replace("  token_file: /etc/tpdevice/token\n", ""),
         ":3: api: a TCP listener needs token_file"),
        (GOOD.replace("node: room-2", "node: room/2"), ":1: node = 'room/2'"),
        (GOOD + "colour: blue\n", ":16: colour = 'blue': Extra inputs are not permitted"),
        (GOOD.replace("  - id: gun-2", "  - id: gun-2\n    id: gun-3"),
         ":14: invalid YAML: duplicate key 'id'"),
        ("devices: [\n", ":2: invalid YAML"),
        ("- a\n- b\n", ":1: the top level must be a mapping"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_naming_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "\n" not in message


def test_special_and_huge_files_are_refused_before_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(Path("/dev/zero"))
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"#" * (300 * 1024))
    with pytest.raises(ConfigError, match="larger than 256 kB"):
        load_config(huge)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "loop.yaml")


def test_check_says_what_a_config_holds_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, GOOD)
    code, out, err = run_main(capsys, "daemon", "--check", "--config", str(path))
    assert (code, out, err) == (0, f"{path}: ok (2 guns: gun-1, gun-2)\n", "")


def test_check_without_config_checks_the_per_user_file(capsys: pytest.CaptureFixture[str]) -> None:
    path = default_config_path()
    code, out, err = run_main(capsys, "daemon", "--check")
    assert (code, out) == (2, "")
    assert err == (
        f"tpdevice: error: --check: no config to check: {path} does not exist"
        " (give --config FILE, or add guns with tpdevice devices add)\n"
    )
    path.parent.mkdir(parents=True)
    path.write_text("devices:\n  - id: gun-9\n    address: tcp://10.0.0.9:7000\n")
    code, out, err = run_main(capsys, "daemon", "--check")
    assert (code, out, err) == (0, f"{path}: ok (1 gun: gun-9)\n", "")


def test_check_also_checks_the_broker_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, GOOD)
    code, out, err = run_main(
        capsys, "daemon", "--check", "--config", str(path), "--mqtt", "mqtts://b?ca=/no/ca.pem"
    )
    assert (code, out) == (2, "")
    assert err == "tpdevice: error: --mqtt: mqtts://b?ca=/no/ca.pem: ca=/no/ca.pem: no such file\n"
