"""Finding the profile a user named: a catalogue id or a profile file, and what was skipped."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from tpdevice.therapy.loader import (
    PROFILE_SUFFIXES,
    Catalogue,
    FileCheck,
    LoadedProfile,
    ProfileSource,
    check_file,
    display_path,
)
from tpdevice.therapy.profile_errors import ProfileError, ProfileProblem

__all__ = ["catalogue_clash", "is_profile_path", "resolve_profile", "skipped_lines"]


def is_profile_path(ref: str) -> bool:
    """True when `ref` names a file (a path or a .yaml/.yml name), not a profile id."""
    return "/" in ref or os.sep in ref or ref.endswith(PROFILE_SUFFIXES)


def resolve_profile(ref: str, catalogue: Catalogue) -> LoadedProfile:
    """The profile `ref` names: an id in the catalogue, or a file checked as validate does.

    ProfileError lists every problem of that file, or names the id and close matches.
    """
    if is_profile_path(ref):
        return _file_profile(Path(ref), catalogue)
    own = [
        problem
        for problem in catalogue.problems
        if (problem.file is not None and problem.file.stem == ref) or f"{ref!r}" in problem.message
    ]
    if own:  # a broken file or a duplicate of this id is the real reason, not "unknown"
        raise ProfileError(own)
    return catalogue.require(ref)


def _file_profile(path: Path, catalogue: Catalogue) -> LoadedProfile:
    if not os.path.lexists(path):
        raise ProfileError(ProfileProblem("no such file or directory", display_path(path)))
    if path.is_dir():
        raise ProfileError(ProfileProblem("is a directory, not a profile file", path))
    result = check_file(path)
    problems = [*result.problems, *catalogue_clash(result, catalogue)]
    if result.profile is None or problems:
        raise ProfileError(problems)
    return LoadedProfile(result.profile, path, ProfileSource.FILE)


def catalogue_clash(result: FileCheck, catalogue: Catalogue) -> list[ProfileProblem]:
    """A file whose id another catalogue file already uses (a file never shadows one)."""
    if result.profile is None:
        return []
    other = catalogue.get(result.profile.id)
    if other is None or _same_file(other.path, result.path):
        return []
    return [
        ProfileProblem(
            f"duplicate profile id {result.profile.id!r}: already defined in "
            f"{display_path(other.path)} ({other.source})",
            display_path(result.path),
            result.id_line,
        )
    ]


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.samefile(second)
    except OSError:
        return False


def skipped_lines(problems: Iterable[ProfileProblem]) -> list[str]:
    """One line per file the catalogue skipped (its first problem), then problems of no file."""
    by_file: dict[Path, list[ProfileProblem]] = {}
    lines: list[str] = []
    for problem in problems:
        if problem.warning:
            continue
        if problem.file is None:
            lines.append(str(problem))
        else:
            by_file.setdefault(problem.file, []).append(problem)
    for found in by_file.values():
        more = f"{len(found) - 1} more problems; " if len(found) > 2 else ""
        more = "1 more problem; " if len(found) == 2 else more
        lines.append(f"{found[0]} ({more}file skipped)")
    return lines
