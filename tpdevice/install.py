"""How to add an optional extra, said the way this copy of tpdevice was installed."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["install_command"]

DISTRIBUTION = "tpdevice"


def install_command(extra: str, direct_url_json: str | None = None, cwd: Path | None = None) -> str:
    """`pip install -e ".[extra]"` for a checkout installed editable, else `pip install
    "tpdevice[extra]"`; direct_url_json (pip's record of the install) is read when not given."""
    record = _direct_url() if direct_url_json is None else direct_url_json
    checkout = _editable_checkout(record)
    if checkout is None:
        return f'pip install "{DISTRIBUTION}[{extra}]"'
    here = (cwd or Path.cwd()).resolve()
    where = "." if checkout.resolve() == here else str(checkout)
    return f'pip install -e "{where}[{extra}]"'


def _direct_url() -> str:
    """pip's direct_url.json of the installed distribution ('' when there is none).

    A source checkout on sys.path also shows its egg-info, which has no such record.
    """
    from importlib import metadata  # costs ~10 ms: only an error message needs it

    for dist in metadata.distributions(name=DISTRIBUTION):
        record = dist.read_text("direct_url.json")
        if record:
            return record
    return ""


def _editable_checkout(record: str) -> Path | None:
    """The source folder of an editable install, or None."""
    try:
        data = json.loads(record) if record else {}
    except ValueError:
        return None
    url = str(data.get("url", "")) if isinstance(data, dict) else ""
    editable = isinstance(data, dict) and bool(data.get("dir_info", {}).get("editable"))
    if not editable or not url.startswith("file://"):
        return None
    return Path(unquote(urlparse(url).path))
