"""Commands on a lossy link: lost answers are retransmitted, a stalled upload is begun again,
a link lost during an upload ends it at once."""

from __future__ import annotations

import asyncio
import time

import pytest
from fakes import FakeDevice, FakeTransport, connected_client, fast_options

from tpdevice.device import ClientOptions, DeviceClient
from tpdevice.device.errors import ConnectionLostError, DeviceTimeoutError
from tpdevice.device.program import UPLOAD_ATTEMPTS
from tpdevice.protocol import Message, MsgType, ProgramBegin, ProgramStep, StepKind


def _steps(n: int) -> list[ProgramStep]:
    return [
        ProgramStep(0, StepKind.HOLD, 30.0, 20.0, 5.0, 60.0, 10.0, 1000 * (i + 1)) for i in range(n)
    ]


async def test_an_upload_whose_begin_is_never_answered_is_begun_again() -> None:
    client, device = await connected_client()
    device.faults.drop_types[MsgType.PROGRAM_BEGIN] = 4  # the first BEGIN and its 3 copies
    await client.upload_program(_steps(3))
    assert len(device.committed) == 3
    assert len(device.requests(MsgType.PROGRAM_BEGIN)) == 4 + 1  # 4 copies dropped, then anew
    await client.close()


async def test_an_upload_stalled_once_is_begun_again_and_commits() -> None:
    client, device = await connected_client(program_pull_timeout_s=0.05)
    device.stall_pulls_after = 2
    handle = device._program_step

    def stall_only_the_first_upload(message: Message) -> tuple[Message, list[Message]]:
        if isinstance(message, ProgramBegin) and len(device.requests(MsgType.PROGRAM_BEGIN)) > 1:
            device.stall_pulls_after = None
        return handle(message)

    device._program_step = stall_only_the_first_upload  # type: ignore[method-assign]
    await client.upload_program(_steps(4))
    assert [s.index for s in device.committed] == [0, 1, 2, 3]
    assert len(device.requests(MsgType.PROGRAM_BEGIN)) == 2
    await client.close()


async def test_an_upload_that_always_stalls_names_the_cause_and_the_attempts() -> None:
    client, device = await connected_client(program_pull_timeout_s=0.05)
    device.stall_pulls_after = 1
    with pytest.raises(
        DeviceTimeoutError, match=rf"stalled.*after 1 of 3 steps \({UPLOAD_ATTEMPTS} uploads"
    ):
        await client.upload_program(_steps(3))
    assert len(device.requests(MsgType.PROGRAM_BEGIN)) == UPLOAD_ATTEMPTS
    assert device.committed == []
    await client.close()


async def test_a_link_lost_while_waiting_for_a_pull_ends_the_upload_at_once() -> None:
    transports: list[FakeTransport] = []
    device = FakeDevice()

    def factory() -> FakeTransport:
        transports.append(FakeTransport(device))
        return transports[-1]

    client = DeviceClient(
        "fake://gun", factory, fast_options(program_pull_timeout_s=30.0, reconnect=False)
    )
    await client.connect()
    device.stall_pulls_after = 1
    stepped = asyncio.Event()
    handle = device._program_step

    def note_steps(message: Message) -> tuple[Message, list[Message]]:
        stepped.set()
        return handle(message)

    device._program_step = note_steps  # type: ignore[method-assign]
    upload = asyncio.create_task(client.upload_program(_steps(3)))
    await stepped.wait()
    began = time.monotonic()
    transports[-1].lose()
    with pytest.raises(ConnectionLostError):
        await upload
    assert time.monotonic() - began < 5.0  # not the 30 s pull timeout
    await client.close()


async def test_a_command_survives_several_lost_answers_with_default_options() -> None:
    device = FakeDevice()
    options = ClientOptions(request_timeout_s=0.02)  # the default number of retransmissions
    client = DeviceClient("fake://gun", lambda: FakeTransport(device), options)
    await client.connect()
    device.faults.drop_response_types[MsgType.START] = 6
    await client.start()
    assert len(device.acted_on(MsgType.START)) == 1  # copies answered from the window
    assert len(device.frames(MsgType.START)) == 7
    await client.close()
