"""The profile cache: used when files are unchanged, never a reason for anything to fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_main

from tpdevice.therapy import loader
from tpdevice.therapy.loader import (
    PROFILES_DIR_ENV,
    FileCheck,
    load_catalogue,
    profile_files,
    shipped_profiles_dir,
)
from tpdevice.therapy.profile_cache import ProfileCache, default_cache_file
from tpdevice.therapy.profile_dump import profile_from_dump

DATA = Path(__file__).parent / "data"
OK = DATA / "profiles_ok"


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    """A copy of the three valid fixture profiles."""
    directory = tmp_path / "profiles"
    directory.mkdir()
    for path in OK.iterdir():
        (directory / path.name).write_text(path.read_text())
    return directory


def _load(directory: Path, cache_file: Path) -> loader.Catalogue:
    return load_catalogue(
        [directory],
        shipped_dir=directory / "none",
        include_shipped=False,
        user_dir=directory / "none",
        cache=ProfileCache(cache_file),
    )


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every file the loader checks from scratch."""
    checked: list[Path] = []
    real = loader.check_file

    def spy(path: Path, *, check_stem: bool = True) -> FileCheck:
        checked.append(path)
        return real(path, check_stem=check_stem)

    monkeypatch.setattr(loader, "check_file", spy)
    return checked


def test_unchanged_files_come_from_the_cache(
    monkeypatch: pytest.MonkeyPatch, profiles: Path, tmp_path: Path
) -> None:
    cache_file = tmp_path / "c" / "profiles.json"
    first = _load(profiles, cache_file)
    assert cache_file.is_file()
    checked = _no_parsing(monkeypatch)
    second = _load(profiles, cache_file)
    assert checked == []
    assert [entry.profile for entry in second] == [entry.profile for entry in first]
    assert second.advice == first.advice


def test_a_changed_file_is_checked_again(
    monkeypatch: pytest.MonkeyPatch, profiles: Path, tmp_path: Path
) -> None:
    cache_file = tmp_path / "profiles.json"
    _load(profiles, cache_file)
    neck = profiles / "neck-test.yaml"
    neck.write_text(neck.read_text().replace("max_force_n: 30", "max_force_n: 300"))
    checked = _no_parsing(monkeypatch)
    catalogue = _load(profiles, cache_file)
    assert checked == [neck]
    assert "neck-test" not in catalogue.ids()
    assert [problem.line for problem in catalogue.problems] == [14]


def test_invalid_files_are_never_cached(profiles: Path, tmp_path: Path) -> None:
    (profiles / "bad.yaml").write_text("id: [unclosed\n")
    cache_file = tmp_path / "profiles.json"
    for _ in range(2):
        catalogue = _load(profiles, cache_file)
        assert [problem.file.name for problem in catalogue.problems if problem.file] == ["bad.yaml"]
    entries = json.loads(cache_file.read_text())["entries"]
    assert not any(key.endswith("bad.yaml") for key in entries)


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff garbage",
        b"[1, 2]",
        b'{"format": 1, "entries": []}',
        None,  # a valid cache with every entry mangled
    ],
)
def test_a_corrupt_cache_is_ignored(
    monkeypatch: pytest.MonkeyPatch, profiles: Path, tmp_path: Path, content: bytes | None
) -> None:
    cache_file = tmp_path / "profiles.json"
    expected = _load(profiles, cache_file)
    if content is None:
        document = json.loads(cache_file.read_text())
        for index, entry in enumerate(document["entries"].values()):
            entry.update([{"profile": "{not json"}, {"advice": 7}, {"id_line": "x"}][index % 3])
        cache_file.write_text(json.dumps(document))
    else:
        cache_file.write_bytes(content)
    catalogue = _load(profiles, cache_file)
    assert [entry.profile for entry in catalogue] == [entry.profile for entry in expected]
    assert catalogue.problems == ()
    assert json.loads(cache_file.read_text())["entries"]  # rewritten whole


def test_an_unwritable_cache_never_breaks_loading(profiles: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache dir should be")
    catalogue = _load(profiles, blocker / "tpdevice" / "profiles.json")
    assert len(catalogue) == 3 and catalogue.problems == ()
    assert blocker.read_text() == "a file where the cache dir should be"
    assert [name for name in os.listdir(tmp_path) if name.startswith(".profiles-")] == []


def test_the_cli_uses_xdg_cache_home_and_survives_a_bad_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(PROFILES_DIR_ENV, str(OK))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "120")
    first = run_main(capsys, "profiles", "list")
    assert first[0] == 0
    assert default_cache_file() == tmp_path / "cache" / "tpdevice" / "profiles.json"
    assert default_cache_file().is_file()
    assert run_main(capsys, "profiles", "list") == first
    default_cache_file().write_text("{corrupt")
    assert run_main(capsys, "profiles", "list") == first
    monkeypatch.setenv("XDG_CACHE_HOME", str(default_cache_file()))  # a file, not a dir
    assert run_main(capsys, "profiles", "list") == first


@pytest.mark.parametrize(
    "mangle",
    [
        lambda profile: profile.pop("caps"),
        lambda profile: profile.update(surprise=1),
        lambda profile: profile["steps"][0].update(kind="spin"),
        lambda profile: profile["steps"][0].pop("duration_s"),
        lambda profile: profile.update(laterality="sideways"),
        lambda profile: profile.update(steps=7),
        lambda profile: profile.update(caps=[1, 2]),
    ],
)
def test_a_cached_profile_that_is_not_a_whole_dump_is_read_again(
    profiles: Path, tmp_path: Path, mangle: Callable[[dict[str, Any]], object]
) -> None:
    cache_file = tmp_path / "profiles.json"
    expected = _load(profiles, cache_file)
    document = json.loads(cache_file.read_text())
    for entry in document["entries"].values():
        profile = json.loads(entry["profile"])
        mangle(profile)
        entry["profile"] = json.dumps(profile)
    cache_file.write_text(json.dumps(document))
    catalogue = _load(profiles, cache_file)
    assert [entry.profile for entry in catalogue] == [entry.profile for entry in expected]


def test_every_shipped_profile_comes_back_from_its_dump_as_it_was() -> None:
    shipped = shipped_profiles_dir()
    assert shipped is not None
    for path in profile_files(shipped):
        profile = loader.load_profile(path)
        back = profile_from_dump(json.loads(profile.model_dump_json()))
        assert back == profile
        assert repr(back) == repr(profile)
        assert back.model_dump_json() == profile.model_dump_json()


LOAD_FROM_CACHE = """
import json, sys
from pathlib import Path
from tpdevice.therapy.loader import load_catalogue
from tpdevice.therapy.profile_cache import ProfileCache
cache = ProfileCache(Path(sys.argv[1]))
catalogue = load_catalogue([], include_shipped=True, user_dir=Path(sys.argv[2]), cache=cache)
cache.save()
print(json.dumps([len(catalogue), "pydantic" in sys.modules]))
"""


def test_profiles_from_the_cache_need_no_pydantic(tmp_path: Path) -> None:
    def load() -> list[Any]:
        argv = [sys.executable, "-c", LOAD_FROM_CACHE, str(tmp_path / "c.json"), str(tmp_path)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        result: list[Any] = json.loads(done.stdout)
        return result

    count, validated_with_pydantic = load()
    assert count >= 14 and validated_with_pydantic
    assert load() == [count, False]
