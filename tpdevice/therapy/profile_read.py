"""Reading a profile file: regular files only, a hard byte limit, never blocking."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tpdevice.therapy.profile_errors import MAX_PROFILE_BYTES, YamlProblem

__all__ = ["read_profile_text"]


def read_profile_text(path: Path) -> str:
    """The file's text: a regular file of at most MAX_PROFILE_BYTES, read without blocking."""
    try:
        data = _read_bytes(path)
    except OSError as err:
        raise YamlProblem(f"cannot read: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise YamlProblem("not UTF-8 text") from None


def _read_bytes(path: Path) -> bytes:
    # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise YamlProblem(f"not a regular file ({_file_kind(info.st_mode)})")
        if info.st_size > MAX_PROFILE_BYTES:
            raise YamlProblem(_too_large())
        chunks: list[bytes] = []
        left = MAX_PROFILE_BYTES + 1  # one byte more than allowed tells a file that grew
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        raise YamlProblem(_too_large())
    return b"".join(chunks)


def _too_large() -> str:
    return f"file is larger than {MAX_PROFILE_BYTES // 1024} kB"


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")
