"""Two daemons (nodes north and south) on one real broker: one view of both, commands kept apart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from daemon_run import running_daemon, until_session
from mqtt_broker import Broker, Subscriber, publish

from tpdevice.mqtt.extension import mqtt_extension

START = json.dumps({"profile": "upper-trapezius", "side": "left", "transaction": 7}).encode()


def _node_url(broker: Broker, node: str) -> str:
    return broker.url() + ("&" if "?" in broker.url() else "?") + f"node={node}"


@contextlib.asynccontextmanager
async def _two_daemons(broker: Broker, folder: Path) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Daemons north and south, two simulated guns each, both on `broker`."""
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for node in ("north", "south"):
            extensions = [mqtt_extension(_node_url(broker, node))]
            _, http = await stack.enter_async_context(
                running_daemon(folder / node, guns=2, extensions=extensions)
            )
            clients[node] = http
        yield clients


async def _start_over_mqtt(
    broker: Broker, subscriber: Subscriber, http: httpx.AsyncClient, node: str, gun: str
) -> str:
    """Start a session on NODE's GUN over MQTT; its id once its first event was published."""
    await publish(broker, {f"tpdevice/{node}/{gun}/request/start": START})
    await subscriber.wait_for(1, f"tpdevice/{node}/{gun}/response/start")
    reply = _payloads(subscriber, f"tpdevice/{node}/{gun}/response/start")[-1]
    assert (reply["status"], reply["transaction"]) == ("ok", 7), reply
    await until_session(http, reply["data"]["id"], "running", "completed")
    await subscriber.wait_for(1, f"tpdevice/{node}/{gun}/events")
    return str(reply["data"]["id"])


def _payloads(subscriber: Subscriber, topic: str) -> list[Any]:
    return [json.loads(p) for t, p, _ in subscriber.messages if t == topic]


def _event_nodes(subscriber: Subscriber) -> set[str]:
    return {t.split("/")[1] for t, _, _ in subscriber.messages if t.endswith("/events")}


async def _devices_cli(broker: Broker, *argv: str) -> tuple[int, str, str]:
    """`tpdevice devices list --mqtt URL ARGV` as a process (the daemons keep running here)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tpdevice", "devices", "list", "--mqtt", broker.url(),
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def _listed_all_online(broker: Broker, tries: int = 5) -> tuple[int, str, str]:
    """`devices list --mqtt --json` until every gun shows online (a loaded machine can have a
    gun reconnecting at the instant of one listing); the last answer either way."""
    for _ in range(tries):
        code, out, err = await _devices_cli(broker, "--json")
        if code != 0 or {g["availability"] for g in json.loads(out)} == {"online"}:
            break
        await asyncio.sleep(0.5)
    return code, out, err


async def test_two_daemons_share_a_broker_and_keep_their_commands_apart(
    broker: Broker, tmp_path: Path
) -> None:
    subscriber = Subscriber(broker, "tpdevice/+/+/events", "tpdevice/+/+/response/+")
    await subscriber.start()
    async with _two_daemons(broker, tmp_path) as http:
        north_session = await _start_over_mqtt(broker, subscriber, http["north"], "north", "sim-1")
        assert (await http["south"].get("/v1/sessions")).json() == []
        assert _event_nodes(subscriber) == {"north"}

        south_session = await _start_over_mqtt(broker, subscriber, http["south"], "south", "sim-2")
        north_sessions = (await http["north"].get("/v1/sessions")).json()
        assert [s["id"] for s in north_sessions] == [north_session]
        code, out, err = await _listed_all_online(broker)
    await subscriber.stop()
    assert _event_nodes(subscriber) == {"north", "south"}
    south_events = _payloads(subscriber, "tpdevice/south/sim-2/events")
    assert {e["session_id"] for e in south_events} == {south_session}
    assert not [t for t, _, _ in subscriber.messages if "/sim-2/" in t and "north" in t]

    assert code == 0, err
    listed = {(g["node"], g["id"]): g for g in json.loads(out)}
    assert sorted(listed) == [("north", "sim-1"), ("north", "sim-2"),
                              ("south", "sim-1"), ("south", "sim-2")]  # fmt: skip
    assert {g["availability"] for g in listed.values()} == {"online"}
    assert listed["south", "sim-1"]["state"] == "ready"
