"""Simulated guns for a bench: N guns in a child `tpdevice sim`, or in process on loopback."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from tpdevice.cli.bench_child import BenchError, ChildServer, python_module_argv

__all__ = ["FLEET_TRANSPORTS", "FleetServer", "start_fleet"]

FLEET_TRANSPORTS = ("serial", "tcp", "sim")
ADDRESS_TIMEOUT_S = 30.0


class FleetServer(ChildServer):
    """A child `tpdevice sim --count N`: reads all N addresses it prints."""

    def __init__(self, argv: list[str], what: str, count: int) -> None:
        super().__init__(argv, what)
        self.count = count
        self.addresses: list[str] = []

    async def _read_address(self, proc: asyncio.subprocess.Process) -> str:
        """The first address as ChildServer does, then the N-1 after it."""
        first = await super()._read_address(proc)
        assert proc.stdout is not None
        self.addresses = [first]
        try:
            async with asyncio.timeout(ADDRESS_TIMEOUT_S):
                while len(self.addresses) < self.count:
                    line = (await proc.stdout.readline()).decode().strip()
                    if not line:
                        raise BenchError(f"{self.what} stopped after {len(self.addresses)} guns")
                    self.addresses.append(line)
        except TimeoutError:
            raise BenchError(
                f"{self.what} printed {len(self.addresses)} of {self.count} addresses "
                f"within {ADDRESS_TIMEOUT_S:g} s"
            ) from None
        return first


async def start_fleet(
    transport: str, count: int, loop_name: str, stack: AsyncExitStack
) -> list[str]:
    """Addresses of `count` guns: `sim` ones are opened in process (one per client)."""
    if transport == "sim":
        return ["sim"] * count
    if transport not in FLEET_TRANSPORTS:
        raise BenchError(f"--transport: {transport!r} is not one of {', '.join(FLEET_TRANSPORTS)}")
    argv = python_module_argv(
        "tpdevice", "sim", "--transport", transport, "--count", str(count), "--loop", loop_name
    )
    what = f"{transport} simulator ({count} guns)"
    server = FleetServer(argv, what, count)
    await stack.enter_async_context(server)
    return server.addresses
