"""Help that reads like help: a flag shows no type, a value shows the word it stands for."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption

__all__ = ["tidy_help"]


def tidy_help(command: Any) -> Any:
    """The command tree with type tags (`<bool>`, `<str>`) dropped from its help; returned."""
    for param in command.params:
        _tidy_param(param)
    _tidy_help_option(command)
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            tidy_help(sub)
    return command


def _tidy_param(param: Any) -> None:
    """Flags: nothing after the name. Values: the metavar given, else the option's name."""
    if isinstance(param, TyperOption):
        if param.is_flag:
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = param.name.upper() if param.name else "VALUE"
    elif isinstance(param, TyperArgument) and param.metavar:
        param.display_type_rich = _no_type  # type: ignore[method-assign]


def _tidy_help_option(command: Any) -> None:
    """--help is made on demand; make it a flag without a type too."""
    make = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option


def _no_type(ctx: Any) -> None:
    """An argument with a metavar names its value already."""
    return None
