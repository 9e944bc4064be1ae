"""Home Assistant MQTT discovery: one device-based config message per gun (opt-in).

Every entity reads the gun's retained state topic; availability needs both the daemon and the gun
online. Start runs the profile chosen in the Profile select; Stop stops the gun's session.
"""

from __future__ import annotations

from typing import Any

from tpdevice import __version__
from tpdevice.daemon.control import DeviceInfo, ProfileSummary
from tpdevice.mqtt.topics import Topics

__all__ = ["SESSION_EVENT_TYPES", "discovery_payload", "discovery_topic"]

SESSION_EVENT_TYPES = ("session.started", "session.completed", "session.aborted", "session.failed")


def discovery_topic(topics: Topics, device_id: str, prefix: str = "homeassistant") -> str:
    """`<prefix>/device/tpdevice_<node>_<device>/config`: unique across daemons on one broker."""
    return f"{prefix}/device/{_object_id(topics, device_id)}/config"


def _object_id(topics: Topics, device_id: str) -> str:
    return f"tpdevice_{topics.node}_{device_id}".replace("-", "_")


def _sensor(value: str, **extra: Any) -> dict[str, Any]:
    return {"p": "sensor", "value_template": "{{ " + value + " }}", **extra}


def _session_field(name: str) -> str:
    return f"value_json.session.{name} if value_json.session else None"


def discovery_payload(
    topics: Topics, device: DeviceInfo, profiles: list[ProfileSummary]
) -> dict[str, Any]:
    """The retained discovery config of one gun."""
    uid = _object_id(topics, device.id)
    request = topics.device(device.id, "request")
    components: dict[str, dict[str, Any]] = {
        "battery": _sensor("value_json.battery_pct", device_class="battery",
                           unit_of_measurement="%", state_class="measurement"),
        "rate": _sensor("value_json.freq_hz", device_class="frequency",
                        unit_of_measurement="Hz", state_class="measurement"),
        "force": _sensor("value_json.force_n", unit_of_measurement="N",
                         state_class="measurement", icon="mdi:arrow-collapse-down"),
        "motor_temperature": _sensor("value_json.motor_temp_c", device_class="temperature",
                                     unit_of_measurement="°C", state_class="measurement"),
        "session_state": _sensor(
            "value_json.session.state if value_json.session else 'idle'"),
        "current_profile": _sensor(_session_field("profile_id")),
        "elapsed": _sensor(_session_field("elapsed_s"), device_class="duration",
                           unit_of_measurement="s"),
        "remaining": _sensor(_session_field("remaining_s"), device_class="duration",
                             unit_of_measurement="s"),
        "profile": {"p": "select", "options": [p.id for p in profiles],
                    "command_topic": f"{request}/select_profile",
                    "command_template": '{"profile": "{{ value }}"}',
                    "value_template": "{{ value_json.selected_profile }}"},
        "start": {"p": "button", "command_topic": f"{request}/start", "payload_press": "{}"},
        "stop": {"p": "button", "command_topic": f"{request}/stop", "payload_press": "{}"},
        "session_event": {"p": "event", "state_topic": topics.device(device.id, "events"),
                          "event_types": list(SESSION_EVENT_TYPES),
                          "value_template": "{{ {'event_type': value_json.type} | to_json }}"},
    }  # fmt: skip
    for name, component in components.items():
        component["unique_id"] = f"{uid}_{name}"
        component["name"] = name.replace("_", " ").capitalize()
    return {
        "dev": {"ids": [uid], "name": device.name or device.id, "mf": "tpdevice",
                "mdl": device.model or device.driver, "sw": device.firmware},
        "o": {"name": "tpdevice", "sw": __version__},
        "cmps": components,
        "state_topic": topics.device(device.id),
        "availability": [
            {"topic": topics.bridge("state"), "value_template": "{{ value_json.state }}"},
            {"topic": topics.device(device.id, "availability"),
             "value_template": "{{ value_json.state }}"},
        ],
        "availability_mode": "all",
        "qos": 1,
    }  # fmt: skip
