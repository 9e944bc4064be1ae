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
from tpdevice.device.heartbeat import (
    Clock,
    Heartbeat,
    HeartbeatBusyError,
    HeartbeatLease,
    LoopClock,
    run_heartbeat,
)
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
from tpdevice.device.supervisor import LinkSupervisor

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
    "HeartbeatBusyError",
    "HeartbeatLease",
    "LatestStream",
    "LinkState",
    "LinkSupervisor",
    "LoopClock",
    "PendingRequest",
    "ReconnectLogic",
    "ReconnectState",
    "RequestAbandonedError",
    "SetpointResult",
    "is_permanent",
    "open_client",
    "open_gun",
    "run_heartbeat",
]
