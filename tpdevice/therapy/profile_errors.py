"""Profile problems: where in which file, what is wrong, and the error that carries them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tpdevice.errors import TpDeviceError
from tpdevice.therapy.profile_text import escape_controls

__all__ = ["MAX_PROFILE_BYTES", "ProfileError", "ProfileProblem", "YamlProblem"]

# Profiles are a few kB; a bigger file is a mistake (and parsing it could stall a daemon).
MAX_PROFILE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class ProfileProblem:
    """One problem (or warning) in a profile: file, line (1-based, 0 = unknown) and message."""

    message: str
    file: Path | None = None
    line: int = 0
    warning: bool = False

    def __str__(self) -> str:
        where = "" if self.file is None else str(self.file)
        if where and self.line > 0:
            where = f"{where}:{self.line}"
        label = "warning: " if self.warning else ""
        text = f"{where}: {label}{self.message}" if where else f"{label}{self.message}"
        return escape_controls(text)  # names and values from a file never drive the terminal


class ProfileError(TpDeviceError):
    """A profile (or the set of profiles) is unusable; `problems` lists every reason."""

    def __init__(self, problems: list[ProfileProblem] | ProfileProblem | str) -> None:
        if isinstance(problems, str):
            problems = ProfileProblem(problems)
        if isinstance(problems, ProfileProblem):
            problems = [problems]
        self.problems: tuple[ProfileProblem, ...] = tuple(problems)
        first = str(self.problems[0]) if self.problems else "bad profile"
        more = len(self.problems) - 1
        super().__init__(f"{first} (and {more} more)" if more > 0 else first)


class YamlProblem(Exception):
    """The file's text is not usable YAML; `line` is 1-based (0 = unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
