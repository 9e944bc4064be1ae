"""Where the repository's own files are, for tests that read them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parents[1]
PROFILES_DIR = ROOT / "profiles"


def shipped_profiles() -> list[Path]:
    """Every profile file shipped in profiles/."""
    return sorted(PROFILES_DIR.glob("*.yaml"))
