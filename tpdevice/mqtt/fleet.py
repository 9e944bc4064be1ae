"""Every daemon's guns on one broker, read from the retained messages they publish."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import aiomqtt

from tpdevice.errors import TpDeviceError
from tpdevice.mqtt.settings import MqttSettings

__all__ = ["FleetError", "FleetGun", "read_fleet"]

# Non-overlapping filters: the broker delivers each retained message once.
FILTERS = (
    "tpdevice/+/bridge/state",
    "tpdevice/+/bridge/devices",
    "tpdevice/+/+",
    "tpdevice/+/+/availability",
)


class FleetError(TpDeviceError):
    """The broker could not be read: unreachable, refused the login, or timed out."""


@dataclasses.dataclass(frozen=True, slots=True)
class FleetGun:
    """One gun of one daemon (node), as its retained messages describe it."""

    node: str
    id: str
    name: str
    driver: str
    state: str  # the link state from the gun's state topic, "unknown" without one
    availability: str  # online | offline (offline whenever its daemon is offline)
    address: str = ""
    model: str | None = None
    firmware: str | None = None
    battery_pct: float | None = None
    session_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The gun as JSON-ready fields."""
        return dataclasses.asdict(self)


async def read_fleet(
    settings: MqttSettings, *, quiet_s: float = 0.5, max_s: float = 5.0
) -> list[FleetGun]:
    """Collect retained messages until `quiet_s` pass without one (at most `max_s`)."""
    retained: dict[str, bytes] = {}
    try:
        async with _client(settings) as client:
            for topic_filter in FILTERS:
                await client.subscribe(topic_filter, qos=1)
            await _collect(client, retained, quiet_s, max_s)
    except aiomqtt.MqttError as err:
        raise FleetError(f"{settings.safe_url}: {err}") from None
    except OSError as err:  # TLS files or sockets paho hands through as they are
        raise FleetError(f"{settings.safe_url}: {err.strerror or err}") from None
    return guns_of(retained)


def _client(settings: MqttSettings) -> aiomqtt.Client:
    return aiomqtt.Client(
        settings.host, settings.port, username=settings.username, password=settings.password,
        identifier=settings.client_id or None, keepalive=settings.keepalive_s, timeout=10,
        protocol=aiomqtt.ProtocolVersion.V5 if settings.protocol == 5
        else aiomqtt.ProtocolVersion.V311,
        tls_context=settings.tls_context(),
    )  # fmt: skip


async def _collect(
    client: aiomqtt.Client, retained: dict[str, bytes], quiet_s: float, max_s: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline_s = loop.time() + max_s
    messages = aiter(client.messages)
    while (left_s := deadline_s - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(anext(messages), min(quiet_s, left_s))
        except TimeoutError:
            return
        payload = message.payload if isinstance(message.payload, bytes) else b""
        if payload:
            retained[str(message.topic)] = payload
        else:  # an empty retained message clears the topic
            retained.pop(str(message.topic), None)


def guns_of(retained: dict[str, bytes]) -> list[FleetGun]:
    """The guns every node's `bridge/devices` lists, with their state and availability."""
    guns = []
    for topic, payload in sorted(retained.items()):
        parts = topic.split("/")
        if len(parts) != 4 or parts[2:] != ["bridge", "devices"]:
            continue
        base = f"tpdevice/{parts[1]}"
        node_online = _field(retained.get(f"{base}/bridge/state"), "state") == "online"
        entries = _json(payload)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                guns.append(_gun(parts[1], entry, retained, node_online))
    return guns


def _gun(node: str, entry: dict[str, Any], retained: dict[str, bytes], online: bool) -> FleetGun:
    base = f"tpdevice/{node}/{entry['id']}"
    state = _json(retained.get(base))
    state = state if isinstance(state, dict) else {}
    availability = _field(retained.get(f"{base}/availability"), "state") if online else None
    return FleetGun(
        node=node, id=entry["id"], name=str(entry.get("name") or ""),
        driver=str(entry.get("driver") or ""), state=str(state.get("state") or "unknown"),
        availability="online" if availability == "online" else "offline",
        address=str(entry.get("address") or ""), model=entry.get("model"),
        firmware=entry.get("firmware"), battery_pct=state.get("battery_pct"),
        session_id=state.get("session_id"),
    )  # fmt: skip


def _json(payload: bytes | None) -> Any:
    """The payload as JSON; None when it is missing or not JSON (another client's message)."""
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return None


def _field(payload: bytes | None, name: str) -> Any:
    body = _json(payload)
    return body.get(name) if isinstance(body, dict) else None
