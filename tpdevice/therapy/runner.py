"""Running a profile on a gun, as the CLI and a daemon do: resolve, open, pair clocks, classify.

profile = load_profile("forearm-extensors")
summary = await run_profile("sim", profile, time_scale=100, on_event=print)
check_outcome(summary, "forearm-extensors on sim")   # SessionOutcomeError unless fine
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from tpdevice.device import open_gun
from tpdevice.device.api import GunClient
from tpdevice.errors import TpDeviceError
from tpdevice.therapy.clock import RealClock, ScaledClock, SessionClock
from tpdevice.therapy.commands import EndReason
from tpdevice.therapy.engine import Session
from tpdevice.therapy.events import Event
from tpdevice.therapy.loader import load_catalogue
from tpdevice.therapy.profile import Profile
from tpdevice.therapy.profile_errors import ProfileError
from tpdevice.therapy.session_state import ExecutionMode, SessionOptions
from tpdevice.therapy.summary import Summary
from tpdevice.therapy.timeline import Overrides
from tpdevice.transport import DeviceAddress, parse_address

__all__ = [
    "SessionOutcomeError",
    "UnknownProfileError",
    "check_outcome",
    "load_profile",
    "open_session_gun",
    "outcome_ok",
    "outcome_text",
    "run_profile",
    "session_clock",
]

_LOGGER = logging.getLogger(__name__)

# Stopped on request: the reason is the whole story ("stopped" adds nothing).
_CAUSE_SAYS_NOTHING = frozenset({EndReason.USER, EndReason.HOST, EndReason.CANCELLED})


class UnknownProfileError(ProfileError):
    """No profile of that id in the catalogue (close matches named)."""


class SessionOutcomeError(TpDeviceError):
    """The session ended without completing (aborted by the device or a fault, or failed)."""


def load_profile(profile_id: str, profiles_dirs: Sequence[Path] = ()) -> Profile:
    """The profile of that id from the catalogue (the shipped profiles, then `profiles_dirs`).

    ProfileError when a file of that id is broken or duplicated (the real reason, not
    "unknown"); UnknownProfileError when no file has that id.
    """
    catalogue = load_catalogue(tuple(profiles_dirs))
    own = [
        problem for problem in catalogue.problems
        if (problem.file is not None and problem.file.stem == profile_id)
        or f"{profile_id!r}" in problem.message
    ]  # fmt: skip
    if own:
        raise ProfileError(own)
    entry = catalogue.get(profile_id)
    if entry is None:
        try:
            catalogue.require(profile_id)
        except ProfileError as err:
            raise UnknownProfileError(str(err)) from None
        raise UnknownProfileError(f"unknown profile {profile_id!r}")
    return entry.profile


def session_clock(time_scale: float = 1.0) -> SessionClock:
    """The session clock for a gun running at `time_scale` (1: real time)."""
    return RealClock() if time_scale == 1.0 else ScaledClock(time_scale)


async def open_session_gun(address: str | DeviceAddress, *, time_scale: float = 1.0) -> GunClient:
    """Connect to the gun at `address`; the built-in simulator runs at `time_scale`.

    TpDeviceError when a real device is asked to run at a time scale other than 1.
    """
    parsed = parse_address(address) if isinstance(address, str) else address
    is_sim = parsed.scheme == "sim"
    if time_scale != 1.0 and not is_sim:
        raise TpDeviceError(
            f"{parsed.text}: only the built-in simulator runs faster than real time"
        )
    sim_options = {"time_scale": time_scale} if is_sim else None
    # poll_status: some guns report their rate only when asked (others ignore it).
    return await open_gun(parsed, sim_options=sim_options, poll_status=True)


async def run_profile(
    address: str | DeviceAddress,
    profile: Profile,
    *,
    side: str | None = None,
    time_scale: float = 1.0,
    mode: ExecutionMode = ExecutionMode.AUTO,
    overrides: Overrides | None = None,
    options: SessionOptions | None = None,
    device_id: str | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> Summary:
    """Open the gun, run `profile` on it to the end, close the link; return the summary.

    `on_event` sees every event, in order, as it happens (a synchronous sink).
    """
    client = await open_session_gun(address, time_scale=time_scale)
    try:
        session = Session(
            client, profile, side=side, clock=session_clock(time_scale), mode=mode,
            overrides=overrides, options=options, device_id=device_id,
        )  # fmt: skip
        if on_event is not None:
            session.add_sink(on_event)
        return await session.run()
    finally:
        await client.close()  # sends STOP first if the motor may still run


def outcome_ok(summary: Summary) -> bool:
    """Completed, or stopped by the user: fine. Aborted by a fault or failed: not."""
    return summary.outcome == "completed" or (
        summary.outcome == "aborted" and summary.reason == EndReason.USER.value
    )


def outcome_text(summary: Summary) -> str:
    """'completed', 'aborted (over_pressure)' or 'failed (device_error): <cause>'."""
    text = summary.outcome + (f" ({summary.reason})" if summary.reason else "")
    if summary.cause and summary.reason not in _CAUSE_SAYS_NOTHING:
        text += f": {summary.cause}"
    return text


def check_outcome(summary: Summary, where: str) -> None:
    """Nothing when outcome_ok(); else SessionOutcomeError 'where: session <outcome_text>'."""
    if not outcome_ok(summary):
        raise SessionOutcomeError(f"{where}: session {outcome_text(summary)}")
