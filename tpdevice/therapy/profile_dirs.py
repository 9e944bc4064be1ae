"""Where profile files are found, and stamps that tell when a file changed; stdlib only."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "CACHE_DIR_ENV",
    "PROFILES_DIR_ENV",
    "PROFILE_SUFFIXES",
    "code_stamp",
    "default_cache_file",
    "file_stamp",
    "profile_files",
    "shipped_profiles_dir",
    "user_profiles_dir",
    "write_cache_file",
]

PROFILES_DIR_ENV = "TPDEVICE_PROFILES_DIR"
PROFILE_SUFFIXES = (".yaml", ".yml")
CACHE_DIR_ENV = "XDG_CACHE_HOME"

# The modules that decide which files are valid profiles: a change to any drops every cache.
_RULES = (
    "profile.py",
    "profile_fields.py",
    "records.py",
    "profile_checks.py",
    "profile_text.py",
    "loader.py",
    "profile_yaml.py",
)


def default_cache_file() -> Path:
    """$XDG_CACHE_HOME/tpdevice/profiles.json (default ~/.cache/tpdevice/profiles.json)."""
    base = os.environ.get(CACHE_DIR_ENV) or str(Path.home() / ".cache")
    return Path(base) / "tpdevice" / "profiles.json"


def write_cache_file(file: Path, document: object) -> None:
    """Write `document` as JSON to `file` by atomic replace; OSError when it cannot be written."""
    import json
    import tempfile  # only when a cache is written: a listing served from one never needs it

    file.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(document, stream)
        os.replace(temp, file)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def file_stamp(path: Path) -> list[int] | None:
    """[size, mtime_ns, ctime_ns, inode] of a file, None when it cannot be stat'ed."""
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def code_stamp(*more: str) -> list[list[int] | None]:
    """Stamps of the modules that decide validity (and of `more` modules of this package)."""
    here = Path(__file__).parent
    return [file_stamp(here / name) for name in (*_RULES, *more)]


def profile_files(directory: Path) -> list[Path]:
    """The *.yaml / *.yml entries directly in `directory` but dirs, sorted by name.

    Special files and broken links are kept, so that reading them reports them.
    """
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in PROFILE_SUFFIXES and not path.is_dir() and not path.name.startswith(".")
    )


def shipped_profiles_dir() -> Path | None:
    """$TPDEVICE_PROFILES_DIR when set, else `profiles/` next to the package, else share/."""
    configured = os.environ.get(PROFILES_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    candidates = (
        Path(__file__).resolve().parents[2] / "profiles",  # a source checkout / editable install
        Path(sys.prefix) / "share" / "tpdevice" / "profiles",  # installed as data files
    )
    return next((path for path in candidates if path.is_dir()), None)


def user_profiles_dir() -> Path:
    """$XDG_CONFIG_HOME/tpdevice/profiles (default ~/.config/tpdevice/profiles)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tpdevice" / "profiles"
