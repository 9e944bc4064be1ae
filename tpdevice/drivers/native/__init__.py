"""Our own protocol (SLIP frames, HELLO, ACKs, programs) on every transport; its DriverSpec."""

from __future__ import annotations

from tpdevice.protocol.gatt import NATIVE_NAME_PREFIX, NATIVE_SERVICE_UUID
from tpdevice.transport.ble_gatt import NATIVE_PROFILE
from tpdevice.transport.registry import DriverSpec, register

__all__ = ["SPEC"]


def _matches(name: str | None, service_uuids: frozenset[str]) -> bool:
    """A native gun advertises our service, or at least our name prefix."""
    return NATIVE_SERVICE_UUID in service_uuids or (name or "").startswith(NATIVE_NAME_PREFIX)


SPEC = register(
    DriverSpec(
        name="native",
        schemes=frozenset({"sim", "serial", "tcp", "ble"}),
        client_factory="tpdevice.drivers.native.client:build_client",
        simulator_factory="tpdevice.drivers.native.sim:start_simulator",
        gatt=NATIVE_PROFILE,
        matches_advertisement=_matches,
        description="the tpdevice protocol: setpoints, force telemetry, programs",
    )
)
