"""The daemon with its MQTT bridge on a real broker: a session's every event, in order."""

from __future__ import annotations

import json
from pathlib import Path

from daemon_run import running_daemon, until_session
from mqtt_broker import Broker, Subscriber

from tpdevice.mqtt.extension import mqtt_extension


async def test_an_integrator_sees_every_event_of_a_session_in_order(
    broker: Broker, tmp_path: Path
) -> None:
    url = broker.url() + ("&" if "?" in broker.url() else "?") + "node=clinic"
    subscriber = Subscriber(broker, "tpdevice/+/+/events", "tpdevice/clinic/sim-1")
    await subscriber.start()
    extensions = [mqtt_extension(url)]
    async with running_daemon(tmp_path, guns=1, extensions=extensions) as (_, http):
        reply = await http.post(
            "/v1/sessions", json={"device": "sim-1", "profile": "upper-trapezius", "side": "left"}
        )
        session_id = reply.json()["id"]
        await until_session(http, session_id, "completed")
        await subscriber.wait_for(1, "/events")
        journaled = (await http.get("/v1/sessions")).json()
        assert journaled[0]["state"] == "completed"
    await subscriber.stop()
    events = [json.loads(p) for t, p, _ in subscriber.messages if t.endswith("/sim-1/events")]
    seqs = list(dict.fromkeys(e["device_seq"] for e in events))  # QoS 1 may repeat one
    assert seqs == list(range(1, len(seqs) + 1))
    assert events[0]["type"] == "session.started" and events[-1]["type"] == "session.completed"
    assert {e["session_id"] for e in events} == {session_id}
    states = [json.loads(p) for t, p, _ in subscriber.messages if t == "tpdevice/clinic/sim-1"]
    assert any(state["session"] for state in states)  # the retained state carried the session
    assert states[-1]["state"] == "ready" and states[-1]["session"] is None
