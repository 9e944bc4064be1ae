"""The control API under generated requests (bounded): every answer is documented, no 5xx,
and every refusal carries the one-line error and its code."""

from __future__ import annotations

from typing import Any

import schemathesis
from daemon_helpers import FakeDaemon
from hypothesis import HealthCheck, settings

from tpdevice.daemon.api import create_app

APP = create_app(FakeDaemon())
# The event stream never ends by itself: it is tested with a real client elsewhere.
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(path="/v1/events")


@SCHEMA.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_answers(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "code"} and "\n" not in body["error"]
    case.validate_response(response)
