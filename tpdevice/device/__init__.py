"""One connected gun: state, request/ACK/retransmit, heartbeat, telemetry, reconnect."""

from tpdevice.device.client import DeviceClient, DeviceEvent, EventListener
from tpdevice.device.connect import open_client, open_gun
from tpdevice.device.connection import DeviceConnection
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
from tpdevice.device.options import ClientOptions
from tpdevice.device.reconnect import Backoff, ReconnectLogic, is_permanent
from tpdevice.device.request import (
    RETRANSMIT_HORIZON,
    ConnectionOptions,
    ConnectionStats,
    PendingRequest,
)
from tpdevice.device.state import ConnectionState, LinkState, ReconnectState, SetpointResult
from tpdevice.device.stream import LatestStream
from tpdevice.device.theragun import TheragunClient, TheragunStats

__all__ = [
    "RETRANSMIT_HORIZON",
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
    "ReconnectState",
    "RequestAbandonedError",
    "SetpointResult",
    "TheragunClient",
    "TheragunStats",
    "is_permanent",
    "open_client",
    "open_gun",
    "run_heartbeat",
]
