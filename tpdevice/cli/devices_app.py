"""The commands that edit the daemon's guns: devices add and remove. Registered on the
`tpdevice devices` app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["ConfigFileOpt", "DaemonSocketOpt", "register"]

ConfigFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="The daemon's config file (default: ~/.config/tpdevice/daemon.yaml).",
    ),
]
DaemonSocketOpt = Annotated[
    Path | None,
    typer.Option("--socket", metavar="PATH", help="The daemon's control socket."),
]


def register(devices_app: typer.Typer) -> None:
    """Add these commands to `devices_app`."""
    devices_app.command("add")(devices_add)
    devices_app.command("remove")(devices_remove)


def devices_add(
    device_id: Annotated[str, typer.Argument(metavar="ID", help="The gun's id (gun-1).")],
    address: Annotated[
        str, typer.Argument(metavar="ADDRESS", help="serial:///dev/..., tcp://host:port, ble://...")
    ],
    name: Annotated[str, typer.Option(metavar="NAME", help="A name people know it by.")] = "",
    auto_connect: Annotated[
        bool, typer.Option(help="Connect when the daemon starts (or at once).")
    ] = True,
    config: ConfigFileOpt = None,
    socket: DaemonSocketOpt = None,
) -> None:
    """Add a gun to the daemon's config; a running daemon drives it at once."""
    from tpdevice.cli import devices_edit

    device = devices_edit.device_config(device_id, address, name, auto_connect)
    devices_edit.add_device(device, config, socket)


def devices_remove(
    device_id: Annotated[str, typer.Argument(metavar="ID", help="The gun's id.")],
    config: ConfigFileOpt = None,
    socket: DaemonSocketOpt = None,
) -> None:
    """Remove a gun from the daemon's config; a running daemon drops it (not mid-session)."""
    from tpdevice.cli import devices_edit

    devices_edit.remove_device(device_id, config, socket)
