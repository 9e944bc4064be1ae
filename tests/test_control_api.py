"""The control API over a real Unix socket (and TCP with a token), against a stand-in daemon."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from daemon_helpers import FakeDaemon

from tpdevice.daemon.api import create_app
from tpdevice.daemon.server import ApiServer, ApiServerError


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[FakeDaemon, httpx.AsyncClient, Path]]:
    daemon = FakeDaemon()
    path = tmp_path / "run" / "api.sock"
    server = ApiServer.on_unix_socket(create_app(daemon), path)
    await server.start()
    transport = httpx.AsyncHTTPTransport(uds=str(path))
    async with httpx.AsyncClient(transport=transport, base_url="http://tpdevice") as client:
        yield daemon, client, path
    await server.close()


async def test_devices_sessions_and_stop(
    served: tuple[FakeDaemon, httpx.AsyncClient, Path],
) -> None:
    daemon, client, _ = served
    assert (await client.get("/v1/devices")).json()[0]["id"] == "gun-1"
    reply = await client.post("/v1/sessions", json={"profile": "piriformis", "device": "gun-1"})
    assert (reply.status_code, reply.json()["id"]) == (201, "s-1")
    assert daemon.started[0].profile == "piriformis"
    reply = await client.post("/v1/sessions/s-1/pause")
    assert reply.json() == {
        "session_id": "s-1", "command": "pause", "accepted": False, "reason": "ended",
    }  # fmt: skip
    assert (await client.post("/v1/stop")).json() == {"stopped": ["gun-1"], "failed": {}}


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "code"),
    [
        ("POST", "/v1/sessions", {"profile": "p", "device": "ghost"}, 404, "unknown_device"),
        ("POST", "/v1/sessions", {"profile": "p"}, 422, "invalid_field"),
        ("POST", "/v1/sessions", {"profile": "p", "device": "gun-1", "side": "up"}, 422,
         "invalid_field"),
        ("POST", "/v1/sessions", {"profile": "p", "device": "gun-1", "client": "Jane Doe"}, 422,
         "invalid_field"),
        ("POST", "/v1/sessions", {"profile": "p", "device": "gun-1", "x": 1}, 422,
         "invalid_field"),
        ("POST", "/v1/sessions/s-1/dance", None, 422, "invalid_field"),
        ("GET", "/v1/sessions/nope", None, 404, "unknown_session"),
        ("GET", "/v1/events?after=gun-1", None, 422, "invalid_field"),
    ],
)  # fmt: skip
async def test_bad_requests_get_a_code_and_one_line(
    served: tuple[FakeDaemon, httpx.AsyncClient, Path],
    method: str, url: str, body: object, status: int, code: str,
) -> None:  # fmt: skip
    _, client, _ = served
    reply = await client.request(method, url, json=body)
    assert (reply.status_code, reply.json()["code"]) == (status, code)
    assert "\n" not in reply.json()["error"]


async def test_malformed_json_is_refused(
    served: tuple[FakeDaemon, httpx.AsyncClient, Path],
) -> None:
    _, client, _ = served
    reply = await client.post(
        "/v1/sessions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (reply.status_code, reply.json()["code"]) == (422, "invalid_field")


async def test_the_socket_is_for_its_owner_only(
    served: tuple[FakeDaemon, httpx.AsyncClient, Path],
) -> None:
    _, _, path = served
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.stat().st_uid == os.getuid()
    with pytest.raises(ApiServerError, match="another daemon is already serving there"):
        ApiServer.on_unix_socket(create_app(FakeDaemon()), path)


async def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(folder / "api.sock"))
    stale.close()  # the file stays, nobody listens: a daemon died
    server = ApiServer.on_unix_socket(create_app(FakeDaemon()), folder / "api.sock")
    await server.start()
    await server.close()


async def test_a_folder_others_can_enter_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    with pytest.raises(ApiServerError, match="must belong to this user with mode 0700"):
        ApiServer.on_unix_socket(create_app(FakeDaemon()), folder / "api.sock")


async def test_tcp_wants_the_bearer_token() -> None:
    server = ApiServer.on_tcp(create_app(FakeDaemon(), token="s3cret"), "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{server.where}") as client:
            refused = await client.get("/v1/devices")
            wrong = await client.get("/v1/devices", headers={"Authorization": "Bearer nope"})
            good = await client.get("/v1/devices", headers={"Authorization": "Bearer s3cret"})
    finally:
        await server.close()
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
    assert wrong.status_code == 401
    assert good.status_code == 200


async def _read_events(client: httpx.AsyncClient, count: int, **headers: str) -> list[str]:
    """The ids of the next `count` SSE messages."""
    ids: list[str] = []
    async with client.stream("GET", "/v1/events", headers=headers) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("id: "):
                ids.append(line[4:])
                if len(ids) == count:
                    break
    return ids


async def test_events_resume_after_a_reconnect_with_no_gap(
    served: tuple[FakeDaemon, httpx.AsyncClient, Path],
) -> None:
    daemon, client, _ = served
    for seq in (1, 2, 3):
        daemon.emit("gun-1", seq)
    daemon.emit("gun-2", 1)
    first = await _read_events(client, 2)
    assert first == ["gun-1=1", "gun-1=2"]
    # The connection broke after gun-1=2; meanwhile more happened.
    daemon.emit("gun-1", 4)
    again = await asyncio.wait_for(_read_events(client, 3, **{"Last-Event-ID": first[-1]}), 5)
    assert again == ["gun-1=3", "gun-1=3,gun-2=1", "gun-1=4,gun-2=1"]
