"""What every simulated fleet shares: its guns started and stopped together, its radio, serve()."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

from tpdevice_sim.invariants import Violation

if TYPE_CHECKING:
    from tpdevice_sim.ble.spec import PeripheralHci

__all__ = ["Fleet", "FleetMember", "serve"]


class FleetMember(Protocol):
    """One simulated gun as a fleet sees it."""

    @property
    def address(self) -> str:
        """The address a client uses to reach it."""
        ...

    @property
    def violations(self) -> list[Violation]:
        """What its invariant monitor caught."""
        ...

    async def start(self) -> None:
        """Start serving."""
        ...

    async def stop(self) -> None:
        """Stop serving; idempotent."""
        ...


G = TypeVar("G", bound=FleetMember)


class Fleet(Generic[G]):
    """Guns started in order and stopped together, then their radio (if any); an async context.

    Subclasses fill `guns` and `radio` in their constructor.
    """

    guns: list[G]
    radio: PeripheralHci | None = None

    @property
    def addresses(self) -> list[str]:
        """One address per gun, in order."""
        return [gun.address for gun in self.guns]

    @property
    def violations(self) -> list[Violation]:
        """Every gun's invariant violations."""
        return [v for gun in self.guns for v in gun.violations]

    async def start(self) -> list[str]:
        """Start every gun; return their addresses. A failure stops the ones started."""
        try:
            for gun in self.guns:
                await gun.start()
        except BaseException:
            await self.stop()
            raise
        return self.addresses

    async def stop(self) -> None:
        """Stop every gun, then release the radio; idempotent."""
        for gun in self.guns:
            await gun.stop()
        if self.radio is not None:
            await self.radio.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve(
    fleet: Fleet[Any], print_address: Callable[[str], None], stop_event: asyncio.Event
) -> None:
    """Run the fleet until stop_event is set, printing one address per gun once serving."""
    async with fleet:
        for address in fleet.addresses:
            print_address(address)
        await stop_event.wait()
