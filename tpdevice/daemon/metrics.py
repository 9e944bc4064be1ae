"""The daemon's Prometheus metrics: a registry of its own, rendered in the text format."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["DaemonMetrics"]

# Event lag is sub-millisecond when healthy; the upper buckets catch a stalled journal or loop.
_LAG_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)


class DaemonMetrics:
    """What /metrics reports: sessions, guns, reconnects, events and their journal lag."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.sessions_running = Gauge(
            "tpdevice_sessions_running", "Sessions running now", registry=self.registry
        )
        self.guns_connected = Gauge(
            "tpdevice_guns_connected", "Configured guns connected now", registry=self.registry
        )
        self.guns_configured = Gauge(
            "tpdevice_guns_configured", "Guns in the configuration", registry=self.registry
        )
        self.reconnects = Counter(
            "tpdevice_reconnects", "Links re-established after a loss", ["device"],
            registry=self.registry,
        )  # fmt: skip
        self.events = Counter(
            "tpdevice_events", "Session and device events journaled", ["type"],
            registry=self.registry,
        )  # fmt: skip
        self.event_lag = Histogram(
            "tpdevice_event_journal_lag_seconds",
            "From an event's creation to its journal commit",
            buckets=_LAG_BUCKETS_S,
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
