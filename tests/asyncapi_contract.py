"""docs/asyncapi.yaml as a test oracle: which channel a topic is, and is its payload valid there.

The AsyncAPI 3 JSON Schema itself is not in this repository: `asyncapi3_schema()` fetches it
from the npm package @asyncapi/specs (pinned, checksummed) into a cache once. Without npm or the
registry the calling test skips, unless TPDEVICE_REQUIRE_ASYNCAPI_SCHEMA=1 (CI) makes that a
failure.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from repo_paths import ROOT

ASYNCAPI_DOC = ROOT / "docs" / "asyncapi.yaml"
SPECS_PACKAGE = "@asyncapi/specs@6.11.1"
SPECS_SHA1 = "c629fe962a241a983f883a56b0e9c901a311becb"  # of the package's tarball
SPECS_MEMBER = "package/schemas/3.0.0-without-$id.json"  # refs are local: no resolver needed
REQUIRE_ENV = "TPDEVICE_REQUIRE_ASYNCAPI_SCHEMA"


@dataclass(frozen=True)
class Channel:
    """One channel of the document: its topic pattern, who sends on it, its payload validator."""

    name: str
    pattern: re.Pattern[str]
    daemon_sends: bool
    retained: bool
    validator: jsonschema.protocols.Validator


@functools.cache
def document() -> dict[str, Any]:
    """docs/asyncapi.yaml, parsed."""
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI_DOC.read_text())
    return loaded


def resolve(ref: str) -> Any:
    """The object a local `#/a/b` reference of the document points at."""
    node: Any = document()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(node["$ref"])
    return node


@functools.cache
def channels() -> tuple[Channel, ...]:
    """Every channel, the most specific first (fewer parameters win: bridge/... over {device})."""
    doc = document()
    sending: dict[str, dict[str, Any]] = {}
    for operation in doc["operations"].values():
        if operation["action"] == "send":
            sending[operation["channel"]["$ref"].rsplit("/", 1)[-1]] = operation
    found = []
    for name, channel in doc["channels"].items():
        (message,) = [_deref(m) for m in channel["messages"].values()]
        schema = {**_deref(message["payload"]), "components": doc["components"]}
        validator = jsonschema.Draft7Validator(schema)
        operation = sending.get(name, {})
        retained = bool(operation.get("bindings", {}).get("mqtt", {}).get("retain", False))
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(channel["address"]))
        found.append(Channel(name, re.compile(regex + "$"), bool(operation), retained, validator))
    return tuple(sorted(found, key=lambda c: c.pattern.pattern.count("[^/]+")))


def channel_of(topic: str) -> Channel | None:
    """The channel a topic belongs to, or None."""
    return next((c for c in channels() if c.pattern.match(topic)), None)


def contract_problems(topic: str, payload: bytes) -> list[str]:
    """Why a message the daemon sent breaks docs/asyncapi.yaml (empty: it does not).

    Requests and Home Assistant's status are what clients send (tests send bad ones on
    purpose), so only the daemon's own channels are checked; an empty retained payload clears.
    """
    channel = channel_of(topic)
    if channel is None:
        own = topic.startswith("tpdevice/") and "/request/" not in topic
        return [f"{topic}: no channel in docs/asyncapi.yaml"] if own else []
    if not channel.daemon_sends or (channel.retained and not payload):
        return []
    try:
        body = json.loads(payload)
    except ValueError as err:
        return [f"{topic}: not JSON ({err})"]
    return [
        f"{topic} ({channel.name}): {'/'.join(map(str, e.absolute_path)) or 'payload'}: {e.message}"
        for e in channel.validator.iter_errors(body)
    ]


def asyncapi3_schema() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 JSON Schema (draft-07) from @asyncapi/specs, fetched once and cached."""
    cache = Path(tempfile.gettempdir()) / "tpdevice-tests" / f"{SPECS_SHA1}-3.0.0.json"
    if not cache.is_file():
        try:
            text = _fetch_schema()
        except (OSError, subprocess.SubprocessError, ValueError) as err:
            why = f"the AsyncAPI 3 JSON Schema ({SPECS_PACKAGE} via npm) is not available: {err}"
            if os.environ.get(REQUIRE_ENV) == "1":
                pytest.fail(f"{why} ({REQUIRE_ENV}=1)")
            pytest.skip(why)
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.part")  # parallel workers may race here
        partial.write_text(text)
        partial.replace(cache)
    loaded: dict[str, Any] = json.loads(cache.read_text())
    return loaded


def _fetch_schema() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise OSError("npm is not installed")
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [npm, "pack", "--silent", "--pack-destination", folder, SPECS_PACKAGE],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        (tarball,) = Path(folder).glob("*.tgz")
        data = tarball.read_bytes()
        if hashlib.sha1(data).hexdigest() != SPECS_SHA1:
            raise ValueError(f"{tarball.name}: checksum differs from the pinned one")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(SPECS_MEMBER)
            if member is None:
                raise ValueError(f"{SPECS_MEMBER} missing from {tarball.name}")
            return member.read().decode()
