"""One configured gun inside the daemon: its client, idle heartbeat, telemetry and holder."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Callable
from typing import Any

from tpdevice.daemon.config import DeviceConfig
from tpdevice.daemon.control import DeviceInfo, TelemetrySample
from tpdevice.device.api import GunClient
from tpdevice.device.connect import open_gun
from tpdevice.device.state import ConnectionState
from tpdevice.errors import TpDeviceError
from tpdevice.protocol import Feature, StopReason, Telemetry

__all__ = ["GunSlot"]

_LOGGER = logging.getLogger(__name__)
_NO_WATCHDOG_BEAT_S = 1.0  # a gun that negotiated no watchdog still gets its link checked
_CONNECTED = {ConnectionState.READY, ConnectionState.RUNNING, ConnectionState.FAULTED}
OnChange = Callable[["GunSlot"], None]
OnTelemetry = Callable[[TelemetrySample], None]


def _iso_now() -> str:
    stamp = datetime.datetime.now(datetime.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class GunSlot:
    """Keeps one gun connected (its link supervisor reconnects) and fed while idle."""

    def __init__(
        self,
        config: DeviceConfig,
        *,
        on_change: OnChange,
        on_telemetry: OnTelemetry,
        client_options: dict[str, Any] | None = None,
        sim_options: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.client: GunClient | None = None
        self.session_id: str | None = None  # the session holding this gun
        self.selected_profile: str | None = None
        self.last_seen: str | None = None
        self.open_error = ""
        self._on_change = on_change
        self._on_telemetry = on_telemetry
        self._client_options = client_options or {}
        self._sim_options = sim_options
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        """Create the client and let it connect in the background (a missing gun is fine)."""
        try:
            client = await open_gun(
                self.config.address, sim_options=self._sim_options, background=True,
                **self._client_options,
            )  # fmt: skip
        except TpDeviceError as err:
            self.open_error = str(err)
            _LOGGER.warning("%s: %s", self.config.id, err)
            self._on_change(self)
            return
        self.client = client
        client.subscribe_state(lambda _old, _new: self._on_change(self))
        self._tasks = [
            asyncio.create_task(_idle_beats(client)),
            asyncio.create_task(self._follow_telemetry(client)),
        ]
        self._on_change(self)

    @property
    def connected(self) -> bool:
        """True while the gun is linked and handshaken."""
        return self.client is not None and self.client.state in _CONNECTED

    def info(self) -> DeviceInfo:
        """The gun as the control API and MQTT describe it."""
        client = self.client
        identity = client.identity if client is not None else None
        telemetry = client.last_telemetry if client is not None else None
        return DeviceInfo(
            id=self.config.id,
            name=self.config.name or self.config.id,
            address=self.config.address,
            driver=identity.driver if identity else "",
            state=client.state.value if client is not None else self._unopened_state(),
            model=(identity.model or None) if identity else None,
            firmware=(identity.firmware or None) if identity else None,
            battery_pct=float(telemetry.battery_pct) if telemetry else None,
            session_id=self.session_id,
            last_error=self._last_error(),
            freq_hz=telemetry.freq_hz if telemetry else None,
            force_n=telemetry.force_n if telemetry and self._measures_force() else None,
            motor_temp_c=telemetry.motor_temp_c if telemetry else None,
            last_seen=self.last_seen,
            selected_profile=self.selected_profile,
        )

    async def stop_motor(self) -> None:
        """STOP now, whoever holds the gun; raise if the gun cannot be told."""
        if self.client is None:
            raise TpDeviceError(f"{self.config.id}: {self.open_error or 'not open'}")
        await self.client.stop(StopReason.USER)

    async def close(self) -> None:
        """Stop the motor if it may run, close the link, end the background work."""
        if self.client is not None:
            with contextlib.suppress(TpDeviceError):
                await self.client.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _follow_telemetry(self, client: GunClient) -> None:
        measures_force = self._measures_force
        async for telemetry in client.telemetry():
            self.last_seen = _iso_now()
            self._on_telemetry(self._sample(telemetry, measures_force()))

    def _sample(self, telemetry: Telemetry, measures_force: bool) -> TelemetrySample:
        return TelemetrySample(
            device_id=self.config.id, time=self.last_seen or _iso_now(),
            freq_hz=telemetry.freq_hz, force_n=telemetry.force_n if measures_force else None,
            contact=telemetry.contact, battery_pct=float(telemetry.battery_pct),
            motor_temp_c=telemetry.motor_temp_c,
        )  # fmt: skip

    def _measures_force(self) -> bool:
        try:
            return self.client is not None and bool(
                self.client.capabilities.features & Feature.FORCE_SENSOR
            )
        except TpDeviceError:  # not connected yet: nothing measured either
            return False

    def _unopened_state(self) -> str:
        return ConnectionState.FAILED.value if self.open_error else "off"

    def _last_error(self) -> str:
        if self.client is not None and self.client.last_error is not None:
            return str(self.client.last_error)
        return self.open_error


async def _idle_beats(client: GunClient) -> None:
    """Keep an idle gun's link checked; never feed the watchdog of a motor that may run.

    A running motor belongs to the session that started it and beats through its own lease;
    if that session is gone, the gun's watchdog must stop the motor, not this beater.
    """
    with client.heartbeat.acquire("daemon (idle)", idle=True) as lease:
        while client.state is not ConnectionState.CLOSED:
            if not client.motor_may_run:
                lease.beat()
            interval_s = client.heartbeat.interval_s
            await asyncio.sleep(interval_s if interval_s > 0 else _NO_WATCHDOG_BEAT_S)
