"""The public API: exactly these names from `import tpdevice`, each the library's own object,
and `import tpdevice` itself cheap (no pydantic, rich or device code until a name is used)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import tpdevice

PUBLIC_NAMES = [
    "AddressError",
    "AnyEvent",
    "Catalogue",
    "CommandResult",
    "CompatibilityError",
    "ConnectionLostError",
    "ConnectionState",
    "CueEvent",
    "DeviceAddress",
    "DeviceConnectionError",
    "DeviceError",
    "DeviceFaultEvent",
    "DeviceRejectedError",
    "DeviceTimeoutError",
    "EndReason",
    "Event",
    "EventSubscription",
    "ExecutionMode",
    "GunClient",
    "HoldPaused",
    "HoldResumed",
    "HoldStarted",
    "Overrides",
    "PressureHigh",
    "PressureLow",
    "Profile",
    "ProfileError",
    "RealClock",
    "Rejection",
    "ReleaseStarted",
    "ScaledClock",
    "Session",
    "SessionAborted",
    "SessionClock",
    "SessionCommand",
    "SessionCompleted",
    "SessionError",
    "SessionFailed",
    "SessionOptions",
    "SessionOutcomeError",
    "SessionPaused",
    "SessionResumed",
    "SessionStarted",
    "SessionState",
    "StepCompleted",
    "StepStarted",
    "StepSummary",
    "Summary",
    "TpDeviceError",
    "TransportError",
    "UnknownProfileError",
    "VirtualClock",
    "__version__",
    "check_outcome",
    "load_catalogue",
    "load_profile",
    "open_gun",
    "open_session_gun",
    "outcome_ok",
    "outcome_text",
    "parse_address",
    "parse_event",
    "run_profile",
    "session_clock",
]
ERRORS = [name for name in PUBLIC_NAMES if name.endswith("Error")]


def test_the_public_names_are_pinned() -> None:
    assert sorted(tpdevice.__all__) == PUBLIC_NAMES
    assert set(PUBLIC_NAMES) <= set(dir(tpdevice))


@pytest.mark.parametrize("name", [n for n in PUBLIC_NAMES if n != "__version__"])
def test_each_name_is_the_object_its_module_defines(name: str) -> None:
    module = tpdevice._WHERE[name]
    assert module.startswith("tpdevice.")
    assert getattr(tpdevice, name) is getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("name", ERRORS)
def test_every_public_error_derives_from_the_root(name: str) -> None:
    assert issubclass(getattr(tpdevice, name), tpdevice.TpDeviceError)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'open_sesame'"):
        tpdevice.open_sesame  # noqa: B018


def test_importing_tpdevice_and_its_version_loads_nothing_heavy() -> None:
    heavy = ["pydantic", "rich", "typer", "yaml", "serial", "asyncio", "tpdevice.therapy"]
    code = (
        "import sys, tpdevice; assert tpdevice.__version__; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"
