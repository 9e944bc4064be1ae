"""A test-only third driver: a gun that echoes what it is sent (a "parrot" gun).

It is one package registering one spec, with no edit anywhere else: the proof that drivers
are plug-ins (tests/test_driver_registry.py).
"""

from tpdevice.transport.registry import DriverSpec, register

SPEC = register(
    DriverSpec(
        name="parrot",
        schemes=frozenset({"sim", "tcp"}),
        client_factory="parrot_driver.client:build_client",
        simulator_factory="parrot_driver.sim:start_simulator",
        unmeasured=frozenset({"force_n", "contact", "battery_pct", "motor_temp_c"}),
        description="a parrot gun for tests: every speed frame comes back as its telemetry",
    )
)
