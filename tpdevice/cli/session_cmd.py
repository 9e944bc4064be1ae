"""`tpdevice session|events`: sessions on the running daemon, and its event stream."""

from __future__ import annotations

import json
import sys
from typing import Any

from tpdevice.cli.daemon_client import DaemonClient
from tpdevice.cli.errors import CliError

__all__ = [
    "event_line",
    "follow_events",
    "session_command",
    "session_status",
    "start_session",
]


def start_session(
    client: DaemonClient, profile: str, device: str, *, side: str | None,
    pseudonym: str | None, override: str | None, json_out: bool,
) -> str:  # fmt: skip
    """Start at once; print the session id (or its JSON); return the id."""
    body = {"profile": profile, "device": device, "side": side, "client": pseudonym,
            "override": override}  # fmt: skip
    info = client.post("/v1/sessions", {k: v for k, v in body.items() if v is not None})
    if json_out:
        print(json.dumps(info))
    else:
        print(info["id"])
        sys.stderr.write(f"started {profile} on {device}: session {info['id']}\n")
    return str(info["id"])


def session_status(client: DaemonClient, session_id: str | None, json_out: bool) -> None:
    """One session, or every session since the daemon started."""
    sessions = (
        [client.get(f"/v1/sessions/{session_id}")] if session_id else client.get("/v1/sessions")
    )
    if json_out:
        print(json.dumps(sessions if session_id is None else sessions[0]))
        return
    if not sessions:
        print("no sessions since the daemon started")
    for info in sessions:
        print(_status_line(info))


def session_command(
    client: DaemonClient, command: str, session_id: str | None, json_out: bool
) -> None:
    """Pause, resume, skip or stop a session (the only running one when no id is given)."""
    session_id = session_id or _the_running_session(client)
    reply = client.post(f"/v1/sessions/{session_id}/{command}")
    if json_out:
        print(json.dumps(reply))
    elif reply["accepted"]:
        print(f"{command}: session {session_id}")
    if not reply["accepted"]:
        raise CliError(f"{command} refused for session {session_id}: {reply['reason']}")


def follow_events(client: DaemonClient, after: str | None, json_out: bool) -> None:
    """Print each event as it happens (journaled ones past `after` first)."""
    path = "/v1/events" + (f"?after={after}" if after else "")
    for envelope in client.stream(path):
        if json_out:
            print(json.dumps(envelope), flush=True)
        else:
            print(event_line(envelope), flush=True)


def _the_running_session(client: DaemonClient) -> str:
    running = [s for s in client.get("/v1/sessions") if s["state"] in ("running", "paused")]
    if len(running) != 1:
        ids = ", ".join(s["id"] for s in running) or "none running"
        raise CliError(f"name the session: {ids}")
    return str(running[0]["id"])


def _status_line(info: dict[str, Any]) -> str:
    remaining = info.get("remaining_s")
    left = f", {remaining:.0f} s left" if remaining and info["state"] == "running" else ""
    cause = f" ({info['cause']})" if info.get("cause") else ""
    return (f"{info['id']}  {info['device_id']:<10} {info['profile_id']:<22} {info['state']}"
            f"{cause}{left}")  # fmt: skip


def event_line(envelope: dict[str, Any]) -> str:
    event = envelope["event"]
    detail = {k: v for k, v in event.items()
              if k not in {"type", "session_id", "seq", "mono_s", "wall_time", "profile_id",
                           "device", "summary"}}  # fmt: skip
    text = " ".join(f"{k}={v}" for k, v in detail.items())
    return (f"{event['wall_time']} {envelope['device_id']}#{envelope['device_seq']}"
            f" {event['type']} {text}").rstrip()  # fmt: skip
