"""The gun firmware, emulated: protocol handler, physics, faults, link servers.

Imports nothing from tpdevice but `tpdevice.protocol`: it plays independent firmware.
"""

from simulator.clock import ManualClock, RealClock, ScaledClock, SimClock
from simulator.config import ALL_FEATURES, FirmwareConfig
from simulator.faults import FaultInjector, FaultSpec, FaultSpecError, parse_fault_spec
from simulator.firmware import Firmware
from simulator.gun import SimulatedGun, SimulatorFleet, serve
from simulator.invariants import InvariantMonitor, Violation
from simulator.links import TRANSPORTS, FrameLink, LoopbackLink, PtyLink, TcpLink, make_link
from simulator.physics import DEFAULT_MODEL, PRESETS, ContactScenario, GunModelSpec, GunPhysics

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
