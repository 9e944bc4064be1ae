"""The floor of `bench link`: a raw echo of the same bytes, timed like the real round trip."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from tpdevice.cli.bench_child import BenchError, ChildServer, python_module_argv
from tpdevice.transport import EchoPeer, LoopbackTransport, Transport, open_transport, parse_address

__all__ = ["EchoRoundTrip", "open_echo", "time_calls"]


async def time_calls(call: Callable[[], Awaitable[object]], n: int, warmup: int) -> list[float]:
    """Seconds per awaited call, n of them after `warmup` untimed ones; GC off while timing."""
    for _ in range(warmup):
        await call()
    samples = [0.0] * n
    clock = time.perf_counter
    gc.collect()
    gc.disable()
    try:
        for i in range(n):
            start = clock()
            await call()
            samples[i] = clock() - start
    finally:
        gc.enable()
    return samples


class EchoRoundTrip:
    """Writes one frame through a host transport and waits until all its bytes came back."""

    def __init__(self, transport: Transport, frame: bytes) -> None:
        self.transport = transport
        self.frame = frame
        self._want = len(frame)
        self._got = 0
        self._waiter: asyncio.Future[None] | None = None

    async def open(self) -> None:
        """Open the host side of the echo link."""
        await self.transport.open(self._on_bytes, self._on_lost)

    async def close(self) -> None:
        """Close the host side."""
        await self.transport.close()

    def once(self) -> asyncio.Future[None]:
        """Send the frame; the future completes when the echo is complete."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self._got = 0
        self.transport.write(self.frame)
        return waiter

    def _on_bytes(self, data: bytes) -> None:
        self._got += len(data)
        waiter = self._waiter
        if self._got >= self._want and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_lost(self, exc: BaseException | None) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(BenchError(f"{self.transport.address}: echo link lost ({exc})"))


async def open_echo(kind: str, frame: bytes, stack: AsyncExitStack) -> EchoRoundTrip:
    """An open echo link of the kind: in-process peer (loopback), or a child on a pty / port."""
    transport: Transport
    if kind == "loopback":
        transport = LoopbackTransport(EchoPeer(), "echo")
    else:
        argv = python_module_argv("tpdevice_sim.echo", "--transport", kind)
        child = await stack.enter_async_context(ChildServer(argv, f"{kind} echo server"))
        transport = open_transport(parse_address(child.address))
    echo = EchoRoundTrip(transport, frame)
    await echo.open()
    stack.push_async_callback(echo.close)
    return echo
