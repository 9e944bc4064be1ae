"""docs/asyncapi.yaml: a valid AsyncAPI 3 document naming every topic the bridge uses, exactly."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from asyncapi_contract import (
    asyncapi3_schema,
    channel_of,
    channels,
    contract_problems,
    document,
    resolve,
)

from tpdevice.mqtt.link import OFFLINE, ONLINE
from tpdevice.mqtt.topics import Topics

TOPICS = Topics("node-a")


def _spec_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(asyncapi3_schema())
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_the_document_is_valid_asyncapi_3() -> None:
    assert document()["asyncapi"] == "3.0.0"
    assert _spec_errors(document()) == []


def test_the_schema_check_catches_a_bad_mqtt_binding() -> None:
    broken = copy.deepcopy(document())
    broken["servers"]["broker"]["bindings"]["mqtt"]["lastWill"]["qos"] = 3
    broken["operations"]["sendDeviceEvents"]["bindings"]["mqtt"]["retain"] = "no"
    assert len(_spec_errors(broken)) == 2


def test_every_reference_resolves_and_every_payload_schema_is_draft_07() -> None:
    for ref in _refs(document()):
        assert ref.startswith("#/"), ref
        resolve(ref)  # a KeyError names the dangling reference
    for channel in channels():
        jsonschema.Draft7Validator.check_schema(channel.validator.schema)


def test_the_last_will_is_what_the_link_leaves() -> None:
    will = document()["servers"]["broker"]["bindings"]["mqtt"]["lastWill"]
    assert will["topic"] == "tpdevice/{node}/bridge/state"
    assert (will["qos"], will["retain"]) == (1, True)
    assert json.loads(will["message"]) == json.loads(OFFLINE)
    assert contract_problems(TOPICS.bridge("state"), ONLINE) == []


@pytest.mark.parametrize(
    ("topic", "name"),
    [
        (TOPICS.bridge("state"), "bridgeState"),
        (TOPICS.bridge("info"), "bridgeInfo"),
        (TOPICS.bridge("devices"), "bridgeDevices"),
        (TOPICS.device("gun-1"), "deviceState"),
        (TOPICS.device("gun-1", "availability"), "deviceAvailability"),
        (TOPICS.device("gun-1", "telemetry"), "deviceTelemetry"),
        (TOPICS.device("gun-1", "events"), "deviceEvents"),
        (TOPICS.device("gun-1", "request/start"), "deviceRequest"),
        (TOPICS.response_for(TOPICS.device("gun-1", "request/stop")), "deviceResponse"),
        (TOPICS.bridge("request/stop_all"), "bridgeRequest"),
        (TOPICS.response_for(TOPICS.bridge("request/status")), "bridgeResponse"),
        ("homeassistant/device/tpdevice_node_a_gun_1/config", "homeAssistantConfig"),
        ("homeassistant/status", "homeAssistantStatus"),
    ],
)
def test_every_topic_of_the_bridge_has_its_channel(topic: str | None, name: str) -> None:
    assert topic is not None
    channel = channel_of(topic)
    assert channel is not None and channel.name == name


def test_the_request_filter_covers_exactly_the_request_channels() -> None:
    (request_filter,) = TOPICS.request_filters()
    assert request_filter == "tpdevice/node-a/+/request/+"
    requests = {c.name for c in channels() if "request" in c.pattern.pattern}
    assert requests == {"deviceRequest", "bridgeRequest"}


def test_a_payload_off_the_contract_is_named_with_its_field() -> None:
    topic = TOPICS.device("gun-1", "availability")
    assert contract_problems(topic, b'{"state":"online"}') == []
    (problem,) = contract_problems(topic, b'{"state":"maybe"}')
    assert problem.startswith(f"{topic} (deviceAvailability): state: 'maybe'")
    assert contract_problems(topic, b"") == []  # a retained topic cleared
    assert contract_problems(TOPICS.device("gun-1", "events"), b"") != []
    assert contract_problems("tpdevice/node-a/gun-1/what/ever", b"{}") != []
    assert contract_problems(TOPICS.device("gun-1", "request/start"), b"not json") == []
