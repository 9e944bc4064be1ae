"""The catalogue's summary rows, cached whole: a listing that finds every file unchanged
reads one small JSON file and never imports the profile models or YAML.

The key is every catalogue dir (as given and resolved) with the stamp of every profile file
in it, and the stamps of the code that decides validity. Only a catalogue without problems
is stored. A missing, corrupt or unwritable file only means the catalogue is loaded again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tpdevice import __version__
from tpdevice.therapy.profile_dirs import (
    code_stamp,
    file_stamp,
    profile_files,
    shipped_profiles_dir,
    user_profiles_dir,
    write_cache_file,
)

__all__ = ["ListingCache", "Row", "listing_key"]

_LOGGER = logging.getLogger(__name__)

_FORMAT = 1

Row = dict[str, Any]


def listing_key(extra_dirs: Sequence[Path]) -> list[Any] | None:
    """What a listing depends on; None when a dir is missing or unreadable (no shortcut)."""
    shipped = shipped_profiles_dir()
    dirs = [] if shipped is None else [(shipped, False)]
    dirs.append((user_profiles_dir(), False))
    dirs.extend((directory, True) for directory in extra_dirs)
    key: list[Any] = [_FORMAT, __version__, code_stamp("profile_dirs.py", "listing_cache.py")]
    try:
        for directory, must_exist in dirs:
            if not directory.is_dir():
                if must_exist:
                    return None
                key.append([str(directory), None])
                continue
            files = [[path.name, file_stamp(path)] for path in profile_files(directory)]
            key.append([str(directory), str(directory.resolve()), files])
    except (OSError, RuntimeError, ValueError) as err:  # RuntimeError: a symlink loop
        _LOGGER.debug("profile listing not cached: %s", err)
        return None
    return key


class ListingCache:
    """One listing: its key and the summary rows of every profile, in catalogue order."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def get(self, key: list[Any]) -> list[Row] | None:
        """The rows stored under exactly this key, else None."""
        try:
            with self.file.open(encoding="utf-8") as stream:
                document = json.load(stream)
        except (OSError, ValueError) as err:
            _LOGGER.debug("profile listing %s not used: %s", self.file, err)
            return None
        if not isinstance(document, dict) or document.get("key") != key:
            return None
        rows = document.get("rows")
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            return None
        return rows

    def put(self, key: list[Any], rows: list[Row]) -> None:
        """Store the rows under the key; any failure only leaves the file unwritten."""
        try:
            write_cache_file(self.file, {"key": key, "rows": rows})
        except OSError as err:
            _LOGGER.debug("profile listing %s not written: %s", self.file, err)
