"""Loading profiles: one file, a directory, or the catalogue (shipped + user + extra dirs)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from tpdevice.therapy.profile import DEFER_CHECKS, FieldProblem, Profile
from tpdevice.therapy.profile_dirs import (
    PROFILE_SUFFIXES,
    PROFILES_DIR_ENV,
    profile_files,
    shipped_profiles_dir,
    user_profiles_dir,
)
from tpdevice.therapy.profile_errors import ProfileError, ProfileProblem, YamlProblem
from tpdevice.therapy.profile_messages import error_loc, error_message
from tpdevice.therapy.profile_read import read_profile_text

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from tpdevice.therapy.profile_cache import ProfileCache
    from tpdevice.therapy.profile_yaml import ParsedYaml

__all__ = [
    "PROFILES_DIR_ENV",
    "PROFILE_SUFFIXES",
    "Catalogue",
    "FileCheck",
    "LoadedProfile",
    "ProfileSource",
    "check_file",
    "check_files",
    "display_path",
    "load_catalogue",
    "load_profile",
    "profile_files",
    "shipped_profiles_dir",
    "user_profiles_dir",
]

_LOGGER = logging.getLogger(__name__)


class ProfileSource(StrEnum):
    """Where a profile came from."""

    SHIPPED = "shipped"
    USER = "user"
    EXTRA = "extra"  # a --profiles-dir
    FILE = "file"  # a file named on the command line


@dataclass(frozen=True, slots=True)
class FileCheck:
    """The outcome of checking one file: the profile when valid, every problem otherwise."""

    path: Path
    profile: Profile | None
    problems: tuple[ProfileProblem, ...] = ()
    advice: tuple[ProfileProblem, ...] = ()
    id_line: int = 0  # line of `id:`, for problems about the id as a whole

    @property
    def ok(self) -> bool:
        """True when the file holds a valid profile."""
        return self.profile is not None and not self.problems


@dataclass(frozen=True, slots=True)
class LoadedProfile:
    """A valid profile, the file it came from and its source."""

    profile: Profile
    path: Path
    source: ProfileSource


def display_path(path: Path) -> Path:
    """The path relative to the working directory when it lies below it."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return path


def _problem(path: Path, parsed: ParsedYaml | None, item: FieldProblem) -> ProfileProblem:
    line = 0 if parsed is None else parsed.line_of(item.loc)
    return ProfileProblem(item.message, display_path(path), line)


def _parse(path: Path) -> ParsedYaml:
    # Imported here, not at the top: a catalogue served from the cache never loads YAML.
    from tpdevice.therapy.profile_yaml import parse_yaml

    parsed = parse_yaml(read_profile_text(path))
    if parsed.data is None:
        raise YamlProblem("file is empty (expected a mapping of profile fields)", 1)
    if not isinstance(parsed.data, dict):
        kind = "a list" if isinstance(parsed.data, list) else type(parsed.data).__name__
        line = 1 if parsed.root is None else parsed.root.start_mark.line + 1
        raise YamlProblem(f"the top level must be a mapping of profile fields, not {kind}", line)
    return parsed


def check_file(path: Path, *, check_stem: bool = True) -> FileCheck:
    """Check one profile file; never raises for bad content (problems carry file and line)."""
    try:
        parsed = _parse(path)
    except YamlProblem as err:
        return FileCheck(path, None, (ProfileProblem(err.message, display_path(path), err.line),))
    from pydantic import ValidationError  # a profile from the cache is not validated again

    try:
        profile = Profile.model_validate(parsed.data, context={DEFER_CHECKS: True})
    except ValidationError as err:
        errors = tuple(
            _problem(path, parsed, _field_problem(parsed, error))
            for error in err.errors(include_url=False)
        )
        return FileCheck(path, None, errors)
    found = profile.problems()
    if check_stem and profile.id != path.stem:
        found.append(
            FieldProblem(
                ("id",),
                f"id = {profile.id!r} does not match the file name {path.name} "
                f"(the file must be named {profile.id}{path.suffix})",
            )
        )
    problems = tuple(_problem(path, parsed, item) for item in found)
    advice = tuple(_advice(path, parsed, item) for item in profile.advice())
    id_line = parsed.line_of(("id",))
    return FileCheck(path, None if problems else profile, problems, advice, id_line)


def _field_problem(parsed: ParsedYaml, error: ErrorDetails) -> FieldProblem:
    return FieldProblem(
        error_loc(parsed.data, tuple(error["loc"])), error_message(parsed.data, error)
    )


def _advice(path: Path, parsed: ParsedYaml, item: FieldProblem) -> ProfileProblem:
    problem = _problem(path, parsed, item)
    return ProfileProblem(problem.message, problem.file, problem.line, warning=True)


def load_profile(path: Path, *, check_stem: bool = True) -> Profile:
    """The profile in `path`; ProfileError listing every problem otherwise."""
    result = check_file(path, check_stem=check_stem)
    if result.profile is None:
        raise ProfileError(list(result.problems))
    return result.profile


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every valid profile found, and every problem met on the way (bad files, duplicates)."""

    entries: tuple[LoadedProfile, ...]
    problems: tuple[ProfileProblem, ...] = ()
    advice: tuple[ProfileProblem, ...] = ()
    _by_id: dict[str, LoadedProfile] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update((entry.profile.id, entry) for entry in self.entries)

    def __iter__(self) -> Iterator[LoadedProfile]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def ids(self) -> list[str]:
        """Every profile id, in load order."""
        return [entry.profile.id for entry in self.entries]

    def get(self, profile_id: str) -> LoadedProfile | None:
        """The entry with this id, or None."""
        return self._by_id.get(profile_id)

    def require(self, profile_id: str) -> LoadedProfile:
        """The entry with this id; ProfileError naming the id and close matches otherwise."""
        entry = self.get(profile_id)
        if entry is not None:
            return entry
        import difflib  # only an unknown id needs it: a run starts without

        close = difflib.get_close_matches(profile_id, self.ids(), n=3, cutoff=0.7)
        close += [known for known in self.ids() if profile_id in known and known not in close]
        close = close[:3]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        if not close and not self.entries:
            hint = " (no profiles found)"
        raise ProfileError(f"unknown profile {profile_id!r}{hint}")


class _CatalogueBuilder:
    """Adds files in priority order; the first file with an id wins, later ones are errors."""

    def __init__(self, cache: ProfileCache | None) -> None:
        self.cache = cache
        self.entries: dict[str, LoadedProfile] = {}
        self.problems: list[ProfileProblem] = []
        self.advice: list[ProfileProblem] = []

    def add_file(self, path: Path, source: ProfileSource) -> None:
        result = self._check(path)
        self.problems.extend(result.problems)
        self.advice.extend(result.advice)
        if result.profile is None:
            return
        first = self.entries.get(result.profile.id)
        if first is not None:
            self.problems.append(
                ProfileProblem(
                    f"duplicate profile id {result.profile.id!r}: already defined in "
                    f"{display_path(first.path)}",
                    display_path(path),
                    result.id_line,
                )
            )
            return
        self.entries[result.profile.id] = LoadedProfile(result.profile, path, source)

    def _check(self, path: Path) -> FileCheck:
        if self.cache is None:
            return check_file(path)
        result = self.cache.get(path)
        if result is None:
            result = check_file(path)
            self.cache.put(result)
        return result

    def add_dir(self, directory: Path, source: ProfileSource, *, must_exist: bool) -> None:
        if not directory.is_dir():
            if must_exist:
                self.problems.append(ProfileProblem(f"profiles dir {directory} does not exist"))
            return
        try:
            files = profile_files(directory)
        except OSError as err:
            self.problems.append(ProfileProblem(f"cannot list {directory}: {err.strerror}"))
            return
        for path in files:
            self.add_file(path, source)

    def build(self) -> Catalogue:
        return Catalogue(tuple(self.entries.values()), tuple(self.problems), tuple(self.advice))


def load_catalogue(
    extra_dirs: Sequence[Path] = (),
    *,
    shipped_dir: Path | None = None,
    user_dir: Path | None = None,
    include_shipped: bool = True,
    include_user: bool = True,
    cache: ProfileCache | None = None,
) -> Catalogue:
    """Shipped, then user, then each extra dir; a bad file or duplicate id becomes a problem.

    With a cache, files unchanged since they were last found valid are not parsed again.
    """
    builder = _CatalogueBuilder(cache)
    seen: set[Path] = set()
    for directory, source, must_exist in _dirs(
        extra_dirs, shipped_dir, user_dir, include_shipped, include_user
    ):
        key = directory.resolve()
        if key in seen:
            continue  # the same dir named twice would clash with itself
        seen.add(key)
        builder.add_dir(directory, source, must_exist=must_exist)
    catalogue = builder.build()
    if cache is not None:
        cache.save()
    _LOGGER.debug("%d profiles, %d problems", len(catalogue), len(catalogue.problems))
    return catalogue


def _dirs(
    extra_dirs: Iterable[Path],
    shipped_dir: Path | None,
    user_dir: Path | None,
    include_shipped: bool,
    include_user: bool,
) -> Iterator[tuple[Path, ProfileSource, bool]]:
    if include_shipped:
        shipped = shipped_dir or shipped_profiles_dir()
        if shipped is not None:
            yield shipped, ProfileSource.SHIPPED, shipped_dir is not None
    if include_user:
        yield user_dir or user_profiles_dir(), ProfileSource.USER, False
    for directory in extra_dirs:
        yield directory, ProfileSource.EXTRA, True


def check_files(paths: Sequence[Path]) -> tuple[list[FileCheck], list[ProfileProblem]]:
    """Check files and dirs (each *.yaml inside); also reports duplicate ids among them."""
    results: list[FileCheck] = []
    problems: list[ProfileProblem] = []
    for path in paths:
        if path.is_dir():
            results.extend(check_file(file) for file in profile_files(path))
        elif not os.path.lexists(path):
            missing = ProfileProblem("no such file or directory", display_path(path))
            results.append(FileCheck(path, None, (missing,)))
        else:
            results.append(check_file(path))
    first: dict[str, Path] = {}
    for result in results:
        if result.profile is None:
            continue
        other = first.setdefault(result.profile.id, result.path)
        if other != result.path:
            problems.append(
                ProfileProblem(
                    f"duplicate profile id {result.profile.id!r}: already defined in "
                    f"{display_path(other)}",
                    display_path(result.path),
                    result.id_line,
                )
            )
    return results, problems
