"""The link supervisor: clients created disconnected, last_error, one stats shape, identity."""

from __future__ import annotations

import asyncio
import errno

from engine_helpers import FakeGun, run_until
from fakes import FakeDevice, FakeTransport, fast_options

from tpdevice.device import Backoff, ConnectionState, DeviceClient, open_gun
from tpdevice.therapy.engine import SessionOptions
from tpdevice.therapy.events import HoldStarted
from tpdevice.transport import TransportOpenError


def _refused() -> TransportOpenError:
    try:
        raise TransportOpenError("fake://gun: connection refused") from ConnectionRefusedError(
            errno.ECONNREFUSED, "Connection refused"
        )
    except TransportOpenError as err:
        return err


async def test_a_client_created_disconnected_connects_when_the_gun_appears() -> None:
    device = FakeDevice()
    refusals = [_refused(), _refused()]

    def factory() -> FakeTransport:
        if refusals:
            raise refusals.pop(0)
        return FakeTransport(device)

    options = fast_options(backoff=Backoff(min_s=0.01, max_s=0.02, jitter=0.0))
    client = DeviceClient("fake://gun", factory, options)
    assert client.state is ConnectionState.DISCONNECTED and client.last_error is None
    client.connect_in_background()  # the first connect fails, and fails again: no matter
    await asyncio.wait_for(client.wait_for_state(ConnectionState.READY), 2.0)
    assert client.reconnect.attempts == 3
    assert str(client.last_error) == "fake://gun: connection refused"
    assert client.identity.model == client.capabilities.model
    await client.close()
    assert client.state is ConnectionState.CLOSED  # type: ignore[comparison-overlap]


async def test_a_failed_first_connect_is_the_last_error() -> None:
    def factory() -> FakeTransport:
        raise _refused()

    client = DeviceClient("fake://gun", factory, fast_options())
    try:
        await client.connect()
    except TransportOpenError as err:
        assert client.last_error is err
    assert client.state is ConnectionState.DISCONNECTED
    await client.close()


async def test_every_driver_reports_stats_and_identity_in_one_shape() -> None:
    native = await open_gun("sim?id=2")
    theragun = await open_gun("sim?driver=theragun&id=3")
    try:
        shapes = [set(client.stats()) for client in (native, theragun)]
        assert shapes[0] == shapes[1] == {
            "driver", "state", "last_error", "reconnect_attempts", "heartbeat",
            "motor_may_run", "link",
        }  # fmt: skip
        assert native.stats()["driver"] == native.identity.driver
        assert theragun.stats()["driver"] == theragun.identity.driver != native.identity.driver
        assert (native.identity.device_id, theragun.identity.device_id) == ("sim-2", "sim-3")
        assert native.identity.serial.startswith("SIM-")
        assert native.identity.firmware == native.capabilities.firmware
        assert theragun.identity.model == theragun.capabilities.model
    finally:
        await native.close()
        await theragun.close()


async def test_a_session_that_loses_its_gun_names_the_cause(gun: FakeGun) -> None:
    gun.hold_steady()
    session, run = await run_until(gun, HoldStarted, options=SessionOptions(reconnect_grace_s=3.0))
    gun.last_error = TransportOpenError("serial:///dev/ttyUSB0: no such device")
    gun.set_state(ConnectionState.DISCONNECTED)
    await run
    failed = session.events[-1]
    assert failed.type == "session.failed"
    assert failed.error == (  # type: ignore[attr-defined]
        "fake: the link did not come back within 3 s (serial:///dev/ttyUSB0: no such device)"
    )
