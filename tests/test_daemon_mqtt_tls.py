"""The daemon on `mqtts://`: certificates made by trustme (the broker's, and the daemon's own as
a client), a session's events over TLS, and a broker whose certificate the configured CA did
not sign refused in one clear line."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cli_helpers import run_main
from daemon_run import running_daemon, until_session
from mqtt_broker import USERS, Broker, Subscriber, require_mosquitto

from tpdevice.mqtt.extension import mqtt_extension


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    """Mosquitto with a TLS listener whose certificate our own CA signed; yields it and the CA."""
    require_mosquitto("mosquitto's TLS listener asking for client certificates")
    folder = tmp_path / "tls-broker"
    folder.mkdir()
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    files = (folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(files[0]))
    server.cert_chain_pems[0].write_to_path(str(files[1]))
    server.private_key_pem.write_to_path(str(files[2]))
    client = ca.issue_cert("tpdevice-daemon")
    client.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    client.private_key_pem.write_to_path(str(folder / "client.key"))
    broker = Broker(folder, tls_files=files)
    broker.start()
    try:
        yield broker, files[0]
    finally:
        broker.kill()


async def test_a_session_s_events_travel_over_tls(
    tls_broker: tuple[Broker, Path], tmp_path: Path
) -> None:
    broker, ca = tls_broker
    subscriber = Subscriber(broker, "tpdevice/tls/sim-1/events")
    await subscriber.start()
    client = f"&cert={ca.parent / 'client.pem'}&key={ca.parent / 'client.key'}"
    extensions = [mqtt_extension(broker.tls_url(ca) + client + "&node=tls")]
    async with running_daemon(tmp_path, guns=1, extensions=extensions) as (_, http):
        reply = await http.post(
            "/v1/sessions", json={"device": "sim-1", "profile": "upper-trapezius", "side": "left"}
        )
        await until_session(http, reply.json()["id"], "completed")
        await subscriber.wait_for(1)
        while json.loads(subscriber.messages[-1][1])["type"] != "session.completed":
            await subscriber.wait_for(len(subscriber.messages) + 1)
    await subscriber.stop()
    events = [json.loads(payload) for _, payload, _ in subscriber.messages]
    seqs = list(dict.fromkeys(event["device_seq"] for event in events))
    assert seqs == list(range(1, len(seqs) + 1))
    assert events[0]["type"] == "session.started"


async def test_a_broker_signed_by_another_ca_is_refused_in_one_line(
    tls_broker: tuple[Broker, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker, _ = tls_broker
    stranger = tmp_path / "stranger-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    extensions = [mqtt_extension(broker.tls_url(stranger))]
    with caplog.at_level(logging.WARNING, logger="tpdevice.mqtt"):
        async with running_daemon(tmp_path, guns=1, extensions=extensions) as _:
            while not any("certificate" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110 - logging has no event
                await asyncio.sleep(0.02)
    refusals = [r for r in caplog.records if r.name.startswith("tpdevice.mqtt")]
    line = refusals[0].getMessage()
    assert "certificate verify failed" in line.lower() and "\n" not in line, line
    assert all(r.exc_info is None for r in refusals)
    assert not any(USERS["operator"] in r.getMessage() for r in caplog.records)


def test_a_client_key_of_another_certificate_stops_the_daemon_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert("tpdevice-daemon").cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    trustme.CA().issue_cert("x").private_key_pem.write_to_path(str(tmp_path / "c.key"))
    url = f"mqtts://127.0.0.1:1?ca={tmp_path}/ca.pem&cert={tmp_path}/c.pem&key={tmp_path}/c.key"
    socket = tmp_path / "api.sock"
    argv = ("daemon", "--sim", "1", "--mqtt", url, "--socket", str(socket))
    code, out, err = run_main(capsys, *argv)
    assert (code, out) == (2, "")
    assert err == (
        f"tpdevice: error: --mqtt: mqtts://127.0.0.1:1: cert={tmp_path}/c.pem,"
        f" key={tmp_path}/c.key: key values mismatch\n"
    )
    assert not socket.exists()
