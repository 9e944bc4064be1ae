"""What each MQTT request does to the daemon: the same calls the control API makes."""

from __future__ import annotations

from typing import Any

from tpdevice.daemon.control import (
    ControlError,
    DaemonControl,
    DeviceInfo,
    ErrorCode,
    SessionCommand,
    StartRequest,
)
from tpdevice.mqtt.requests import Command, Request, SelectArgs, SessionArgs, StartArgs

__all__ = ["run_command"]


async def run_command(control: DaemonControl, request: Request) -> Any:
    """Carry out one checked request; ControlError (with its code) when the daemon refuses."""
    if request.device_id is None:
        return await _bridge_command(control, request.command)
    device = _device(control, request.device_id)
    if request.command is Command.START:
        assert isinstance(request.args, StartArgs)
        return await _start(control, device, request.args)
    if request.command is Command.SELECT_PROFILE:
        assert isinstance(request.args, SelectArgs)
        return control.select_profile(device.id, request.args.profile).model_dump(mode="json")
    if request.command is Command.STATUS:
        return _device_status(control, device)
    assert isinstance(request.args, SessionArgs)
    return await _session_command(control, device, request.args, SessionCommand(request.command))


async def _start(control: DaemonControl, device: DeviceInfo, args: StartArgs) -> Any:
    profile = args.profile or device.selected_profile
    if profile is None:
        raise ControlError(
            ErrorCode.INVALID_FIELD, "profile: give one, or choose one with select_profile first"
        )
    start = StartRequest(
        profile=profile, device=device.id, side=args.side, client=args.client,
        override=args.override,
    )  # fmt: skip
    return (await control.start_session(start)).model_dump(mode="json")


async def _bridge_command(control: DaemonControl, command: Command) -> Any:
    if command is Command.STOP_ALL:
        return (await control.stop_all()).model_dump(mode="json")
    if command is Command.LIST_PROFILES:
        return [profile.model_dump(mode="json") for profile in control.profiles()]
    if command is Command.LIST_DEVICES:
        return [device.model_dump(mode="json") for device in control.devices()]
    return {
        "devices": [device.model_dump(mode="json") for device in control.devices()],
        "sessions": [session.model_dump(mode="json") for session in control.sessions()],
    }


async def _session_command(
    control: DaemonControl, device: DeviceInfo, args: SessionArgs, command: SessionCommand
) -> Any:
    session_id = args.session or device.session_id
    if session_id is None:
        raise ControlError(ErrorCode.BAD_STATE, f"{device.id}: no session is running")
    session = control.session(session_id)
    if session.device_id != device.id:
        raise ControlError(
            ErrorCode.UNKNOWN_SESSION, f"session {session_id} runs on {session.device_id}"
        )
    reply = await control.command(session_id, command)
    if not reply.accepted:
        raise ControlError(ErrorCode.BAD_STATE, f"{command.value} refused: {reply.reason}")
    return reply.model_dump(mode="json")


def _device(control: DaemonControl, device_id: str) -> DeviceInfo:
    for device in control.devices():
        if device.id == device_id:
            return device
    raise ControlError(ErrorCode.UNKNOWN_DEVICE, f"no device {device_id!r} on this daemon")


def _device_status(control: DaemonControl, device: DeviceInfo) -> dict[str, Any]:
    session = control.session(device.session_id) if device.session_id else None
    return {
        "device": device.model_dump(mode="json"),
        "session": None if session is None else session.model_dump(mode="json"),
    }
