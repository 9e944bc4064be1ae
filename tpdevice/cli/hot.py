"""`profiles list` and `run` straight from argv, without building the typer app.

Only plain, fully understood argv forms take this path; anything else (help, completion,
`--opt=value`, an unknown or repeated option, a value that is not plainly a number) goes to
the typer app, which then parses, reports and exits exactly as it always does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["Invocation", "parse_fast", "start_run"]

Invocation = Callable[[], int]

_NUMBER = re.compile(r"\d+(\.\d*)?|\.\d+")
_LIST_FLAGS = frozenset({"--json"})
_LIST_MULTI = frozenset({"--profiles-dir"})
_RUN_FLAGS = frozenset({"--json", "--yes", "-y", "--no-journal"})
_RUN_VALUES = frozenset({"--device", "--side", "--mode", "--journal"})
_RUN_NUMBERS = frozenset({"--time-scale", "--intensity"})
_RUN_MULTI = frozenset({"--profiles-dir"})


class _Unplain(Exception):
    """The argv is not one this path understands fully: typer takes it."""


def _completing() -> bool:
    return any(name.startswith("_") and "COMPLETE" in name for name in os.environ)


def parse_fast(argv: Sequence[str]) -> Invocation | None:
    """The command argv names, ready to run, when it is a plain form; else None (typer's)."""
    if _completing() or len(argv) < 2:
        return None
    try:
        if list(argv[:2]) == ["profiles", "list"]:
            return _list_invocation(argv[2:])
        if argv[0] == "run":
            return _run_invocation(argv[1:])
    except _Unplain:
        return None
    return None


def _split(
    args: Sequence[str], flags: frozenset[str], values: frozenset[str], multi: frozenset[str]
) -> tuple[dict[str, str | bool], dict[str, list[str]], list[str]]:
    """Options, repeatable options and positionals; _Unplain for anything unusual."""
    single: dict[str, str | bool] = {}
    repeated: dict[str, list[str]] = {name: [] for name in multi}
    positional: list[str] = []
    rest = list(args)
    while rest:
        token = rest.pop(0)
        if not token.startswith("-") and token:
            positional.append(token)
            continue
        if token in single or not (token in flags or token in values or token in multi):
            raise _Unplain(token)
        if token in flags:
            single[token] = True
            continue
        if not rest or not rest[0] or rest[0].startswith("-"):
            raise _Unplain(token)
        value = rest.pop(0)
        if token in multi:
            repeated[token].append(value)
        else:
            single[token] = value
    return single, repeated, positional


def _list_invocation(args: Sequence[str]) -> Invocation:
    single, repeated, positional = _split(args, _LIST_FLAGS, frozenset(), _LIST_MULTI)
    if positional:
        raise _Unplain(positional[0])
    dirs = [Path(text) for text in repeated["--profiles-dir"]]
    json_out = "--json" in single

    def invoke() -> int:
        from tpdevice.cli.catalogue import list_profiles

        return list_profiles(dirs or None, json_out)

    return invoke


def _run_invocation(args: Sequence[str]) -> Invocation:
    single, repeated, positional = _split(args, _RUN_FLAGS, _RUN_VALUES | _RUN_NUMBERS, _RUN_MULTI)
    if len(positional) != 1 or ("--yes" in single and "-y" in single):
        raise _Unplain(" ".join(positional))
    time_scale = _number(single.get("--time-scale", "1"))
    intensity = _number(single.get("--intensity", "100"))
    text = {name: single.get(name) for name in ("--device", "--side", "--mode", "--journal")}
    dirs = [Path(value) for value in repeated["--profiles-dir"]]

    def invoke() -> int:
        start_run(
            positional[0],
            _text_or_none(text["--device"]),
            _text_or_none(text["--side"]),
            time_scale,
            "--json" in single,
            dirs or None,
            _text_or_none(text["--mode"]) or "auto",
            intensity,
            yes="--yes" in single or "-y" in single,
            journal=None if text["--journal"] is None else Path(str(text["--journal"])),
            no_journal="--no-journal" in single,
        )
        return 0

    return invoke


def _number(value: str | bool) -> float:
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        raise _Unplain(str(value))
    return float(value)


def _text_or_none(value: str | bool | None) -> str | None:
    return value if isinstance(value, str) else None


def start_run(
    profile: str,
    device: str | None,
    side: str | None,
    time_scale: float,
    json_out: bool,
    profiles_dir: list[Path] | None,
    mode: str,
    intensity: float,
    *,
    yes: bool,
    journal: Path | None,
    no_journal: bool,
) -> None:
    """`tpdevice run` once its options are parsed: check them all, then run the session."""
    from tpdevice.cli import run_cmd, run_route
    from tpdevice.cli.entry import startup_done
    from tpdevice.daemon.paths import default_journal_path

    startup_done()

    device, daemon_gun = run_route.route(device)
    if daemon_gun is not None:
        run_route.run_on_daemon(
            daemon_gun, profile, side, json_out=json_out, yes=yes, time_scale=time_scale,
            mode=mode, intensity_pct=intensity, profiles_dirs=profiles_dir or [],
        )  # fmt: skip
        return
    settings = run_cmd.parse_settings(
        profile,
        device,
        side,
        time_scale,
        json_out,
        profiles_dir or [],
        mode,
        intensity,
        yes=yes,
        journal=None if no_journal else journal or default_journal_path(),
    )
    run_cmd.run(settings)
