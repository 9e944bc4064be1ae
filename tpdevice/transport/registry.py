"""The driver registry: every driver package registers one DriverSpec; the rest reads it.

Driver packages live under `tpdevice.drivers` and are found on first use (each subpackage is
imported once and calls register() on import), much like entry points: nothing outside a
driver's package names it. A driver kept elsewhere (a test's) registers itself the same way.
Address parsing, scanning, the BLE transport, opening a gun, probe and sim read the specs.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from tpdevice.transport.ble_gatt import GattProfile
from tpdevice.transport.errors import AddressError

__all__ = [
    "DEFAULT_DRIVER",
    "DRIVER_PACKAGES",
    "AdvertisementMatcher",
    "DriverSpec",
    "driver_for_advertisement",
    "driver_for_name",
    "driver_names",
    "get_driver",
    "register",
    "registered",
    "unregister",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_DRIVER = "native"  # the driver of an address without `driver=`: our own protocol
DRIVER_PACKAGES = "tpdevice.drivers"

# (advertised name, lower-case service UUIDs) -> True when a gun of this driver sends it.
AdvertisementMatcher = Callable[[str | None, frozenset[str]], bool]


@dataclass(frozen=True, slots=True)
class DriverSpec:
    """What one driver is: where it can be reached, how it is recognised, how it is opened.

    `client_factory` and `simulator_factory` are "module:function" paths, imported only when
    a gun of this driver is opened (the device layer calls them, see tpdevice.device.connect).
    """

    name: str
    schemes: frozenset[str]  # address schemes it accepts (sim, serial, tcp, ble)
    client_factory: str
    simulator_factory: str | None = None  # starts an in-process gun for a `sim` address
    options: frozenset[str] = frozenset()  # address query keys of its own
    gatt: GattProfile | None = None  # the GATT layout over ble://
    matches_advertisement: AdvertisementMatcher | None = None  # BLE scan and ble://name=
    unmeasured: frozenset[str] = frozenset()  # telemetry fields it fills with placeholders
    # `tpdevice sim --model NAME` -> the model its BLE simulator plays, served by
    # `ble_simulator` ("module:function", see tpdevice.cli.sim_cmd.BleSimulator).
    sim_models: Mapping[str, str] = field(default_factory=dict, compare=False)
    ble_simulator: str | None = None
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        """A spec that cannot work is a bug in its package: say so at registration."""
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"driver name {self.name!r} must be a lower-case identifier")
        if "ble" in self.schemes and self.gatt is None:
            raise ValueError(f"driver {self.name}: ble:// needs a GATT layout")
        if "sim" in self.schemes and self.simulator_factory is None:
            raise ValueError(f"driver {self.name}: sim needs a simulator factory")
        if self.sim_models and self.ble_simulator is None:
            raise ValueError(f"driver {self.name}: simulated models need a BLE simulator")


_SPECS: dict[str, DriverSpec] = {}
_DISCOVERED: set[str] = set()  # the driver packages' parent, once imported


def register(spec: DriverSpec) -> DriverSpec:
    """Add a driver (idempotent for the same spec); ValueError if the name is taken."""
    known = _SPECS.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"driver {spec.name!r} is already registered")
    _SPECS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Forget a driver registered from outside tpdevice.drivers (a test's); no-op if unknown."""
    _SPECS.pop(name, None)


def registered() -> list[DriverSpec]:
    """Every driver, the default first, then in registration order."""
    _discover()
    return sorted(_SPECS.values(), key=lambda spec: spec.name != DEFAULT_DRIVER)


def driver_names() -> list[str]:
    """The names of every driver, the default first."""
    return [spec.name for spec in registered()]


def get_driver(name: str, *, where: str = "") -> DriverSpec:
    """The spec of driver `name`; AddressError (prefixed `where: `) naming the known ones."""
    _discover()
    spec = _SPECS.get(name)
    if spec is None:
        prefix = f"{where}: " if where else ""
        known = ", ".join(driver_names())
        raise AddressError(f"{prefix}unknown driver {name!r} (known: {known})")
    return spec


def driver_for_advertisement(name: str | None, service_uuids: Iterable[str]) -> str | None:
    """The driver a BLE device advertising this name and these services needs; None if none."""
    uuids = frozenset(uuid.lower() for uuid in service_uuids)
    for spec in registered():
        if spec.matches_advertisement is not None and spec.matches_advertisement(name, uuids):
            return spec.name
    return None


def driver_for_name(ble_name: str | None) -> str | None:
    """The driver whose guns use this BLE name (`ble://name=Pro`), if one claims it."""
    return driver_for_advertisement(ble_name, ())


def _discover() -> None:
    """Import every package under tpdevice.drivers once (each registers its spec)."""
    if DRIVER_PACKAGES in _DISCOVERED:
        return
    _DISCOVERED.add(DRIVER_PACKAGES)
    package = importlib.import_module(DRIVER_PACKAGES)
    for info in pkgutil.iter_modules(package.__path__, f"{DRIVER_PACKAGES}."):
        if info.ispkg:
            importlib.import_module(info.name)
    _LOGGER.debug("drivers: %s", ", ".join(_SPECS))
