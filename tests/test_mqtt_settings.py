"""Broker URLs: what is accepted, and one clear line naming the bad part otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from tpdevice.mqtt.settings import MqttSettings, MqttSettingsError
from tpdevice.mqtt.topics import Topics


def test_a_full_url_is_understood(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
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


@pytest.fixture
def tls_files(tmp_path: Path) -> Path:
    """A CA, a client certificate and its key, a key of another certificate, and junk."""
    ca = trustme.CA()
    client = ca.issue_cert("tpdevice-daemon")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    client.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    trustme.CA().issue_cert("x").private_key_pem.write_to_path(str(tmp_path / "other.key"))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    return tmp_path


def test_usable_tls_files_give_a_context(tls_files: Path) -> None:
    query = f"ca={tls_files}/ca.pem&cert={tls_files}/client.pem&key={tls_files}/client.key"
    settings = MqttSettings.from_url(f"mqtts://broker?{query}")
    assert settings.tls_context() is not None
    assert MqttSettings.from_url("mqtt://broker").tls_context() is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("ca={d}/junk.pem", "ca={d}/junk.pem: no certificate or crl found"),
        ("ca={d}/client.key", "ca={d}/client.key: no certificate or crl found"),
        (
            "ca={d}/ca.pem&cert={d}/junk.pem&key={d}/client.key",
            "cert={d}/junk.pem, key={d}/client.key: no certificate with its private key found",
        ),
        (
            "ca={d}/ca.pem&cert={d}/client.pem&key={d}/other.key",
            "cert={d}/client.pem, key={d}/other.key: key values mismatch",
        ),
        ("ca={d}/ca.pem&cert={d}/client.pem", "cert={d}/client.pem: no certificate with its"),
        ("key={d}/client.key", "key= needs cert= beside it"),
    ],
)
def test_tls_files_tls_cannot_use_are_named_before_any_connect(
    tls_files: Path, query: str, message: str
) -> None:
    with pytest.raises(MqttSettingsError) as caught:
        MqttSettings.from_url("mqtts://op:topsecret@broker?" + query.format(d=tls_files))
    text = str(caught.value)
    assert text.startswith("mqtts://op@broker:8883: ") and message.format(d=tls_files) in text
    assert "topsecret" not in text and "\n" not in text


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
