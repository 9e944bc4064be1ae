"""`tpdevice daemon`: run the daemon in the foreground (or check its config)."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tpdevice.cli.errors import CliError
from tpdevice.daemon.config import DaemonConfig, DeviceConfig, default_journal_path, load_config
from tpdevice.daemon.config_edit import default_config_path
from tpdevice.daemon.paths import default_socket_path

if TYPE_CHECKING:  # the service (uvicorn, FastAPI) is imported only when the daemon runs
    from tpdevice.daemon.service import DaemonService, Extension

__all__ = ["check_config", "run_daemon"]

MAX_SIM_GUNS = 1000


def check_config(path: Path | None, mqtt_url: str | None = None) -> None:
    """Validate a config file (default: the per-user one) and its broker URL; nothing starts."""
    if path is None:
        path = default_config_path()
        if not path.is_file():
            raise CliError(
                f"--check: no config to check: {path} does not exist"
                " (give --config FILE, or add guns with tpdevice devices add)"
            )
    config = load_config(path)
    _extensions(config, mqtt_url)
    ids = ", ".join(d.id for d in config.devices) or "no guns"
    print(f"{path}: ok ({len(config.devices)} gun{'s' if len(config.devices) != 1 else ''}: {ids})")


def build_config(path: Path | None, sim_count: int) -> DaemonConfig:
    """The config file's guns plus `sim_count` simulated ones (sim-1, sim-2, ...); with
    neither, the per-user config file's guns."""
    if not 0 <= sim_count <= MAX_SIM_GUNS:
        raise CliError(f"--sim: {sim_count} must be 0..{MAX_SIM_GUNS}")
    if path is None and sim_count == 0 and default_config_path().is_file():
        path = default_config_path()
    config = load_config(path) if path is not None else DaemonConfig()
    if path is None and sim_count == 0:
        raise CliError(
            f"no guns to drive: give --config FILE, add guns to {default_config_path()}"
            " (tpdevice devices add), or --sim N for simulated guns"
        )
    taken = {d.id for d in config.devices}
    sims = [
        DeviceConfig(id=f"sim-{i}", name=f"simulated gun {i}", address=f"sim?id={i}")
        for i in range(1, sim_count + 1)
        if f"sim-{i}" not in taken
    ]
    return config.model_copy(update={"devices": [*config.devices, *sims]})


def run_daemon(
    config: DaemonConfig, *, config_file: Path | None, socket: Path | None,
    journal: Path | None, mqtt_url: str | None, time_scale: float,
) -> None:  # fmt: skip
    """Serve until SIGTERM or Ctrl-C; every motor is stopped before it returns. Guns added
    while it runs are kept in `config_file` (default: the per-user config)."""
    from tpdevice.daemon.service import DaemonService, ServiceOptions

    if time_scale != 1.0 and any(not d.address.startswith("sim") for d in config.devices):
        raise CliError("--time-scale: only simulated guns run faster than real time")
    options = ServiceOptions(
        socket_path=socket or config.api.socket or default_socket_path(),
        journal_path=journal or config.journal or default_journal_path(),
        config_path=(config_file or default_config_path()).absolute(),
        time_scale=time_scale, extensions=_extensions(config, mqtt_url),
    )  # fmt: skip
    asyncio.run(_serve(DaemonService(config, options)))


def _extensions(config: DaemonConfig, mqtt_url: str | None) -> list[Extension]:
    """The MQTT bridge when a broker is given (its URL checked now, before anything starts)."""
    url = mqtt_url or (config.mqtt.url if config.mqtt else None)
    if url is None:
        return []
    from tpdevice.mqtt.extension import mqtt_extension
    from tpdevice.mqtt.settings import MqttSettings, MqttSettingsError

    try:
        MqttSettings.from_url(url)
    except MqttSettingsError as err:
        raise CliError(f"{'--mqtt' if mqtt_url else 'mqtt.url'}: {err}") from None
    return [mqtt_extension(url)]


async def _serve(service: DaemonService) -> None:
    task = asyncio.create_task(service.run())
    ready = asyncio.create_task(service.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if ready.done():
        # Start-up objects live as long as the daemon: a full collection walking them all stalls
        # the loop for tens of ms (telemetry and events late); frozen, it no longer walks them.
        gc.freeze()
        guns = len(service.config.devices)
        sys.stderr.write(
            f"tpdevice daemon: {guns} gun{'s' if guns != 1 else ''}, control API on"
            f" {service.options.socket_path} (Ctrl-C or SIGTERM stops every motor and exits)\n"
        )
    await task
