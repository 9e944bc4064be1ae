"""`profiles list` from the listing cache: the same output, refreshed by any file change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_main, write_sweeps

from tpdevice.cli import entry
from tpdevice.therapy.profile_dirs import PROFILES_DIR_ENV, default_cache_file

OK = Path(__file__).parent / "data" / "profiles_ok"


@pytest.fixture
def extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A --profiles-dir with a copy of the test profiles; shipped and user dirs empty."""
    (tmp_path / "shipped").mkdir()
    monkeypatch.setenv(PROFILES_DIR_ENV, str(tmp_path / "shipped"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "100")
    directory = tmp_path / "extra"
    shutil.copytree(OK, directory)
    return directory


def _list(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        entry.main(["profiles", "list", *argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _listing_file() -> Path:
    return default_cache_file().with_name("listing.json")


@pytest.mark.parametrize("json_out", [False, True])
def test_a_cached_listing_prints_what_a_loaded_one_does(
    capsys: pytest.CaptureFixture[str], extra: Path, json_out: bool
) -> None:
    argv = ["--profiles-dir", str(extra), *(["--json"] if json_out else [])]
    loaded = run_main(capsys, "profiles", "list", *argv)  # the typer path fills the cache too
    assert _listing_file().is_file()
    assert _list(capsys, *argv) == loaded
    assert loaded[0] == 0


def _ids_and_titles(capsys: pytest.CaptureFixture[str], extra: Path) -> dict[str, str]:
    code, out, err = _list(capsys, "--json", "--profiles-dir", str(extra))
    assert code == 0, err
    return {row["id"]: row["title"] for row in json.loads(out)}


def test_an_edited_file_refreshes_the_listing(
    capsys: pytest.CaptureFixture[str], extra: Path
) -> None:
    _ids_and_titles(capsys, extra)
    calf = extra / "calf-test.yml"
    stat = calf.stat()
    calf.write_text(calf.read_text().replace("title: ", "title: Renamed "))
    os.utime(calf, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same mtime: size tells
    assert _ids_and_titles(capsys, extra)["calf-test"].startswith("Renamed ")


def test_an_added_or_removed_file_refreshes_the_listing(
    capsys: pytest.CaptureFixture[str], extra: Path
) -> None:
    before = _ids_and_titles(capsys, extra)
    write_sweeps(extra, "added-test", 10)
    (extra / "neck-test.yaml").unlink()
    after = _ids_and_titles(capsys, extra)
    assert set(after) == set(before) - {"neck-test"} | {"added-test"}


def test_a_catalogue_with_problems_is_never_served_from_the_cache(
    capsys: pytest.CaptureFixture[str], extra: Path
) -> None:
    (extra / "broken-test.yaml").write_text("id: broken-test\ntitle: [unclosed\n")
    first = _list(capsys, "--profiles-dir", str(extra))
    assert first[0] == 1 and "broken-test.yaml:" in first[2]
    assert _list(capsys, "--profiles-dir", str(extra)) == first
    assert not _listing_file().exists()


def test_a_duplicate_id_in_a_second_dir_is_reported_every_time(
    capsys: pytest.CaptureFixture[str], extra: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(extra, other)
    argv = ("--profiles-dir", str(extra), "--profiles-dir", str(other))
    _list(capsys, "--profiles-dir", str(extra))
    first = _list(capsys, *argv)
    assert first[0] == 1 and "duplicate profile id" in first[2]
    assert _list(capsys, *argv) == first


@pytest.mark.parametrize("content", ["{not json", '{"key": 1, "rows": 2}', "[]", ""])
def test_a_corrupt_listing_file_is_ignored_and_rewritten(
    capsys: pytest.CaptureFixture[str], extra: Path, content: str
) -> None:
    argv = ("--json", "--profiles-dir", str(extra))
    expected = _list(capsys, *argv)
    _listing_file().write_text(content)
    assert _list(capsys, *argv) == expected
    assert json.loads(_listing_file().read_text())["rows"] == json.loads(expected[1])


def test_an_unwritable_cache_dir_only_means_no_cache(
    capsys: pytest.CaptureFixture[str], extra: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = _listing_file().parent.parent / "blocker"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file: nothing can be created
    code, out, err = _list(capsys, "--profiles-dir", str(extra))
    assert (code, err) == (0, "")
    assert "3 profiles" in out


def test_a_cached_listing_imports_no_models_yaml_or_typer(extra: Path) -> None:
    argv = [sys.executable, "-X", "importtime", "-m", "tpdevice", "profiles", "list"]
    argv += ["--profiles-dir", str(extra)]
    subprocess.run(argv, capture_output=True, check=True, timeout=60)  # fills the cache
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "tpdevice.therapy.listing_cache" in imported
    tops = {name.split(".")[0] for name in imported}
    assert not tops & {"pydantic", "pydantic_core", "yaml", "typer", "click"}, sorted(tops)
    assert "tpdevice.therapy.profile" not in imported
