"""A virtual BLE radio: bumble's LocalLink with controllers fixed to act like real ones.

Each simulated peripheral gets its own controller; each client (host) gets a fresh one, in
process (`attach_host_controller`) or per TCP connection to the HCI server (`serve_hci`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from typing import ClassVar, cast

from bumble import core, hci, ll
from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import PacketParser, Transport

from tpdevice_sim.ble.spec import BleHciError

__all__ = ["LINK_LOST", "ExternalHci", "RadioController", "VirtualRadio"]

_LOGGER = logging.getLogger(__name__)

# What a peer sees when a controller vanishes: the supervision timeout expires.
LINK_LOST = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
_OK = hci.HCI_ErrorCode.SUCCESS


class RadioController(Controller):
    """A bumble virtual controller that ends links and pending connects as a real one does."""

    def __init__(self, name: str, link: LocalLink, public_address: str) -> None:
        super().__init__(name, link=link, public_address=public_address)
        self.closed = False

    def drop_links(self, reason: int, *, tell_host: bool) -> None:
        """End every LE link: the peers get `reason`; our host too when tell_host."""
        for connection in list(self.le_connections.values()):
            # The peer's controller may have left the radio already.
            with contextlib.suppress(core.InvalidArgumentError):
                connection.send_ll_control_pdu(ll.TerminateInd(reason))
            if tell_host:
                self.on_le_disconnected(connection, reason)
            else:
                del self.le_connections[connection.peer_address]

    def close(self) -> None:
        """Leave the radio as an unplugged adapter does: links drop, peers see 0x08. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._quiesce()
        self.set_packet_sink(None)
        if self in self.link.controllers:
            self.link.remove_controller(self)
        if not self.terminated.done():
            self.terminated.set_result(None)

    def _quiesce(self) -> None:
        """Drop links silently, stop advertising, scanning and any pending connect."""
        self.drop_links(LINK_LOST, tell_host=False)
        self.pending_le_connection = None
        self.le_scan_enable = False
        self.le_legacy_advertiser.stop()
        for advertising_set in self.advertising_sets.values():
            advertising_set.stop()

    def on_hci_reset_command(
        self, command: hci.HCI_Reset_Command
    ) -> hci.HCI_StatusReturnParameters:
        """Reset ends every link (bumble's keeps them: a restarted host would find guns held)."""
        self._quiesce()
        self.advertising_sets.clear()
        return super().on_hci_reset_command(command)

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        """Cancel the pending connect and report it failed (bumble's keeps it pending forever)."""
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        # After the Command Complete this handler's caller sends, as the spec orders.
        asyncio.get_running_loop().call_soon(self._report_cancelled, pending.peer_address)
        return hci.HCI_StatusReturnParameters(_OK)

    def _report_cancelled(self, peer_address: hci.Address) -> None:
        self.send_hci_packet(
            hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=peer_address.address_type,
                peer_address=peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
        )

    def on_hci_le_set_random_address_command(
        self, command: hci.HCI_LE_Set_Random_Address_Command
    ) -> hci.HCI_StatusReturnParameters:
        """Take the host's address unless another adapter on the radio has it already."""
        taken = any(
            other is not self and other.random_address == command.random_address
            for other in self.link.controllers
        )
        if taken:
            _LOGGER.warning(
                "%s: random address %s is in use on the radio; keeping %s",
                self.name,
                command.random_address,
                self.random_address,
            )
            return hci.HCI_StatusReturnParameters(_OK)
        return super().on_hci_le_set_random_address_command(command)


class _HciSession(asyncio.Protocol):
    """One TCP client of the HCI server: H4 packets to and from its own host controller."""

    def __init__(self, radio: VirtualRadio) -> None:
        self._radio = radio
        self._transport: asyncio.Transport | None = None
        self._controller: RadioController | None = None
        self._parser: PacketParser | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
        sock = stream.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport = stream
        self._radio.sessions.add(self)
        controller = self._radio.new_host_controller()
        controller.set_packet_sink(self)
        self._controller = controller
        self._parser = PacketParser(controller)
        _LOGGER.info("%s: HCI client attached", controller.name)

    def on_packet(self, packet: bytes) -> None:
        """An HCI packet from the controller to this client."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(packet)

    def data_received(self, data: bytes) -> None:
        assert self._parser is not None
        try:
            self._parser.feed_data(data)
        except core.InvalidPacketError as err:
            _LOGGER.warning("HCI client sent garbage (%s); closing it", err)
            if self._transport is not None:
                self._transport.close()

    def close(self) -> None:
        """Hang up on the client (the radio is closing)."""
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._radio.sessions.discard(self)
        if self._controller is not None:
            _LOGGER.info("%s: HCI client gone; its links drop", self._controller.name)
            self._controller.close()


class VirtualRadio:
    """The air between simulated peripherals and their clients; needs no loop until used."""

    virtual: ClassVar[bool] = True

    def __init__(self, *, hci_host: str = "127.0.0.1") -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self.hci_host = hci_host
        self.hci_spec: str | None = None
        self.sessions: set[_HciSession] = set()
        self._servers: list[asyncio.Server] = []
        self._controllers: list[RadioController] = []
        self._host_numbers = itertools.count(1)
        self._peripheral_numbers = itertools.count(1)

    @property
    def address_query(self) -> str:
        """What a peripheral appends to its `ble://` address: `?hci=SPEC` once served."""
        return f"?hci={self.hci_spec}" if self.hci_spec else ""

    def new_host_controller(self) -> RadioController:
        """A fresh host-side controller on the radio (a new adapter), in a running loop."""
        number = next(self._host_numbers)
        return self._add(
            f"host-{number}", f"00:7D:01:00:{number >> 8 & 0xFF:02X}:{number & 0xFF:02X}"
        )

    def attach_host_controller(self) -> Transport:
        """A host-side adapter in this process: pass .source and .sink to Device.with_hci."""
        controller = self.new_host_controller()
        return Transport(controller, controller)

    async def open_peripheral_hci(self, name: str) -> Transport:
        """The HCI of a new peripheral's own controller; serves HCI first if asked to."""
        await self.start()
        number = next(self._peripheral_numbers)
        controller = self._add(name, f"00:7D:00:00:{number >> 8 & 0xFF:02X}:{number & 0xFF:02X}")
        return Transport(controller, controller)

    async def start(self) -> None:
        """Serve host HCI on hci_host (a free port), once; `hci_spec` then names it."""
        if self.hci_spec is None:
            self.hci_spec = await self.serve_hci(self.hci_host)

    async def serve_hci(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve HCI on TCP: each client gets its own host controller. Returns the client spec."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _HciSession(self), host, port)
        self._servers.append(server)
        bound_port = server.sockets[0].getsockname()[1]
        return f"tcp-client:{host}:{bound_port}"

    async def close(self) -> None:
        """Stop serving and unplug every controller; idempotent."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for session in list(self.sessions):
            session.close()
        for controller in self._controllers:
            controller.close()
        self._controllers.clear()
        for server in servers:
            await server.wait_closed()
        self.hci_spec = None

    def _add(self, name: str, public_address: str) -> RadioController:
        controller = RadioController(name, self.link, public_address)
        self._controllers = [c for c in self._controllers if not c.closed]
        self._controllers.append(controller)
        return controller


class ExternalHci:
    """A real controller (e.g. `usb:0`) for one peripheral a phone can see; not on a radio."""

    virtual: ClassVar[bool] = False
    address_query = ""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._opened = False

    async def open_peripheral_hci(self, name: str) -> Transport:
        """Open the controller, once: one controller advertises one gun."""
        if self._opened:
            raise ValueError(f"HCI {self.spec} serves one gun; it is taken already")
        self._opened = True
        try:
            return await open_transport(self.spec)
        except Exception as err:  # libusb, sockets, bad specs: each fails in its own way
            raise BleHciError(f"HCI {self.spec}: {err}") from err

    async def close(self) -> None:
        """Nothing shared to release: each peripheral closes its own transport."""
