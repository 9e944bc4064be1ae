"""Theragun Gen 4 over BLE (speed only): codec, link and client; its DriverSpec.

GATT layout after the public buttplug.io protocol notes: service 0xFFE0, notify 0xFFE1,
write 0xFFE2 (with response). The gun measures no force, contact, battery or temperature.
"""

from __future__ import annotations

from tpdevice.protocol.gatt import uuid16
from tpdevice.transport.ble_gatt import GattProfile
from tpdevice.transport.registry import DriverSpec, register

__all__ = ["GATT", "NOTIFY_UUID", "SERVICE_UUID", "SPEC", "WRITE_UUID"]

SERVICE_UUID = uuid16(0xFFE0)
NOTIFY_UUID = uuid16(0xFFE1)
WRITE_UUID = uuid16(0xFFE2)  # written with response

GATT = GattProfile(
    "theragun", SERVICE_UUID, WRITE_UUID, NOTIFY_UUID, write_with_response=True,
    missing_hint="not a Theragun Gen 4; a tpdevice gun needs driver=native",
)  # fmt: skip


def _matches(name: str | None, service_uuids: frozenset[str]) -> bool:
    """A Theragun is known by its name (0xFFE0 alone is an HM-10 as often as a Theragun)."""
    from tpdevice.drivers.theragun.codec import is_theragun_name  # not needed to register

    return is_theragun_name(name)


SPEC = register(
    DriverSpec(
        name="theragun",
        schemes=frozenset({"ble", "sim"}),
        client_factory="tpdevice.drivers.theragun.client:build_client",
        simulator_factory="tpdevice.drivers.theragun.sim:start_simulator",
        gatt=GATT,
        matches_advertisement=_matches,
        unmeasured=frozenset({"force_n", "contact", "battery_pct", "motor_temp_c"}),
        sim_models={"theragun-pro": "Pro", "theragun-elite": "Elite", "theragun-prime": "Prime"},
        ble_simulator="tpdevice.drivers.theragun.sim:serve_ble",
        description="Theragun Gen 4 (Pro, Elite, Prime) over BLE: speed only",
    )
)
