"""Program upload: BEGIN, answer the device's PULLs with STEPs, then COMMIT with the hash.

A stalled upload (no PULL, or a request unanswered after its retransmissions) is begun
again, up to UPLOAD_ATTEMPTS times: a new BEGIN empties the device's staging buffer, and a
failed upload leaves the committed program in place. A lost link ends it at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from tpdevice.device.connection import DeviceConnection
from tpdevice.device.errors import (
    ConnectionLostError,
    DeviceError,
    DeviceTimeoutError,
    RequestAbandonedError,
)
from tpdevice.device.state import LinkState
from tpdevice.protocol import (
    Message,
    MsgType,
    ProgramBegin,
    ProgramCommit,
    ProgramPull,
    ProgramStep,
    program_hash,
)

__all__ = ["UPLOAD_ATTEMPTS", "indexed_steps", "upload_program"]

_LOGGER = logging.getLogger(__name__)

UPLOAD_ATTEMPTS = 3
# How often a wait for the next PULL looks at the link (a lost link sends no PULL).
_LINK_POLL_S = 0.05
_DEAD = frozenset({LinkState.LOST, LinkState.CLOSED})


def indexed_steps(steps: Sequence[ProgramStep]) -> list[ProgramStep]:
    """The steps with `index` set to their position (the order is what counts)."""
    return [s if s.index == i else dataclasses.replace(s, index=i) for i, s in enumerate(steps)]


async def upload_program(
    connection: DeviceConnection, steps: Sequence[ProgramStep], *, pull_timeout_s: float
) -> int:
    """Upload and commit `steps` (already indexed); return the program hash.

    DeviceRejectedError when the device refuses BEGIN, a step or the COMMIT;
    DeviceTimeoutError when every one of UPLOAD_ATTEMPTS uploads stalled (the last cause
    named); ConnectionLostError when the link drops meanwhile.
    """
    for attempt in range(1, UPLOAD_ATTEMPTS + 1):
        try:
            return await _upload_once(connection, steps, pull_timeout_s)
        except (DeviceTimeoutError, RequestAbandonedError) as err:
            if connection.state in _DEAD:
                raise ConnectionLostError(f"{connection.address}: link lost during upload") from err
            if attempt == UPLOAD_ATTEMPTS:
                raise DeviceTimeoutError(
                    f"{err} ({UPLOAD_ATTEMPTS} uploads tried)", MsgType.PROGRAM_BEGIN
                ) from None
            _LOGGER.info("%s; beginning the upload again", err)
    raise AssertionError("unreachable")


async def _upload_once(
    connection: DeviceConnection, steps: Sequence[ProgramStep], pull_timeout_s: float
) -> int:
    """One upload from BEGIN to COMMIT."""
    digest = program_hash(steps)
    pulls: asyncio.Queue[int] = asyncio.Queue()

    def on_pull(message: Message) -> None:
        if isinstance(message, ProgramPull):
            pulls.put_nowait(message.index)

    # Subscribe first: the first PULL may arrive right behind BEGIN's ACK.
    unsubscribe = connection.subscribe(MsgType.PROGRAM_PULL, on_pull)
    try:
        await connection.request(ProgramBegin(len(steps), digest))
        await _answer_pulls(connection, steps, pulls, pull_timeout_s)
        await connection.request(ProgramCommit(digest))
    finally:
        unsubscribe()
    _LOGGER.info(
        "%s: program of %d steps committed (hash %08x)", connection.address, len(steps), digest
    )
    return digest


async def _answer_pulls(
    connection: DeviceConnection,
    steps: Sequence[ProgramStep],
    pulls: asyncio.Queue[int],
    pull_timeout_s: float,
) -> None:
    """Send each pulled step (checking its ACK) until the device pulls index == len(steps)."""
    count = len(steps)
    sent: set[int] = set()
    while True:
        index = await _next_pull(connection, pulls, pull_timeout_s)
        if index is None:
            raise DeviceTimeoutError(
                f"{connection.address}: program upload stalled: no PROGRAM_PULL for "
                f"{pull_timeout_s:g} s after {len(sent)} of {count} steps"
            )
        if index == count:
            return
        if index > count:
            raise DeviceError(
                f"{connection.address}: device pulled step {index} of a {count}-step program"
            )
        if index in sent:
            continue  # a repeated pull for a step already acknowledged
        await connection.request(steps[index])
        sent.add(index)


async def _next_pull(
    connection: DeviceConnection, pulls: asyncio.Queue[int], timeout_s: float
) -> int | None:
    """The next pulled index; None after timeout_s; ConnectionLostError once the link is lost."""
    loop = asyncio.get_running_loop()
    deadline_s = loop.time() + timeout_s
    while True:
        if connection.state in _DEAD:
            raise ConnectionLostError(f"{connection.address}: link lost during upload")
        left_s = deadline_s - loop.time()
        if left_s <= 0.0:
            return None
        try:
            return await asyncio.wait_for(pulls.get(), min(left_s, _LINK_POLL_S))
        except TimeoutError:
            continue
