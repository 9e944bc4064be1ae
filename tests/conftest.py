"""Fixtures shared by the test modules (helpers live in the *_helpers modules and fakes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from engine_helpers import FakeGun

from tpdevice.therapy.clock import VirtualClock


@pytest.fixture
async def gun() -> AsyncIterator[FakeGun]:
    """A recording fake gun on a fresh virtual clock, fed nothing; its timers stop after."""
    fake = FakeGun(VirtualClock())
    yield fake
    fake.shutdown()
