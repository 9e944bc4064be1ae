"""The profile catalogue as the CLI sees it, and `profiles list`; no typer, for a fast start."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tpdevice.therapy.loader import Catalogue, LoadedProfile

__all__ = ["list_profiles", "load_cli_catalogue", "plural", "print_skipped", "require_profile"]


def load_cli_catalogue(profiles_dirs: Sequence[Path] | None) -> Catalogue:
    """Shipped + user + --profiles-dir profiles, as every read command sees them (cached)."""
    from tpdevice.therapy.loader import load_catalogue
    from tpdevice.therapy.profile_cache import ProfileCache, default_cache_file

    return load_catalogue(list(profiles_dirs or ()), cache=ProfileCache(default_cache_file()))


def require_profile(catalogue: Catalogue, ref: str) -> LoadedProfile:
    """The profile an id or a file path names; an unknown id is a usage error (exit 2)."""
    from tpdevice.cli.errors import CliError
    from tpdevice.therapy.profile_errors import ProfileError
    from tpdevice.therapy.profile_resolve import is_profile_path, resolve_profile

    try:
        return resolve_profile(ref, catalogue)
    except ProfileError as err:
        if is_profile_path(ref) or len(err.problems) != 1 or err.problems[0].file is not None:
            raise  # a bad file: its problems, exit 1
        raise CliError(str(err)) from None


def print_skipped(catalogue: Catalogue) -> None:
    """One line on stderr per catalogue file skipped for its problems."""
    from tpdevice.therapy.profile_resolve import skipped_lines

    for line in skipped_lines(catalogue.problems):
        sys.stderr.write(f"{line}\n")


def plural(count: int, noun: str) -> str:
    """'1 file', '2 files'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def list_profiles(profiles_dirs: Sequence[Path] | None, json_out: bool) -> int:
    """`profiles list`: the table (or JSON) on stdout, skipped files on stderr; the exit code."""
    from tpdevice.cli.listing_view import print_rows, rows_json

    rows, catalogue = _listing(list(profiles_dirs or ()))
    if json_out:
        sys.stdout.write(rows_json(rows) + "\n")
    else:
        print_rows(rows)
    if catalogue is None:
        return 0
    print_skipped(catalogue)
    return 1 if catalogue.problems else 0


def _listing(profiles_dirs: list[Path]) -> tuple[list[dict[str, Any]], Catalogue | None]:
    """The summary rows, and the catalogue when it was loaded (stored when it has no problem)."""
    from tpdevice.therapy.listing_cache import ListingCache, listing_key
    from tpdevice.therapy.profile_dirs import default_cache_file

    cache = ListingCache(default_cache_file().with_name("listing.json"))
    key = listing_key(profiles_dirs)
    rows = None if key is None else cache.get(key)
    if rows is not None:
        return rows, None
    from tpdevice.cli.listing_view import catalogue_rows

    catalogue = load_cli_catalogue(profiles_dirs)
    rows = catalogue_rows(catalogue)
    if key is not None and not catalogue.problems:
        cache.put(key, rows)
    return rows, catalogue
