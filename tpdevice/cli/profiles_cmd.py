"""`tpdevice profiles`: list, show and validate therapy profiles, and print their JSON Schema."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tpdevice.cli.catalogue import list_profiles as list_catalogue
from tpdevice.cli.catalogue import load_cli_catalogue, plural, print_skipped, require_profile

if TYPE_CHECKING:
    from tpdevice.therapy.loader import Catalogue
    from tpdevice.therapy.profile_errors import ProfileProblem

__all__ = [
    "load_cli_catalogue",
    "plural",
    "print_skipped",
    "profiles_app",
    "require_profile",
]

profiles_app = typer.Typer(
    help="List, show and validate therapy profiles.", no_args_is_help=True, add_completion=False
)

DirsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--profiles-dir",
        metavar="DIR",
        help="Also load profiles from DIR (repeatable; after shipped and user profiles).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout instead of tables.")]


def _print_problems(problems: Sequence[ProfileProblem]) -> None:
    for problem in problems:
        sys.stderr.write(f"{problem}\n")


@profiles_app.command("list")
def list_profiles(profiles_dir: DirsOpt = None, json_out: JsonOpt = False) -> None:
    """List every profile (id, title, region, laterality, duration, source)."""
    code = list_catalogue(profiles_dir, json_out)
    if code:
        raise typer.Exit(code)


@profiles_app.command("show")
def show_profile(
    profile_ref: Annotated[
        str, typer.Argument(metavar="PROFILE", help="Profile id, or a profile file's path.")
    ],
    profiles_dir: DirsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one profile: region, caps, steps with units, avoid-zones and contraindications."""
    from tpdevice.cli.profiles_view import print_profile

    entry = require_profile(load_cli_catalogue(profiles_dir), profile_ref)
    if json_out:
        sys.stdout.write(entry.profile.model_dump_json(indent=2) + "\n")
    else:
        print_profile(entry)


@profiles_app.command("validate")
def validate_profiles(
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[FILE|DIR]...", help="Files or dirs (default: every profile)."),
    ] = None,
    profiles_dir: DirsOpt = None,
) -> None:
    """Check profile files (ids also against the catalogue); one line per problem, exit 1 if any."""
    catalogue = load_cli_catalogue(profiles_dir)
    if not files:
        _report(len(catalogue), catalogue.problems, catalogue.advice)
        return
    problems, advice, checked = _check_given(files, catalogue)
    _report(checked, problems, advice)


def _check_given(
    files: Sequence[Path], catalogue: Catalogue
) -> tuple[list[ProfileProblem], list[ProfileProblem], int]:
    from tpdevice.therapy.loader import check_files
    from tpdevice.therapy.profile_resolve import catalogue_clash

    results, problems = check_files(files)
    for result in results:
        problems.extend(result.problems)
        problems.extend(catalogue_clash(result, catalogue))
    advice = [item for result in results for item in result.advice]
    return problems, advice, len(results)


def _report(
    checked: int, problems: Sequence[ProfileProblem], advice: Sequence[ProfileProblem]
) -> None:
    _print_problems(advice)
    _print_problems(problems)
    if problems:
        bad = len({problem.file for problem in problems})
        sys.stderr.write(f"bad: {plural(len(problems), 'problem')} in {plural(bad, 'file')}\n")
        raise typer.Exit(1)
    sys.stdout.write(f"ok: {plural(checked, 'profile')}\n")


@profiles_app.command("schema")
def print_schema() -> None:
    """Print the JSON Schema of a profile file."""
    from tpdevice.therapy.schema import profile_schema_text

    sys.stdout.write(profile_schema_text())
