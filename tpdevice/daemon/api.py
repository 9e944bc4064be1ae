"""The local control API: HTTP + JSON on FastAPI, its OpenAPI document from our pydantic models."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tpdevice import __version__
from tpdevice.daemon.api_events import parse_cursor, session_sse, sse_stream
from tpdevice.daemon.config import DeviceConfig
from tpdevice.daemon.control import (
    CommandReply,
    ControlError,
    DaemonAdmin,
    DaemonControl,
    DaemonInfo,
    DeviceInfo,
    ErrorCode,
    SessionCommand,
    SessionInfo,
    StartRequest,
    StopAllReply,
)

__all__ = ["ErrorBody", "create_app"]

_STATUS = {
    ErrorCode.UNKNOWN_DEVICE: 404,
    ErrorCode.UNKNOWN_PROFILE: 404,
    ErrorCode.UNKNOWN_SESSION: 404,
    ErrorCode.DEVICE_BUSY: 409,
    ErrorCode.DEVICE_EXISTS: 409,
    ErrorCode.DEVICE_OFFLINE: 409,
    ErrorCode.BAD_STATE: 409,
    ErrorCode.DOSE_REFUSED: 409,
    ErrorCode.CAP_EXCEEDED: 422,
    ErrorCode.INVALID_FIELD: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.INTERNAL: 500,
}
Metrics = Callable[[], Awaitable[bytes]]


class ErrorBody(BaseModel):
    """Every error answer: one line for a person and a code for a program."""

    error: str
    code: ErrorCode


def create_app(
    control: DaemonControl, *, token: str | None = None, metrics: Metrics | None = None,
    admin: DaemonAdmin | None = None, info: DaemonInfo | None = None,
) -> FastAPI:  # fmt: skip
    """The API over `control` (and `admin`: guns adopted and dropped live; `info`: which daemon
    this is); with `token`, every route wants `Authorization: Bearer <token>`."""
    app = FastAPI(
        title="tpdevice control API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(_bearer(token))] if token else [],
        responses={code: {"model": ErrorBody} for code in (400, 401, 404, 405, 409, 422, 429, 500)},
    )
    app.add_exception_handler(ControlError, _control_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    if info is not None:
        _info_route(app, info)
    _device_routes(app, control)
    if admin is not None:
        _admin_routes(app, admin)
    _session_routes(app, control)
    _stream_routes(app, control, metrics)
    return app


def _info_route(app: FastAPI, info: DaemonInfo) -> None:
    @app.get("/v1/daemon", operation_id="get_daemon")
    async def get_daemon() -> DaemonInfo:
        """This daemon: its version, the config file its guns are kept in, its journal."""
        return info


def _device_routes(app: FastAPI, control: DaemonControl) -> None:
    @app.get("/v1/devices", operation_id="list_devices")
    async def list_devices() -> list[DeviceInfo]:
        """Every configured gun, its link state and the session holding it."""
        return control.devices()

    @app.post("/v1/stop", operation_id="stop_all")
    async def stop_all() -> StopAllReply:
        """Stop every motor now."""
        return await control.stop_all()


def _admin_routes(app: FastAPI, admin: DaemonAdmin) -> None:
    @app.post("/v1/devices", status_code=201, operation_id="add_device")
    async def add_device(device: DeviceConfig) -> DeviceInfo:
        """Adopt a gun now (it connects in the background when auto_connect)."""
        return await admin.add_device(device)

    @app.get(
        "/v1/sessions/{session_id}/events",
        operation_id="stream_session_events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream_session_events(session_id: str) -> StreamingResponse:
        """Server-Sent Events of one session: those so far, then live; ends with the session."""
        stream = admin.session_events(session_id)  # an unknown one is refused here
        return StreamingResponse(session_sse(stream), media_type="text/event-stream")

    @app.delete("/v1/devices/{device_id}", operation_id="remove_device")
    async def remove_device(device_id: str) -> DeviceInfo:
        """Drop a gun: its link is closed (the motor stopped); refused while a session runs."""
        return await admin.remove_device(device_id)


def _session_routes(app: FastAPI, control: DaemonControl) -> None:
    @app.get("/v1/sessions", operation_id="list_sessions")
    async def list_sessions() -> list[SessionInfo]:
        """Sessions running now and those ended since the daemon started."""
        return control.sessions()

    @app.post("/v1/sessions", status_code=201, operation_id="start_session")
    async def start_session(request: StartRequest) -> SessionInfo:
        """Start a profile on a gun; returns at once with the new session."""
        return await control.start_session(request)

    @app.get("/v1/sessions/{session_id}", operation_id="get_session")
    async def get_session(session_id: str) -> SessionInfo:
        """One session."""
        return control.session(session_id)

    @app.post("/v1/sessions/{session_id}/{command}", operation_id="session_command")
    async def session_command(session_id: str, command: SessionCommand) -> CommandReply:
        """Pause, resume, skip or stop a session; the reply says whether it was accepted."""
        return await control.command(session_id, command)


def _stream_routes(app: FastAPI, control: DaemonControl, metrics: Metrics | None) -> None:
    @app.get(
        "/v1/events",
        operation_id="stream_events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream_events(
        after: Annotated[str | None, Query(max_length=4096, pattern=r"^[^\n]*$")] = None,
        last_event_id: Annotated[str | None, Header(max_length=4096)] = None,
    ) -> StreamingResponse:
        """Server-Sent Events: every event past the cursor (`after` or Last-Event-ID), then live."""
        cursor = parse_cursor(last_event_id if last_event_id is not None else after)
        return StreamingResponse(sse_stream(control, cursor), media_type="text/event-stream")

    @app.get("/metrics", operation_id="metrics", response_class=PlainTextResponse)
    async def prometheus_metrics() -> PlainTextResponse:
        """Prometheus text format: sessions, guns connected, reconnects, event lag."""
        body = await metrics() if metrics is not None else b""
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")


def _bearer(token: str) -> Callable[..., None]:
    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = f"Bearer {token}"
        if authorization is None or not hmac.compare_digest(authorization, expected):
            raise ControlError(ErrorCode.UNAUTHORIZED, "a valid bearer token is required")

    return check


async def _control_error(_: Request, err: ControlError) -> JSONResponse:
    body = ErrorBody(error=str(err), code=err.code)
    return JSONResponse(body.model_dump(mode="json"), status_code=_STATUS.get(err.code, 400))


_HTTP_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}


async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(err.status_code, ErrorCode.INVALID_REQUEST)
    body = ErrorBody(error=str(err.detail), code=code)
    headers = dict(err.headers or {})
    if err.status_code == 405:  # every method of the path, not only the first route's
        headers["Allow"] = ", ".join(sorted(_methods_of(request)))
    return JSONResponse(body.model_dump(mode="json"), status_code=err.status_code, headers=headers)


def _methods_of(request: Request) -> set[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return methods


async def _validation_error(_: Request, err: RequestValidationError) -> JSONResponse:
    problem = err.errors()[0]
    where = ".".join(str(part) for part in problem.get("loc", ())) or "request"
    body = ErrorBody(
        error=f"{where}: {problem.get('msg', 'invalid')}", code=ErrorCode.INVALID_FIELD
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=422)
