"""Program upload: BEGIN, answer the device's PULLs with STEPs, then COMMIT with the hash."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from tpdevice.device.connection import DeviceConnection
from tpdevice.device.errors import DeviceError, DeviceTimeoutError
from tpdevice.protocol import (
    Message,
    MsgType,
    ProgramBegin,
    ProgramCommit,
    ProgramPull,
    ProgramStep,
    program_hash,
)

__all__ = ["indexed_steps", "upload_program"]

_LOGGER = logging.getLogger(__name__)


def indexed_steps(steps: Sequence[ProgramStep]) -> list[ProgramStep]:
    """The steps with `index` set to their position (the order is what counts)."""
    return [s if s.index == i else dataclasses.replace(s, index=i) for i, s in enumerate(steps)]


async def upload_program(
    connection: DeviceConnection, steps: Sequence[ProgramStep], *, pull_timeout_s: float
) -> int:
    """Upload and commit `steps` (already indexed); return the program hash.

    DeviceRejectedError when the device refuses BEGIN, a step or the COMMIT;
    DeviceTimeoutError when it stops pulling for pull_timeout_s.
    """
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
        try:
            index = await asyncio.wait_for(pulls.get(), pull_timeout_s)
        except TimeoutError:
            raise DeviceTimeoutError(
                f"{connection.address}: program upload stalled: no PROGRAM_PULL for "
                f"{pull_timeout_s:g} s after {len(sent)} of {count} steps"
            ) from None
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
