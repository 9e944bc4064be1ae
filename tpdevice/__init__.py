"""tpdevice: drive percussive massage guns for trigger-point therapy.

What an integrator scripts with: open a gun by address, load the catalogue, run a session
on a clock, follow its events, read its summary; every error derives from TpDeviceError.
Names load on first use, so `import tpdevice` (and `tpdevice.__version__`) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tpdevice.device import (
        ConnectionLostError,
        ConnectionState,
        DeviceConnectionError,
        DeviceError,
        DeviceRejectedError,
        DeviceTimeoutError,
        open_gun,
    )
    from tpdevice.device.api import (
        GunClient,
    )
    from tpdevice.errors import (
        TpDeviceError,
    )
    from tpdevice.therapy.clock import (
        RealClock,
        ScaledClock,
        SessionClock,
        VirtualClock,
    )
    from tpdevice.therapy.commands import (
        CommandResult,
        EndReason,
        Rejection,
        SessionCommand,
    )
    from tpdevice.therapy.compat import (
        CompatibilityError,
        SessionError,
    )
    from tpdevice.therapy.engine import (
        Session,
    )
    from tpdevice.therapy.eventbus import (
        EventSubscription,
    )
    from tpdevice.therapy.events import (
        AnyEvent,
        CueEvent,
        DeviceFaultEvent,
        Event,
        HoldPaused,
        HoldResumed,
        HoldStarted,
        PressureHigh,
        PressureLow,
        ReleaseStarted,
        SessionAborted,
        SessionCompleted,
        SessionFailed,
        SessionPaused,
        SessionResumed,
        SessionStarted,
        StepCompleted,
        StepStarted,
        parse_event,
    )
    from tpdevice.therapy.loader import (
        Catalogue,
        load_catalogue,
    )
    from tpdevice.therapy.profile import (
        Profile,
    )
    from tpdevice.therapy.profile_errors import (
        ProfileError,
    )
    from tpdevice.therapy.runner import (
        SessionOutcomeError,
        UnknownProfileError,
        check_outcome,
        load_profile,
        open_session_gun,
        outcome_ok,
        outcome_text,
        run_profile,
        session_clock,
    )
    from tpdevice.therapy.session_state import (
        ExecutionMode,
        SessionOptions,
        SessionState,
    )
    from tpdevice.therapy.summary import (
        StepSummary,
        Summary,
    )
    from tpdevice.therapy.timeline import (
        Overrides,
    )
    from tpdevice.transport import (
        AddressError,
        DeviceAddress,
        TransportError,
        parse_address,
    )

# Public name -> the module that defines it.
_WHERE: dict[str, str] = {
    "ConnectionLostError": "tpdevice.device",
    "ConnectionState": "tpdevice.device",
    "DeviceConnectionError": "tpdevice.device",
    "DeviceError": "tpdevice.device",
    "DeviceRejectedError": "tpdevice.device",
    "DeviceTimeoutError": "tpdevice.device",
    "open_gun": "tpdevice.device",
    "GunClient": "tpdevice.device.api",
    "TpDeviceError": "tpdevice.errors",
    "RealClock": "tpdevice.therapy.clock",
    "ScaledClock": "tpdevice.therapy.clock",
    "SessionClock": "tpdevice.therapy.clock",
    "VirtualClock": "tpdevice.therapy.clock",
    "CommandResult": "tpdevice.therapy.commands",
    "EndReason": "tpdevice.therapy.commands",
    "Rejection": "tpdevice.therapy.commands",
    "SessionCommand": "tpdevice.therapy.commands",
    "CompatibilityError": "tpdevice.therapy.compat",
    "SessionError": "tpdevice.therapy.compat",
    "Session": "tpdevice.therapy.engine",
    "EventSubscription": "tpdevice.therapy.eventbus",
    "AnyEvent": "tpdevice.therapy.events",
    "CueEvent": "tpdevice.therapy.events",
    "DeviceFaultEvent": "tpdevice.therapy.events",
    "Event": "tpdevice.therapy.events",
    "HoldPaused": "tpdevice.therapy.events",
    "HoldResumed": "tpdevice.therapy.events",
    "HoldStarted": "tpdevice.therapy.events",
    "PressureHigh": "tpdevice.therapy.events",
    "PressureLow": "tpdevice.therapy.events",
    "ReleaseStarted": "tpdevice.therapy.events",
    "SessionAborted": "tpdevice.therapy.events",
    "SessionCompleted": "tpdevice.therapy.events",
    "SessionFailed": "tpdevice.therapy.events",
    "SessionPaused": "tpdevice.therapy.events",
    "SessionResumed": "tpdevice.therapy.events",
    "SessionStarted": "tpdevice.therapy.events",
    "StepCompleted": "tpdevice.therapy.events",
    "StepStarted": "tpdevice.therapy.events",
    "parse_event": "tpdevice.therapy.events",
    "Catalogue": "tpdevice.therapy.loader",
    "load_catalogue": "tpdevice.therapy.loader",
    "Profile": "tpdevice.therapy.profile",
    "ProfileError": "tpdevice.therapy.profile_errors",
    "SessionOutcomeError": "tpdevice.therapy.runner",
    "UnknownProfileError": "tpdevice.therapy.runner",
    "check_outcome": "tpdevice.therapy.runner",
    "load_profile": "tpdevice.therapy.runner",
    "open_session_gun": "tpdevice.therapy.runner",
    "outcome_ok": "tpdevice.therapy.runner",
    "outcome_text": "tpdevice.therapy.runner",
    "run_profile": "tpdevice.therapy.runner",
    "session_clock": "tpdevice.therapy.runner",
    "ExecutionMode": "tpdevice.therapy.session_state",
    "SessionOptions": "tpdevice.therapy.session_state",
    "SessionState": "tpdevice.therapy.session_state",
    "StepSummary": "tpdevice.therapy.summary",
    "Summary": "tpdevice.therapy.summary",
    "Overrides": "tpdevice.therapy.timeline",
    "AddressError": "tpdevice.transport",
    "DeviceAddress": "tpdevice.transport",
    "TransportError": "tpdevice.transport",
    "parse_address": "tpdevice.transport",
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (then it is a plain attribute)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tpdevice' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (loaded or not) and the module's own."""
    return sorted({*globals(), *_WHERE})
