"""Device-originated messages fanned out to streams and listeners, and the state they imply."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tpdevice.device.connection import DeviceConnection
from tpdevice.device.state import ConnectionState, StateHolder
from tpdevice.device.stream import LatestStream
from tpdevice.protocol import (
    Fault,
    FaultCode,
    Message,
    MotorState,
    MsgType,
    StepEvent,
    StepEventKind,
    Telemetry,
)

__all__ = ["LINKED_STATES", "DeviceEvent", "DeviceFeed", "EventListener", "MotorObserver"]

_LOGGER = logging.getLogger(__name__)

DeviceEvent = Fault | StepEvent
EventListener = Callable[[DeviceEvent], None]
MotorObserver = Callable[[MotorState], None]
LINKED_STATES = frozenset({ConnectionState.READY, ConnectionState.RUNNING, ConnectionState.FAULTED})
_PROGRAM_ENDS = frozenset({StepEventKind.PROGRAM_DONE, StepEventKind.ABORTED})
_MOTOR_TO_STATE = {
    MotorState.IDLE: ConnectionState.READY,
    MotorState.STOPPING: ConnectionState.READY,
    MotorState.RUNNING: ConnectionState.RUNNING,
    MotorState.PAUSED: ConnectionState.RUNNING,
    MotorState.FAULTED: ConnectionState.FAULTED,
}


class DeviceFeed:
    """TELEMETRY, FAULT and STEP_EVENT of whichever connection is live, for any consumer.

    Faults move the state to FAULTED (and back to READY once all cleared), a program's end
    to READY; the first TELEMETRY after a handshake tells what the motor does after a reconnect.
    """

    def __init__(
        self,
        address: str,
        state: StateHolder[ConnectionState],
        *,
        telemetry_queue_size: int,
        event_queue_size: int,
        on_motor_state: MotorObserver | None = None,
    ) -> None:
        self.address = address
        self.last_telemetry: Telemetry | None = None
        self._state = state
        self._on_motor_state = on_motor_state
        self._sizes = (telemetry_queue_size, event_queue_size)
        self._active_faults: set[FaultCode] = set()
        self._reconcile = False
        self._telemetry: list[LatestStream[Telemetry]] = []
        self._events: list[LatestStream[DeviceEvent]] = []
        self._listeners: list[EventListener] = []

    def attach(self, connection: DeviceConnection) -> None:
        """Listen to a freshly handshaken connection."""
        connection.subscribe(MsgType.TELEMETRY, self._on_telemetry)
        connection.subscribe(MsgType.FAULT, self._on_fault)
        connection.subscribe(MsgType.STEP_EVENT, self._on_step_event)
        self._active_faults.clear()
        self._reconcile = True  # the motor may still run from before a reconnect

    def set_linked_state(self, new: ConnectionState) -> None:
        """Move between READY/RUNNING/FAULTED, only while connected."""
        if self._state.value in LINKED_STATES:
            self._state.set(new)

    def faults_cleared(self) -> None:
        """START or PROGRAM_CONTROL run cleared every fault on the device."""
        self._active_faults.clear()

    def telemetry(self) -> LatestStream[Telemetry]:
        """A new telemetry stream (newest kept when full)."""
        return self._new_stream(self._telemetry, self._sizes[0], "telemetry")

    def events(self) -> LatestStream[DeviceEvent]:
        """A new stream of FAULT and STEP_EVENT messages."""
        return self._new_stream(self._events, self._sizes[1], "events")

    def add_event_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call listener(event) for each event; returns the unsubscribe function."""
        listeners = self._listeners
        listeners.append(listener)
        return lambda: listeners.remove(listener) if listener in listeners else None

    def close(self) -> None:
        """End every stream."""
        for telemetry in tuple(self._telemetry):
            telemetry.close()
        for events in tuple(self._events):
            events.close()

    def _on_telemetry(self, message: Message) -> None:
        """Keep the latest, reconcile state after a handshake, feed the streams."""
        assert isinstance(message, Telemetry)
        self.last_telemetry = message
        if self._on_motor_state is not None:
            self._on_motor_state(message.state)
        if self._reconcile:
            self._reconcile = False
            self.set_linked_state(_MOTOR_TO_STATE.get(message.state, ConnectionState.READY))
        for stream in self._telemetry:
            stream.put(message)

    def _on_fault(self, message: Message) -> None:
        """FAULTED while any fault is active."""
        assert isinstance(message, Fault)
        if message.active:
            self._active_faults.add(message.code)
            self.set_linked_state(ConnectionState.FAULTED)
        else:
            self._active_faults.discard(message.code)
            if not self._active_faults and self._state.value is ConnectionState.FAULTED:
                self.set_linked_state(ConnectionState.READY)
        self._emit(message)

    def _on_step_event(self, message: Message) -> None:
        """A program that ends leaves the motor stopped."""
        assert isinstance(message, StepEvent)
        if message.kind in _PROGRAM_ENDS and self._state.value is ConnectionState.RUNNING:
            self.set_linked_state(ConnectionState.READY)
        self._emit(message)

    def _emit(self, event: DeviceEvent) -> None:
        """Hand an event to the streams and the listeners."""
        for stream in self._events:
            stream.put(event)
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("%s: event listener failed", self.address)

    def _new_stream(
        self, streams: list[LatestStream[Any]], maxsize: int, kind: str
    ) -> LatestStream[Any]:
        """Register a stream that unregisters itself when closed."""

        def unregister(stream: LatestStream[Any]) -> None:
            if stream in streams:
                streams.remove(stream)

        name = f"{self.address} {kind} stream"
        stream: LatestStream[Any] = LatestStream(maxsize, on_close=unregister, name=name)
        streams.append(stream)
        if self._state.value is ConnectionState.CLOSED:
            stream.close()
        return stream
