"""One link to one device: sequence numbers, request/response matching, retransmission,
the HELLO handshake, ACKs for device events and dispatch of device-originated messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from tpdevice.device.errors import (
    ConnectionLostError,
    DeviceConnectionError,
    DeviceError,
    DeviceRejectedError,
    DeviceTimeoutError,
    HandshakeError,
    RequestAbandonedError,
)
from tpdevice.device.request import (
    RETRANSMIT_HORIZON,
    ConnectionOptions,
    ConnectionStats,
    OnResponse,
    PendingRequest,
)
from tpdevice.device.state import LinkState, StateHolder
from tpdevice.drivers.native.codec import FrameHelper
from tpdevice.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Capabilities,
    Frame,
    FrameFlag,
    Hello,
    Message,
    MsgType,
    ResultCode,
    msg_type_name,
)
from tpdevice.transport import Transport, TransportError

__all__ = ["ConnectionOptions", "ConnectionStats", "DeviceConnection", "PendingRequest"]

_LOGGER = logging.getLogger(__name__)

MessageListener = Callable[[Message], None]
LostCallback = Callable[[DeviceConnectionError], None]

_RESPONSE = int(FrameFlag.RESPONSE)
_FROM_DEVICE = int(FrameFlag.FROM_DEVICE)
_RETRANSMIT = int(FrameFlag.RETRANSMIT)
_ACKED_EVENTS = frozenset({MsgType.FAULT, MsgType.STEP_EVENT})
_RESPONSE_TYPE = {MsgType.HELLO: MsgType.CAPABILITIES, MsgType.TIME_SYNC: MsgType.TIME_SYNC_REPLY}
# The device repeats an event for ~1 s (5 x 200 ms); remember its seq a while longer, but not
# so long that a wrapped device sequence number is mistaken for a duplicate.
_DEDUP_WINDOW_S = 5.0
_SEQ_MODULO = 1 << 16


class DeviceConnection:
    """Request/response over one transport; build a new one for every (re)connection."""

    def __init__(
        self,
        transport: Transport,
        options: ConnectionOptions | None = None,
        *,
        on_lost: LostCallback | None = None,
        first_seq: int = 1,
    ) -> None:
        self.transport = transport
        self.address = transport.address
        self.options = options or ConnectionOptions()
        self.stats = ConnectionStats()
        self.capabilities: Capabilities | None = None
        self.helper = FrameHelper(transport.address, self._write, self._on_message)
        self._state = StateHolder(f"{self.address} link", LinkState.NEW)
        self.on_lost = on_lost
        self._seq = first_seq % _SEQ_MODULO
        self._sent = 0  # requests sent on this link (first copies), for the retransmission horizon
        self._pending: dict[int, PendingRequest] = {}
        self._listeners: dict[int, list[MessageListener]] = {}
        self._seen_events: dict[int, float] = {}
        self._loop = asyncio.get_running_loop()
        self._close_task: asyncio.Task[None] | None = None

    @property
    def state(self) -> LinkState:
        """Where this link is in its life cycle."""
        return self._state.value

    @property
    def next_seq(self) -> int:
        """The sequence number the next request will carry."""
        return self._seq

    @property
    def in_flight(self) -> int:
        """Requests waiting for a response."""
        return len(self._pending)

    async def open(self) -> None:
        """Open the transport; TransportOpenError (one line) when it cannot be opened."""
        await self.transport.open(self.helper.data_received, self._on_transport_lost)
        self._state.set(LinkState.OPEN)

    async def handshake(self, hello: Hello) -> Capabilities:
        """Send HELLO, return the CAPABILITIES; HandshakeError (one line) otherwise."""
        opts = self.options
        try:
            reply = await self.request(
                hello, timeout_s=opts.handshake_timeout_s, retries=opts.handshake_retries
            )
        except DeviceTimeoutError:
            heard = self.helper.describe_received()
            raise HandshakeError(f"{self.address}: no valid answer to HELLO ({heard})") from None
        except DeviceRejectedError as err:
            if err.result is ResultCode.BUSY:
                raise HandshakeError(
                    f"{self.address}: device busy: another host is connected to it"
                ) from None
            raise HandshakeError(
                f"{self.address}: HELLO refused: {err.result.name.lower()}"
            ) from None
        if not isinstance(reply, Capabilities):
            raise HandshakeError(f"{self.address}: HELLO answered by {reply.TYPE.name}")
        if reply.protocol_version != PROTOCOL_VERSION:
            raise HandshakeError(
                f"{self.address}: device speaks protocol version {reply.protocol_version}, "
                f"not {PROTOCOL_VERSION}",
                permanent=True,
            )
        self._seen_events.clear()
        self.capabilities = reply
        self._state.set(LinkState.READY)
        return reply

    def subscribe(self, msg_type: MsgType, listener: MessageListener) -> Callable[[], None]:
        """Call listener(message) for every device-originated message of that type."""
        listeners = self._listeners.setdefault(msg_type, [])
        listeners.append(listener)
        return lambda: listeners.remove(listener) if listener in listeners else None

    async def request(
        self, message: Message, *, timeout_s: float | None = None, retries: int | None = None
    ) -> Message:
        """The response; DeviceRejectedError (NACK), DeviceTimeoutError, ConnectionLostError."""
        return await self.wait(self.send_request(message, timeout_s=timeout_s, retries=retries))

    async def wait(self, pending: PendingRequest) -> Message:
        """Await a sent request's response; forget the request if the waiter is cancelled."""
        try:
            return await pending.future
        except asyncio.CancelledError:
            self._forget(pending)
            raise

    def send_request(
        self,
        message: Message,
        *,
        timeout_s: float | None = None,
        retries: int | None = None,
        on_response: OnResponse | None = None,
    ) -> PendingRequest:
        """Send a request now and return its pending record (await `.future` for the answer)."""
        if self._state.value not in (LinkState.OPEN, LinkState.READY):
            raise DeviceConnectionError(f"{self.address}: not connected ({self.state.value})")
        opts = self.options
        seq = self._seq
        self._seq = (seq + 1) % _SEQ_MODULO
        self._sent += 1
        pending = PendingRequest(
            message,
            seq,
            self._sent,
            opts.request_timeout_s if timeout_s is None else timeout_s,
            opts.retries if retries is None else retries,
            self._loop.create_future(),
            on_response,
        )
        self._pending[seq] = pending  # before writing: a synchronous link may answer at once
        try:
            self._send(message, seq, 0)
        except BaseException:
            del self._pending[seq]
            raise
        pending.sent_at_s = self._loop.time()
        pending.timer = self._loop.call_later(pending.timeout_s, self._on_timeout, pending)
        self.stats.requests += 1
        return pending

    def fail(self, error: DeviceConnectionError) -> None:
        """Declare the link dead (e.g. heartbeats unanswered): fail waiters, close, notify."""
        self._lose(error)

    async def close(self) -> None:
        """Fail what is waiting with ConnectionLostError and close the transport; idempotent."""
        if self._state.value is not LinkState.LOST:
            self._state.set(LinkState.CLOSED)
        self._fail_pending(ConnectionLostError(f"{self.address}: connection closed"))
        await self.transport.close()
        task, self._close_task = self._close_task, None
        if task is not None:
            with contextlib.suppress(Exception):  # already logged by _on_close_done
                await task

    # --- receive path (called synchronously from the transport's data callback) ----------

    def _on_message(self, frame: Frame, message: Message) -> None:
        """Route one decoded message: a response, a device event, or noise."""
        flags = frame.flags
        if flags & _RESPONSE:
            self._on_response(frame.seq, message)
        elif flags & _FROM_DEVICE:
            self._on_device_message(frame, message)
        else:
            self.stats.unexpected += 1

    def _on_response(self, seq: int, message: Message) -> None:
        """Resolve the request waiting under seq, if the response fits it."""
        pending = self._pending.get(seq)
        if pending is None:
            self.stats.late_responses += 1
            return
        request_type = pending.message.TYPE
        if not _answers(message, request_type):
            self.stats.mismatched += 1
            return
        del self._pending[seq]
        if pending.timer is not None:
            pending.timer.cancel()
        if pending.future.done():
            return
        if isinstance(message, Ack) and not message.result.is_success:
            self.stats.nacks += 1
            pending.future.set_exception(
                DeviceRejectedError(self.address, request_type, message.result)
            )
            return
        if (hook := pending.on_response) is not None:
            self._call_hook(hook, message)
        pending.future.set_result(message)

    def _call_hook(self, hook: OnResponse, message: Message) -> None:
        """Run a request's synchronous response hook; a failing hook is a bug, logged."""
        try:
            hook(message)
        except Exception:
            _LOGGER.exception("%s: response hook of %s failed", self.address, message.TYPE.name)

    def _on_device_message(self, frame: Frame, message: Message) -> None:
        """ACK and deduplicate events, then hand the message to its listeners."""
        msg_type = message.TYPE
        if msg_type in _ACKED_EVENTS:
            try:
                self._send(Ack(msg_type, ResultCode.OK), frame.seq, _RESPONSE | _FROM_DEVICE)
                self.stats.events_acked += 1
            except DeviceConnectionError:
                pass  # the device repeats the event; the loss is reported by the transport
            if self._is_duplicate_event(frame.seq):
                self.stats.event_duplicates += 1
                return
        for listener in self._listeners.get(msg_type, ()):
            try:
                listener(message)
            except Exception:
                _LOGGER.exception("%s: listener for %s failed", self.address, msg_type.name)

    def _is_duplicate_event(self, seq: int) -> bool:
        """True if this device seq was seen lately; otherwise remember it."""
        now_s = self._loop.time()
        seen = self._seen_events
        while seen:
            oldest = next(iter(seen))
            if now_s - seen[oldest] <= _DEDUP_WINDOW_S:
                break
            del seen[oldest]
        if seq in seen:
            return True
        seen[seq] = now_s
        return False

    # --- timers and failure ------------------------------------------------------------

    def _on_timeout(self, pending: PendingRequest) -> None:
        """Retransmit with the same seq, or give up after the allowed retries."""
        if pending.future.done():
            return
        note = ""
        if pending.keep_retrying and pending.attempts <= pending.retries:
            if self._sent - pending.ordinal < RETRANSMIT_HORIZON:
                self._retransmit(pending)
                return
            # Past the horizon the device may have forgotten it: a retransmission could act anew.
            note = f"; not retransmitted: {RETRANSMIT_HORIZON} newer requests were sent since"
        self._pending.pop(pending.seq, None)
        pending.future.set_exception(self._give_up_error(pending, note))

    def _retransmit(self, pending: PendingRequest) -> None:
        """Send the same frame again, flagged RETRANSMIT, and re-arm its timer."""
        pending.attempts += 1
        self.stats.retransmits += 1
        try:
            self._send(pending.message, pending.seq, _RETRANSMIT)
        except DeviceConnectionError as err:
            self._lose(err)
            return
        pending.timer = self._loop.call_later(pending.timeout_s, self._on_timeout, pending)

    def _give_up_error(self, pending: PendingRequest, note: str) -> DeviceError:
        """DeviceTimeoutError after the retries, RequestAbandonedError after stop_retransmits."""
        request_type = pending.message.TYPE
        if pending.abandon_reason is None:
            self.stats.timeouts += 1
            waited_s = self._loop.time() - pending.sent_at_s
            return DeviceTimeoutError.no_answer(
                self.address, request_type, pending.attempts, waited_s, note
            )
        self.stats.abandoned += 1
        return RequestAbandonedError(
            f"{self.address}: {msg_type_name(request_type)} abandoned after "
            f"{pending.attempts} attempts: {pending.abandon_reason}",
            request_type,
        )

    def _on_transport_lost(self, exc: BaseException | None) -> None:
        """The transport died under us."""
        cause = f": {exc}" if exc is not None else " by the device"
        if isinstance(exc, TransportError):
            text = str(exc)  # already names the address
        else:
            text = f"{self.address}: connection closed{cause}"
        self._lose(ConnectionLostError(text))

    def _lose(self, error: DeviceConnectionError) -> None:
        """Mark the link lost, fail every waiter, release the transport, tell the owner."""
        if self._state.value in (LinkState.LOST, LinkState.CLOSED):
            return
        self._state.set(LinkState.LOST)
        _LOGGER.info("%s", error)
        self._fail_pending(error)
        if self.transport.is_open:
            # Awaited by close(): the owner closes every connection it has made.
            self._close_task = self._loop.create_task(self.transport.close())
            self._close_task.add_done_callback(self._on_close_done)
        if self.on_lost is not None:
            self.on_lost(error)

    def _on_close_done(self, task: asyncio.Task[None]) -> None:
        """Log a transport that failed to close after a loss (nobody else would see it)."""
        if not task.cancelled() and (error := task.exception()) is not None:
            _LOGGER.debug("%s: closing the lost transport failed: %s", self.address, error)

    def _fail_pending(self, error: DeviceError) -> None:
        """Fail and forget every request still waiting."""
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if item.timer is not None:
                item.timer.cancel()
            if not item.future.done():
                item.future.set_exception(error)

    def _forget(self, pending: PendingRequest) -> None:
        """Drop a request whose waiter went away."""
        if self._pending.get(pending.seq) is pending:
            del self._pending[pending.seq]
        if pending.timer is not None:
            pending.timer.cancel()

    # --- send path ---------------------------------------------------------------------

    def _send(self, message: Message, seq: int, flags: int) -> None:
        """Encode and write; a dead transport becomes ConnectionLostError."""
        try:
            self.helper.send(message, seq, flags)
        except TransportError as err:
            raise ConnectionLostError(str(err)) from err

    def _write(self, data: bytes) -> None:
        """Hand bytes to the transport (the FrameHelper's writer)."""
        self.transport.write(data)


def _answers(message: Message, request_type: MsgType) -> bool:
    """True if `message` is a possible response to a request of `request_type`."""
    if isinstance(message, Ack):
        return message.request_type == request_type
    return message.TYPE is _RESPONSE_TYPE.get(request_type)
