"""A real MQTT broker for tests: mosquitto with its own config when installed, amqtt otherwise.

Each broker gets a free port and a private folder; it can be killed and restarted on the same
port. Tests that need mosquitto's password and ACL files skip on amqtt, unless
TPDEVICE_REQUIRE_MOSQUITTO=1 (CI) turns that skip into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest
from asyncapi_contract import contract_problems

from tpdevice.mqtt.settings import MqttSettings

# Users of the mosquitto broker: an integrator may read everything, only the operator may command.
USERS = {"operator": "operator-secret", "reader": "reader-secret"}
_ACL = """\
user operator
topic readwrite #

user reader
topic read #
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_mosquitto(needs: str = "mosquitto's password and ACL files") -> None:
    """Skip the calling test without mosquitto, or fail where CI demands mosquitto."""
    if shutil.which("mosquitto") is None:
        if os.environ.get("TPDEVICE_REQUIRE_MOSQUITTO") == "1":
            pytest.fail("mosquitto is required here (TPDEVICE_REQUIRE_MOSQUITTO=1) but not found")
        pytest.skip(f"needs {needs} (amqtt fallback broker in use)")


@dataclass
class Broker:
    """One broker process on 127.0.0.1:port."""

    folder: Path
    port: int = field(default_factory=free_port)
    kind: str = field(default_factory=lambda: "mosquitto" if shutil.which("mosquitto") else "amqtt")
    process: subprocess.Popen[bytes] | None = None
    # With TLS files (CA, server certificate, server key), a second listener speaks mqtts://;
    # it asks clients for a certificate signed by that CA too (besides user and password).
    tls_files: tuple[Path, Path, Path] | None = None
    tls_port: int = field(default_factory=free_port)

    @property
    def authenticated(self) -> bool:
        """True when the broker checks passwords and ACLs (mosquitto)."""
        return self.kind == "mosquitto"

    def url(self, user: str = "operator") -> str:
        """An mqtt:// URL for `user` (credentials only where the broker checks them)."""
        if not self.authenticated:  # amqtt speaks MQTT 3.1.1 only
            return f"mqtt://127.0.0.1:{self.port}?protocol=3.1.1"
        return f"mqtt://{user}:{USERS[user]}@127.0.0.1:{self.port}"

    def tls_url(self, ca: Path, user: str = "operator") -> str:
        """An mqtts:// URL to the TLS listener for `user`, trusting the CA file `ca`."""
        return f"mqtts://{user}:{USERS[user]}@localhost:{self.tls_port}?ca={ca}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        argv = self._mosquitto_argv() if self.kind == "mosquitto" else self._amqtt_argv()
        log = (self.folder / "broker.log").open("ab")
        self.process = subprocess.Popen(argv, stdout=log, stderr=log, cwd=self.folder)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited: {(self.folder / 'broker.log').read_text()}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"{self.kind} did not listen on {self.port} within 10 s")

    def kill(self) -> None:
        """SIGKILL the broker: clients see the connection drop, no clean disconnect."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def _mosquitto_argv(self) -> list[str]:
        passwords = self.folder / "passwords"
        passwords.write_text("")
        for user, password in USERS.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True)
        (self.folder / "acl").write_text(_ACL)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {passwords}",
            f"acl_file {self.folder / 'acl'}",
            "persistence false",
            "set_tcp_nodelay true",
            "max_queued_messages 0",
        ]
        if self.tls_files is not None:
            ca, cert, key = self.tls_files
            lines += [f"listener {self.tls_port} 127.0.0.1", f"cafile {ca}",
                      f"certfile {cert}", f"keyfile {key}", "require_certificate true"]  # fmt: skip
        if os.geteuid() == 0:
            lines.append("user root")
        config = self.folder / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return ["mosquitto", "-c", str(config)]

    def _amqtt_argv(self) -> list[str]:
        config = self.folder / "amqtt.yaml"
        config.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
        )
        amqtt = Path(sys.executable).with_name("amqtt")
        return [str(amqtt), "-c", str(config)]


class Subscriber:
    """A test's own MQTT client collecting every message on some filters (reconnects on demand)."""

    def __init__(self, broker: Broker, *filters: str) -> None:
        self.broker = broker
        self.filters = filters
        self.messages: list[tuple[str, bytes, bool]] = []  # (topic, payload, retained)
        self.contract_problems: list[str] = []  # payloads docs/asyncapi.yaml does not allow
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        """Connect and subscribe; returns once the broker acknowledged the subscriptions."""
        self._subscribed.clear()
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        """Disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
            self._task = None
        self._check_contract()

    async def wait_for(self, count: int, topic_part: str = "", timeout_s: float = 10) -> None:
        """Until at least `count` messages whose topic contains topic_part arrived."""
        deadline = time.monotonic() + timeout_s
        while sum(topic_part in t for t, _, _ in self.messages) < count:
            self._check_contract()
            if time.monotonic() > deadline:
                got = sum(topic_part in t for t, _, _ in self.messages)
                raise AssertionError(f"{got} of {count} messages on *{topic_part}*")
            await asyncio.sleep(0.01)
        self._check_contract()

    def _check_contract(self) -> None:
        """Every message the daemon sent so far is valid by docs/asyncapi.yaml."""
        assert not self.contract_problems, "\n".join(self.contract_problems)

    async def _run(self) -> None:
        async with client_for(self.broker.url("reader")) as client:
            for topic_filter in self.filters:
                await client.subscribe(topic_filter, qos=1)
            self._subscribed.set()
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                self.messages.append((str(message.topic), payload, bool(message.retain)))
                self.contract_problems += contract_problems(str(message.topic), payload)


def client_for(url: str) -> aiomqtt.Client:
    """A plain aiomqtt client (not the daemon's link) for the broker at `url`."""
    settings = MqttSettings.from_url(url)
    protocol = (
        aiomqtt.ProtocolVersion.V5 if settings.protocol == 5 else aiomqtt.ProtocolVersion.V311
    )
    return aiomqtt.Client(
        settings.host, settings.port, username=settings.username,
        password=settings.password, protocol=protocol,
    )  # fmt: skip


async def publish(broker: Broker, messages: dict[str, bytes], *, retain: bool = False) -> None:
    """Publish each topic's payload at QoS 1 as the operator."""
    async with client_for(broker.url()) as client:
        for topic, payload in messages.items():
            await client.publish(topic, payload, qos=1, retain=retain)
