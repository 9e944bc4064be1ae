"""The native driver's client factory: a DeviceClient (tpdevice.device) for the address."""

from __future__ import annotations

from tpdevice.device.client import DeviceClient
from tpdevice.device.connect import OpenRequest

__all__ = ["build_client"]


def build_client(request: OpenRequest) -> DeviceClient:
    """An unconnected DeviceClient (native guns report telemetry by themselves)."""
    return DeviceClient(
        request.address.text, request.transport_factory, request.options,
        on_close=request.on_close, device_id=request.address.device_id,
    )  # fmt: skip
