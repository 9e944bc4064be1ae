"""A helper process for a bench (a simulator or an echo server) that prints its address."""

from __future__ import annotations

import asyncio
import signal
import sys
from types import TracebackType

from tpdevice.errors import TpDeviceError

__all__ = ["BenchError", "ChildServer", "python_module_argv"]

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0


class BenchError(TpDeviceError):
    """A bench could not run (a helper did not start, a link failed mid-run)."""


def python_module_argv(module: str, *args: str) -> list[str]:
    """`python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *args]


class ChildServer:
    """Starts `argv`, reads the address it prints first; SIGTERM and reap on exit."""

    def __init__(self, argv: list[str], what: str) -> None:
        self.argv = argv
        self.what = what
        self.address = ""
        self.exit_code: int | None = None
        self.stderr_text = ""
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> ChildServer:
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            self.address = await self._read_address(self._proc)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        code = await self.stop()
        if code not in (0, -signal.SIGTERM):
            why = f"{self.what} exited with code {code}: {self._last_err()}"
            sys.stderr.write(f"tpdevice bench: warning: {why}\n")

    @property
    def pid(self) -> int | None:
        """The helper's process id while it runs."""
        return None if self._proc is None else self._proc.pid

    async def _read_address(self, proc: asyncio.subprocess.Process) -> str:
        """The first stdout line; BenchError if none comes."""
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            raise BenchError(
                f"{self.what} printed no address within {START_TIMEOUT_S:g} s"
            ) from None
        if not line.strip():
            await self.stop()
            raise BenchError(f"{self.what} exited with code {self.exit_code}: {self._last_err()}")
        return line.decode().strip()

    async def stop(self) -> int | None:
        """SIGTERM, wait (bounded), kill if needed; keep the exit code and stderr."""
        proc, self._proc = self._proc, None
        if proc is None:
            return self.exit_code
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), STOP_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            _, err = await proc.communicate()
        self.stderr_text = err.decode(errors="replace") if err else ""
        self.exit_code = proc.returncode
        return self.exit_code

    def _last_err(self) -> str:
        """The helper's last stderr line, for an error message."""
        lines = [line for line in self.stderr_text.splitlines() if line.strip()]
        return lines[-1] if lines else "no error output"
