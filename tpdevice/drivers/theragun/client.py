"""TheragunClient: a Theragun Gen 4 gun as a GunClient: speed frames, keep-alive, reconnect.

The gun has no handshake, ACKs, force telemetry or programs. connect() asks for the version
(the only answer the gun is known to give) and synthesizes Capabilities from the model.
Sessions run host-streamed with pressure cues only; the engine's heartbeat re-sends the
current speed, so the gun keeps running only while its controller lives (if the gun times
out at all: real firmware behaviour is not publicly documented, see ASSUMED_KEEPALIVE_MS).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tpdevice.device.connect import OpenRequest
from tpdevice.device.errors import DeviceConnectionError, DeviceRangeError
from tpdevice.device.feed import DeviceEvent
from tpdevice.device.heartbeat import Heartbeat
from tpdevice.device.options import ClientOptions
from tpdevice.device.reconnect import Sleep
from tpdevice.device.state import ConnectionState, SetpointResult
from tpdevice.device.stream import LatestStream
from tpdevice.device.supervised import SupervisedClient
from tpdevice.device.supervisor import LinkSupervisor
from tpdevice.device.validate import check_output
from tpdevice.drivers.theragun.codec import (
    ASSUMED_KEEPALIVE_MS,
    COMMON,
    MODELS,
    STATUS_REQUEST,
    StatusInfo,
    TheragunModel,
    VersionInfo,
    find_model,
    model_for_names,
    rpm_for_freq,
)
from tpdevice.drivers.theragun.link import Fanout, TheragunLink, TheragunStats
from tpdevice.protocol import (
    Capabilities,
    Feature,
    Message,
    MotorState,
    SetOutput,
    StopReason,
    Telemetry,
)
from tpdevice.protocol import Heartbeat as HeartbeatMessage
from tpdevice.transport import Transport

__all__ = ["STOP_TIMEOUT_S", "WATCHDOG_MIN_MS", "TheragunClient", "TheragunStats"]

_LOGGER = logging.getLogger(__name__)

# A beat (watchdog / 4) faster than every 62.5 ms only queues writes with response a real
# radio cannot carry (one per connection event, 7.5..50 ms each).
WATCHDOG_MIN_MS = 250
_DEFAULT_WATCHDOG_MS = ClientOptions().watchdog_ms  # what watchdog_ms=0 ("default") means
STOP_TIMEOUT_S = 1.0  # a stop written with response over a real radio takes more than 0.1 s

_WRITTEN = HeartbeatMessage(0)  # what a keep-alive "answers": the frame went to the link
_FORCE_CUES = ("force_target_n", "force_tolerance_n", "force_cap_n", "force_ramp_n_per_s")


class TheragunClient(SupervisedClient):
    """One Theragun Gen 4 gun over a packet transport (one frame per write / notification).

    `model` sets the speed range; None takes it from the names the gun gives when connecting
    (advertised, GAP Device Name, Device Information model), COMMON when none says one.
    `watchdog_ms` (ClientOptions) is clamped to 250..3000 ms, 0 meaning the default 1000.
    `poll_status=True` also writes a status request with each beat and turns the answers
    into telemetry (measured speed only: force, contact and battery are not known).
    """

    DRIVER = "theragun"

    def __init__(
        self,
        address: str,
        transport_factory: Callable[[], Transport],
        options: ClientOptions | None = None,
        *,
        model: TheragunModel | None = None,
        poll_status: bool = False,
        on_close: Callable[[], Awaitable[None]] | None = None,
        reconnect_sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        device_id: str | None = None,
    ) -> None:
        self.address = address
        self.device_id = device_id or address
        self.options = opts = options or ClientOptions()
        self.model = model or COMMON
        self._model_given = model is not None
        self.poll_status = poll_status
        self.heartbeat = Heartbeat(
            address, self._send_keepalive, self._on_link_trouble,
            max_misses=opts.heartbeat_max_misses,
        )  # fmt: skip
        self.link = LinkSupervisor(
            address, self, reconnect=opts.reconnect, backoff=opts.backoff,
            sleep=reconnect_sleep, rng=rng, on_close=on_close,
        )  # fmt: skip
        self.reconnect = self.link.reconnect
        self.version: VersionInfo | None = None
        self.last_telemetry: Telemetry | None = None
        self.link_stats = TheragunStats()
        self._factory = transport_factory
        self._state = self.link.state_holder
        self._link: TheragunLink | None = None
        self._capabilities: Capabilities | None = None
        self._rpm = 0  # the output set_output chose; written while the motor may run
        self._may_run = False
        self._ever_started = False  # then every new link starts with speed 0
        self._telemetry: Fanout[Telemetry] = Fanout(
            f"{address} telemetry stream", opts.telemetry_queue_size
        )
        self._events: Fanout[DeviceEvent] = Fanout(
            f"{address} events stream", opts.event_queue_size
        )

    def __repr__(self) -> str:
        return f"<TheragunClient {self.address} {self.state.value}>"

    def stats(self) -> dict[str, Any]:
        """Counters of frames written and notifications received, heartbeats, reconnects."""
        link = self.link_stats.as_dict()
        return self.link.stats(self.DRIVER, self.heartbeat, self._may_run, dict(link))

    # --- state -------------------------------------------------------------------------

    @property
    def motor_may_run(self) -> bool:
        """True from start() until a speed-0 frame was written."""
        return self._may_run

    @property
    def rpm(self) -> int:
        """The speed the motor runs at while started (from the last set_output)."""
        return self._rpm

    # --- commands ----------------------------------------------------------------------

    async def set_output(
        self,
        freq_hz: float,
        *,
        force_target_n: float = 0.0,
        force_tolerance_n: float = 0.0,
        force_cap_n: float = 0.0,
        force_ramp_n_per_s: float = 0.0,
        freq_ramp_hz_per_s: float = 0.0,
    ) -> SetpointResult:
        """Set the speed (Hz x 60 rpm); force fields are cues, checked but never sent."""
        check_output(self.address, self.capabilities, SetOutput(freq_hz))
        forces = (force_target_n, force_tolerance_n, force_cap_n, force_ramp_n_per_s)
        for name, value in zip(_FORCE_CUES, forces, strict=True):
            if not (math.isfinite(value) and value >= 0):
                raise DeviceRangeError(f"{self.address}: {name}={value:g} must be a number >= 0")
        self._require_link()
        self._rpm = rpm_for_freq(freq_hz, self.model)
        if self._may_run:
            self._write_speed(self._rpm)
        return SetpointResult.APPLIED

    async def start(self) -> None:
        """Run the motor at the current output; the heartbeat must keep it fed from now on."""
        self._require_link()
        self._may_run = self._ever_started = True
        if not self._write_speed(self._rpm):
            raise DeviceConnectionError(f"{self.address}: speed frame could not be written")
        self._state.set(ConnectionState.RUNNING)

    async def stop(self, reason: StopReason = StopReason.USER) -> None:
        """Write speed 0 and wait (bounded) for it to leave; best effort, never raises."""
        link = self._link
        if self._write_speed(0):
            self._may_run = False
            if self.state is ConnectionState.RUNNING:
                self._state.set(ConnectionState.READY)
            timeout_s = max(self.options.stop_timeout_s, STOP_TIMEOUT_S)
            if link is not None and not await link.transport.flush(timeout_s):
                _LOGGER.warning("%s: the stop frame was not confirmed in time", self.address)
        else:
            _LOGGER.info("%s: stop (%s) not sent, no link", self.address, reason.name.lower())

    # --- telemetry and events ----------------------------------------------------------

    def poll_telemetry(self) -> bool:
        """Write one status request (no speed frame); its answer becomes telemetry."""
        link = self._link
        if link is None or not link.write(STATUS_REQUEST, slot="status"):
            return False
        self.link_stats.requests += 1
        return True

    def telemetry(self) -> LatestStream[Telemetry]:
        """A new telemetry stream; fed only by status answers (see poll_status)."""
        return self._telemetry.new()

    def events(self) -> LatestStream[DeviceEvent]:
        """A new event stream; the gun reports no faults or steps, so it only ends at close."""
        return self._events.new()

    # --- life cycle --------------------------------------------------------------------

    # --- the driver's step (LinkDriver) -------------------------------------------------------

    async def stop_on_close(self) -> None:
        """Write speed 0 if the motor may run."""
        if self._may_run:
            await self.stop(StopReason.HOST)

    async def release(self) -> None:
        """Close the transport and end the streams."""
        link, self._link = self._link, None
        if link is not None:
            await link.close()
        self._telemetry.close()
        self._events.close()

    async def establish(self) -> None:
        """Open a new link, ask for the version, then adopt it."""
        link = TheragunLink(self.address, self._factory(), self.link_stats, self._on_status)
        link.on_lost = functools.partial(self._on_lost, link)
        opts = self.options
        try:
            await link.open()
            version = await link.request_version(
                opts.handshake_timeout_s, 1 + opts.handshake_retries
            )
            if not self._model_given:
                self.model = model_for_names(await link.peer_names(opts.handshake_timeout_s))
        except BaseException:
            await link.close()
            raise
        if not self.link.adopting:
            await link.close()  # closed meanwhile
            return
        self._adopt(link, version)

    def _adopt(self, link: TheragunLink, version: VersionInfo) -> None:
        """Take a link that answered: capabilities, heartbeat, READY; stop a leftover run."""
        self._link, self.version = link, version
        self._capabilities = caps = self._synthesize(version)
        self.heartbeat.configure(caps.watchdog_ms)
        # A run (or a stop whose frame died with the old link) from before: the gun may still
        # turn; stop it, the engine must start it again.
        if self._ever_started:
            self._may_run = not link.write_speed(0)
        _LOGGER.info(
            "%s: %s (firmware %s), %d..%d rpm, keep-alive beat every %.2f s", self.address,
            caps.model, caps.firmware, self.model.rpm_min, self.model.rpm_max,
            self.heartbeat.interval_s,
        )  # fmt: skip
        self.link.link_ready()

    def _synthesize(self, version: VersionInfo) -> Capabilities:
        """What is known without a handshake: speed range only, no sensors, no programs."""
        requested = self.options.watchdog_ms or _DEFAULT_WATCHDOG_MS
        watchdog_ms = max(WATCHDOG_MIN_MS, min(requested, ASSUMED_KEEPALIVE_MS))
        return Capabilities(
            protocol_version=0, features=int(Feature.NONE),
            freq_min_hz=self.model.freq_min_hz, freq_max_hz=self.model.freq_max_hz,
            force_max_n=0.0, telemetry_hz=0, telemetry_max_hz=0, max_program_steps=0,
            watchdog_ms=watchdog_ms, watchdog_min_ms=WATCHDOG_MIN_MS,
            watchdog_max_ms=ASSUMED_KEEPALIVE_MS,
            model=f"Theragun {self.model.name}", serial="", firmware=version.text,
        )  # fmt: skip

    # --- internals: the link -----------------------------------------------------------

    def _on_status(self, status: StatusInfo) -> None:
        """A status answer as telemetry: the measured speed and whether the motor runs."""
        telemetry = Telemetry(
            device_time_ms=time.monotonic_ns() // 1_000_000 & 0xFFFF_FFFF,
            freq_hz=status.rpm / 60.0, force_n=0.0, contact=False, battery_pct=0,
            motor_temp_c=0.0, state=MotorState.RUNNING if status.running else MotorState.IDLE,
        )  # fmt: skip
        self.last_telemetry = telemetry
        self._telemetry.put(telemetry)

    def _on_lost(self, link: TheragunLink, error: DeviceConnectionError) -> None:
        """The live link died: forget it, tell the supervisor."""
        if link is not self._link:
            return
        self._link = None
        self.link.link_lost(error)

    def _on_link_trouble(self, error: DeviceConnectionError) -> None:
        """Never called in practice: a written keep-alive counts as answered."""
        _LOGGER.warning("%s: %s", self.address, error)

    def _send_keepalive(self, timeout_s: float) -> asyncio.Future[Message] | None:
        """One beat: re-write the current speed (0 when stopped); None without a link."""
        if not self._write_speed(self._rpm if self._may_run else 0):
            return None
        link = self._link
        if self.poll_status and link is not None and link.write(STATUS_REQUEST, slot="status"):
            self.link_stats.requests += 1
        written: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        written.set_result(_WRITTEN)
        return written

    def _write_speed(self, rpm: int) -> bool:
        """Write one speed frame; False (nothing sent) without a live link."""
        return self._link is not None and self._link.write_speed(rpm)

    def _require_link(self) -> None:
        """DeviceConnectionError unless a link is up."""
        if self._link is None:
            raise DeviceConnectionError(f"{self.address}: not connected ({self.state.value})")


def build_client(request: OpenRequest) -> TheragunClient:
    """An unconnected TheragunClient; the model from the simulator or the address's name."""
    address = request.address
    played = request.hints.get("model")
    model = MODELS[played.lower()] if played else find_model(address.ble_name)
    return TheragunClient(
        address.text, request.transport_factory, request.options, model=model,
        poll_status=request.poll_status, on_close=request.on_close, device_id=address.device_id,
    )  # fmt: skip
