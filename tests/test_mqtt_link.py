"""The broker link: online on connect, offline by last will when the process dies, reconnects."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

import pytest
from mqtt_broker import Broker, Subscriber
from paho.mqtt import client as paho_client
from paho.mqtt.properties import Properties

from tpdevice.mqtt.link import LinkState, MqttLink
from tpdevice.mqtt.settings import MqttSettings
from tpdevice.mqtt.topics import Topics

_LINK_PROCESS = """
import asyncio, sys
from tpdevice.mqtt.link import MqttLink
from tpdevice.mqtt.settings import MqttSettings
from tpdevice.mqtt.topics import Topics

async def main():
    link = MqttLink(MqttSettings.from_url(sys.argv[1]), Topics("node-k"))
    task = asyncio.create_task(link.run())
    await link.connected.wait()
    print("connected", flush=True)
    await task

asyncio.run(main())
"""


def _states(subscriber: Subscriber) -> list[str]:
    return [json.loads(p)["state"] for t, p, _ in subscriber.messages if t.endswith("/state")]


async def test_a_killed_daemon_goes_offline_by_its_last_will(broker: Broker) -> None:
    subscriber = Subscriber(broker, "tpdevice/node-k/bridge/state")
    await subscriber.start()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _LINK_PROCESS, broker.url(), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 10) == b"connected\n"
        await subscriber.wait_for(1, "/state")
        process.send_signal(signal.SIGKILL)
        await subscriber.wait_for(2, "/state")
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    await subscriber.stop()
    assert _states(subscriber) == ["online", "offline"]


async def test_the_link_comes_back_after_the_broker_does(broker: Broker) -> None:
    reconnected = asyncio.Event()
    connects = 0

    async def on_connected() -> None:
        nonlocal connects
        connects += 1
        if connects == 2:
            reconnected.set()

    link = MqttLink(
        MqttSettings.from_url(broker.url()), Topics("node-r"), on_connected=on_connected,
        backoff_s=(0.05, 0.2),
    )  # fmt: skip
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        broker.kill()
        await asyncio.sleep(0.3)  # a few refused attempts while it is away
        assert link.state is not LinkState.CONNECTED
        broker.start()
        await asyncio.wait_for(reconnected.wait(), 10)
        assert (link.state, link.reconnects) == (LinkState.CONNECTED, 1)
        retained = Subscriber(broker, "tpdevice/node-r/bridge/state")
        await retained.start()
        await retained.wait_for(1, "/state")
        await retained.stop()
        assert retained.messages[0][2] is True  # retained: a late subscriber sees it at once
        assert _states(retained) == ["online"]
    finally:
        await link.close()
        await task


async def test_a_packet_leaves_in_the_publishing_call_not_loop_turns_later(broker: Broker) -> None:
    subscriber = Subscriber(broker, "test/node-w/t")
    await subscriber.start()
    link = MqttLink(MqttSettings.from_url(broker.url()), Topics("node-w"))
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        for n in range(20):
            publishing = link.publish("test/node-w/t", str(n).encode())
            # Written to the socket inside the call: a QoS 0 publish completes without once
            # handing control back to the loop (a socket writer would need two loop turns).
            with pytest.raises(StopIteration):
                publishing.send(None)
        await subscriber.wait_for(20)
        assert [payload for _, payload, _ in subscriber.messages] == [
            str(n).encode() for n in range(20)
        ]
    finally:
        await subscriber.stop()
        await link.close()
        await task


async def test_a_qos0_packet_written_at_once_costs_paho_no_callback_objects(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []
    real: Any = Properties

    def counting(packet_type: int) -> Any:
        built.append(packet_type)
        return real(packet_type)

    monkeypatch.setattr(paho_client, "Properties", counting)
    subscriber = Subscriber(broker, "test/node-p/t")
    await subscriber.start()
    link = MqttLink(MqttSettings.from_url(broker.url()), Topics("node-p"))
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        built.clear()
        for n in range(10):
            await link.publish("test/node-p/t", str(n).encode())
        assert built == []
        await link.publish("test/node-p/t", b"acked", qos=1)  # confirmed by its PUBACK
        await subscriber.wait_for(11)
    finally:
        await subscriber.stop()
        await link.close()
        await task
