"""A cache of valid profiles, keyed by file path, size and mtime, so start-up skips YAML.

The cache is only ever a shortcut: a missing, corrupt, stale or unwritable cache file means
the profiles are read and checked again, never an error.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tpdevice import __version__
from tpdevice.therapy.loader import FileCheck, display_path
from tpdevice.therapy.profile_dirs import (
    CACHE_DIR_ENV,
    code_stamp,
    default_cache_file,
    file_stamp,
    write_cache_file,
)
from tpdevice.therapy.profile_dump import profile_from_dump
from tpdevice.therapy.profile_errors import ProfileProblem

__all__ = ["CACHE_DIR_ENV", "ProfileCache", "default_cache_file"]

_LOGGER = logging.getLogger(__name__)

_FORMAT = 1


class ProfileCache:
    """Valid profiles by absolute path; `save()` writes back what changed."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._entries: dict[str, dict[str, Any]] = _read_entries(file)
        self._dirty = False

    def get(self, path: Path) -> FileCheck | None:
        """The cached check of `path` when its size and mtime still match, else None."""
        entry = self._entries.get(str(path.absolute()))
        if entry is None or entry.get("stamp") != file_stamp(path):
            return None
        try:
            profile = profile_from_dump(json.loads(entry["profile"]))
            advice = tuple(
                ProfileProblem(str(message), display_path(path), int(line), warning=True)
                for message, line in entry["advice"]
            )
            id_line = int(entry["id_line"])
        except (KeyError, TypeError, ValueError):
            return None
        return FileCheck(path, profile, (), advice, id_line)

    def put(self, result: FileCheck) -> None:
        """Remember a valid file's profile (invalid files are always checked again)."""
        stamp = file_stamp(result.path)
        if not result.ok or result.profile is None or stamp is None:
            return
        self._entries[str(result.path.absolute())] = {
            "stamp": stamp,
            "profile": result.profile.model_dump_json(),
            "advice": [[item.message, item.line] for item in result.advice],
            "id_line": result.id_line,
        }
        self._dirty = True

    def save(self) -> None:
        """Write the cache when it changed; any failure only leaves it unwritten."""
        if not self._dirty:
            return
        document = {
            "format": _FORMAT,
            "version": __version__,
            "code": code_stamp(),
            "entries": self._entries,
        }
        try:
            write_cache_file(self.file, document)
        except OSError as err:
            _LOGGER.debug("profile cache %s not written: %s", self.file, err)
            return
        self._dirty = False


def _read_entries(file: Path) -> dict[str, dict[str, Any]]:
    """The entries of a cache file of this format and version; {} for anything else."""
    try:
        with file.open(encoding="utf-8") as stream:
            document = json.load(stream)
    except (OSError, ValueError) as err:
        _LOGGER.debug("profile cache %s not used: %s", file, err)
        return {}
    if not isinstance(document, dict):
        return {}
    if (document.get("format"), document.get("version")) != (_FORMAT, __version__):
        return {}
    if document.get("code") != code_stamp():
        return {}
    entries = document.get("entries")
    if not isinstance(entries, dict):
        return {}
    return {key: value for key, value in entries.items() if isinstance(value, dict)}
