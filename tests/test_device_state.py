"""StateHolder: one enum value, its listeners, and waiting for a value."""

from __future__ import annotations

import asyncio

from tpdevice.device.state import ConnectionState, StateHolder

State = ConnectionState


async def test_wait_for_returns_at_once_when_the_value_is_already_wanted() -> None:
    holder = StateHolder("gun", State.READY)
    assert await holder.wait_for(State.READY, State.RUNNING) is State.READY


async def test_wait_for_returns_the_first_wanted_value_and_stops_listening() -> None:
    holder = StateHolder("gun", State.DISCONNECTED)
    seen: list[tuple[State, State]] = []
    holder.subscribe(lambda old, new: seen.append((old, new)))
    waiting = asyncio.create_task(holder.wait_for(State.READY, State.FAILED))
    await asyncio.sleep(0)
    holder.set(State.CONNECTING)  # not wanted: still waiting
    await asyncio.sleep(0)
    assert not waiting.done()
    holder.set(State.FAILED)
    holder.set(State.READY)  # after the first wanted value: not what is returned
    assert await waiting is State.FAILED
    assert len(holder._listeners) == 1  # only the test's own listener is left
    assert seen[-1] == (State.FAILED, State.READY)


async def test_a_cancelled_wait_unsubscribes() -> None:
    holder = StateHolder("gun", State.DISCONNECTED)
    waiting = asyncio.create_task(holder.wait_for(State.READY))
    await asyncio.sleep(0)
    assert len(holder._listeners) == 1
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert holder._listeners == []
    holder.set(State.READY)  # no listener left to fail on a cancelled future
