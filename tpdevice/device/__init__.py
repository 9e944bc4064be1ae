"""One connected gun: state, request/ACK/retransmit, heartbeat, telemetry, reconnect."""

from tpdevice.device.client import ClientOptions, DeviceClient, DeviceEvent, EventListener
from tpdevice.device.connect import open_client
from tpdevice.device.connection import (
    ConnectionOptions,
    ConnectionStats,
    DeviceConnection,
    PendingRequest,
)
from tpdevice.device.errors import (
    ConnectionLostError,
    DeviceConnectionError,
    DeviceError,
    DeviceRangeError,
    DeviceRejectedError,
    DeviceTimeoutError,
    DeviceUnsupportedError,
    HandshakeError,
    RequestAbandonedError,
)
from tpdevice.device.heartbeat import Clock, Heartbeat, LoopClock, run_heartbeat
from tpdevice.device.reconnect import Backoff, ReconnectLogic
from tpdevice.device.state import ConnectionState, LinkState, SetpointResult
from tpdevice.device.stream import LatestStream

__all__ = [
    "Backoff",
    "ClientOptions",
    "Clock",
    "ConnectionLostError",
    "ConnectionOptions",
    "ConnectionState",
    "ConnectionStats",
    "DeviceClient",
    "DeviceConnection",
    "DeviceConnectionError",
    "DeviceError",
    "DeviceEvent",
    "DeviceRangeError",
    "DeviceRejectedError",
    "DeviceTimeoutError",
    "DeviceUnsupportedError",
    "EventListener",
    "HandshakeError",
    "Heartbeat",
    "LatestStream",
    "LinkState",
    "LoopClock",
    "PendingRequest",
    "ReconnectLogic",
    "RequestAbandonedError",
    "SetpointResult",
    "open_client",
    "run_heartbeat",
]
