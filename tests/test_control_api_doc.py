"""docs/control-api.json is the OpenAPI document the running daemon serves, byte for byte."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from daemon_run import running_daemon
from repo_paths import ROOT

DOC = ROOT / "docs" / "control-api.json"


async def test_the_committed_openapi_document_is_what_the_daemon_serves(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, guns=1) as (_, http):
        served = (await http.get("/openapi.json")).json()
    text = json.dumps(served, indent=2, sort_keys=True) + "\n"
    if os.environ.get("TPDEVICE_WRITE_DOCS") == "1":
        DOC.write_text(text)
    if not DOC.is_file() or DOC.read_text() != text:
        pytest.fail(f"{DOC} is stale: rerun this test with TPDEVICE_WRITE_DOCS=1 and commit it")
