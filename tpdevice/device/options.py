"""ClientOptions: everything tunable about a DeviceClient."""

from __future__ import annotations

from dataclasses import dataclass, field

from tpdevice.device.reconnect import Backoff
from tpdevice.device.request import ConnectionOptions

__all__ = ["ClientOptions"]


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Everything tunable about a client; times in seconds unless the name says ms."""

    watchdog_ms: int = 1000  # asked for in HELLO; the device clamps it
    telemetry_hz: int = 20
    request_timeout_s: float = 0.25
    # Copies of a command after the first (same seq, answered from the device's window): at
    # 12 % loss per exchange (5 % drop, 1 % corrupt each way) 9 sends all fail once in 10^8.
    retries: int = 8
    handshake_timeout_s: float = 0.5
    handshake_retries: int = 2
    heartbeat_max_misses: int = 3
    stop_timeout_s: float = 0.1  # for the best-effort STOP sent by close()
    program_pull_timeout_s: float = 3.0
    telemetry_queue_size: int = 64
    event_queue_size: int = 1024
    reconnect: bool = True
    backoff: Backoff = field(default_factory=Backoff)

    def connection_options(self) -> ConnectionOptions:
        """The subset a DeviceConnection uses."""
        return ConnectionOptions(
            self.request_timeout_s, self.retries, self.handshake_timeout_s, self.handshake_retries
        )
