"""The gun firmware, emulated: protocol handler, physics, faults, link servers.

Imports nothing from tpdevice but `tpdevice.protocol`: it plays independent firmware.
"""

from tpdevice_sim.clock import ManualClock, RealClock, ScaledClock, SimClock
from tpdevice_sim.config import ALL_FEATURES, FirmwareConfig
from tpdevice_sim.faults import FaultInjector, FaultSpec, FaultSpecError, parse_fault_spec
from tpdevice_sim.firmware import Firmware
from tpdevice_sim.gun import SimulatedGun, SimulatorFleet, serve
from tpdevice_sim.invariants import InvariantMonitor, Violation
from tpdevice_sim.links import TRANSPORTS, FrameLink, LoopbackLink, PtyLink, TcpLink, make_link
from tpdevice_sim.physics import DEFAULT_MODEL, PRESETS, ContactScenario, GunModelSpec, GunPhysics

__all__ = [
    "ALL_FEATURES",
    "DEFAULT_MODEL",
    "PRESETS",
    "TRANSPORTS",
    "ContactScenario",
    "FaultInjector",
    "FaultSpec",
    "FaultSpecError",
    "Firmware",
    "FirmwareConfig",
    "FrameLink",
    "GunModelSpec",
    "GunPhysics",
    "InvariantMonitor",
    "LoopbackLink",
    "ManualClock",
    "PtyLink",
    "RealClock",
    "ScaledClock",
    "SimClock",
    "SimulatedGun",
    "SimulatorFleet",
    "TcpLink",
    "Violation",
    "make_link",
    "parse_fault_spec",
    "serve",
]
