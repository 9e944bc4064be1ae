"""The topic tree of one daemon: `tpdevice/<node>/...` (bridge, devices, requests, responses)."""

from __future__ import annotations

import dataclasses

__all__ = ["Topics"]


@dataclasses.dataclass(frozen=True, slots=True)
class Topics:
    """Every topic name a daemon publishes or listens on, from its node id."""

    node: str
    prefix: str = "tpdevice"

    @property
    def base(self) -> str:
        """`tpdevice/<node>`."""
        return f"{self.prefix}/{self.node}"

    def bridge(self, name: str) -> str:
        """`<base>/bridge/<name>` (state, info, devices)."""
        return f"{self.base}/bridge/{name}"

    def device(self, device_id: str, leaf: str = "") -> str:
        """`<base>/<device>` or `<base>/<device>/<leaf>` (availability, telemetry, events)."""
        return f"{self.base}/{device_id}" + (f"/{leaf}" if leaf else "")

    def request_filters(self) -> list[str]:
        """The filters for commands: one covers the bridge's and every device's.

        Overlapping filters would make the broker deliver a request once per filter.
        """
        return [f"{self.base}/+/request/+"]

    def response_for(self, request_topic: str) -> str | None:
        """The response topic of a request topic of this node, or None if it is not one."""
        head, sep, command = request_topic.rpartition("/request/")
        if not sep or not command or "/" in command or not head.startswith(self.base + "/"):
            return None
        return f"{head}/response/{command}"
