"""Broker URLs: what is accepted, and one clear line naming the bad part otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdevice.mqtt.settings import MqttSettings, MqttSettingsError
from tpdevice.mqtt.topics import Topics


def test_a_full_url_is_understood(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    settings = MqttSettings.from_url(
        f"mqtts://op%40clinic:s3cr%2Ft@broker.local?client_id=tp-1&protocol=3.1.1&node=room-2&ca={ca}"
    )
    assert (settings.host, settings.port, settings.tls) == ("broker.local", 8883, True)
    assert (settings.username, settings.password) == ("op@clinic", "s3cr/t")
    assert (settings.client_id, settings.protocol, settings.node, settings.ca) == (
        "tp-1", 4, "room-2", ca,
    )  # fmt: skip


def test_the_password_never_shows() -> None:
    settings = MqttSettings.from_url("mqtt://op:hunter2@h:1884")
    assert "hunter2" not in repr(settings)
    assert settings.safe_url == "mqtt://op@h:1884"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h", "the scheme must be mqtt:// or mqtts://"),
        ("mqtt://", "no broker host"),
        ("mqtt://h:99999", "the port must be 1..65535"),
        ("mqtt://h?colour=red", "unknown option 'colour'"),
        ("mqtt://h?protocol=4", "protocol=4: use 5 or 3.1.1"),
        ("mqtt://h?keepalive_s=1", "keepalive_s=1: use 5..3600"),
        ("mqtt://h?node=a/b", "node='a/b': empty or has + # /"),
        ("mqtt://h?node=", "node='': empty or has + # /"),
        ("mqtts://h?ca=/nonexistent/ca.pem", "ca=/nonexistent/ca.pem: no such file"),
        ("mqtt://u:topsecret@h?node=#", "mqtt://u:***@h?node=#"),
    ],
)
def test_a_bad_url_names_the_bad_part(url: str, message: str) -> None:
    with pytest.raises(MqttSettingsError) as caught:
        MqttSettings.from_url(url)
    assert message in str(caught.value)
    assert "topsecret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_topics_follow_the_documented_tree() -> None:
    topics = Topics("room-2")
    assert topics.bridge("state") == "tpdevice/room-2/bridge/state"
    assert topics.device("gun-1", "events") == "tpdevice/room-2/gun-1/events"
    assert topics.device("gun-1") == "tpdevice/room-2/gun-1"
    assert topics.response_for("tpdevice/room-2/gun-1/request/start") == (
        "tpdevice/room-2/gun-1/response/start"
    )
    assert topics.response_for("tpdevice/room-2/bridge/request/stop_all") == (
        "tpdevice/room-2/bridge/response/stop_all"
    )
    assert topics.response_for("tpdevice/room-3/gun-1/request/start") is None
    assert topics.response_for("tpdevice/room-2/gun-1/request/") is None
