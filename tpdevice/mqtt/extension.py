"""The MQTT bridge as a daemon extension: started from the config or a --mqtt URL."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from tpdevice.daemon.config import DaemonConfig
from tpdevice.daemon.core import GunDaemon
from tpdevice.daemon.journal import Journal
from tpdevice.daemon.service import Extension
from tpdevice.mqtt.bridge import MqttBridge
from tpdevice.mqtt.settings import MqttSettings

__all__ = ["mqtt_extension"]


def mqtt_extension(url: str | None) -> Extension:
    """An extension starting the bridge to `url` (else the config's broker)."""

    async def start(config: DaemonConfig, guns: GunDaemon, journal: Journal) -> MqttBridge:
        target = url or (config.mqtt.url if config.mqtt else None)
        assert target is not None
        settings = MqttSettings.from_url(target)
        if config.node and "node=" not in urlsplit(target).query:  # the URL's own node wins
            settings = dataclasses.replace(settings, node=config.node)
        mqtt = config.mqtt
        bridge = MqttBridge(
            guns, settings, journal, telemetry_hz=mqtt.telemetry_hz if mqtt else 2.0,
            discovery_prefix="homeassistant" if mqtt and mqtt.discovery else None,
        )  # fmt: skip
        await bridge.start()
        return bridge

    return start
