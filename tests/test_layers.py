"""The layer rules of docs/architecture.md, checked on the import statements of every module."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LAYERS = ["protocol", "transport", "drivers", "device", "therapy", "daemon", "mqtt", "cli"]
# A driver package's client side (its link, client and simulator factory) is built on the device
# layer's machinery (supervisor, heartbeat, streams), so it sits at the device layer; its codec
# and spec stay at the drivers layer (docs/architecture.md, "Driver registry").
DEVICE_SIDE = frozenset({"client", "link", "sim"})
# Each driver's simulator factory starts its in-process `sim` gun; otherwise only the CLI may.
SIMULATOR_USERS_GLOB = "tpdevice/drivers/*/sim.py"
IO_MODULES = {"asyncio", "socket", "serial", "os", "select", "selectors", "threading", "sqlite3"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports included)."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def layer_of(module: str) -> int | None:
    """Index of a tpdevice layer in LAYERS, or None for tpdevice itself and tpdevice.errors."""
    parts = module.split(".")
    if parts[0] != "tpdevice" or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    if parts[1] == "drivers" and len(parts) == 4 and parts[3] in DEVICE_SIDE:
        return LAYERS.index("device")
    return LAYERS.index(parts[1])


def source_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", source_files("tpdevice"), ids=lambda p: str(p.relative_to(ROOT)))
def test_tpdevice_imports_only_downward(path: Path) -> None:
    own = layer_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
    rel = str(path.relative_to(ROOT))
    for module in imported_modules(path):
        target = layer_of(module)
        if own is not None and target is not None:
            assert target <= own, f"{rel} imports {module}: a lower layer"
        if module.split(".")[0] == "tpdevice_sim":
            allowed = Path(rel).match(SIMULATOR_USERS_GLOB) or rel.startswith("tpdevice/cli/")
            assert allowed, f"{rel}: {module}"


@pytest.mark.parametrize(
    "path", source_files("simulator/tpdevice_sim"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_simulator_imports_only_the_protocol(path: Path) -> None:
    for module in imported_modules(path):
        if module.split(".")[0] == "tpdevice":
            assert module.startswith("tpdevice.protocol"), f"{path.name} imports {module}"


@pytest.mark.parametrize(
    "path", source_files("tpdevice/protocol"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_protocol_does_no_io(path: Path) -> None:
    assert not {m.split(".")[0] for m in imported_modules(path)} & IO_MODULES


@pytest.mark.parametrize(
    "path", source_files("tpdevice/transport"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_transport_knows_no_messages(path: Path) -> None:
    # The GATT addresses (service and characteristic UUIDs) are the one shared fact allowed.
    allowed = {"tpdevice.protocol.gatt"}
    protocol_imports = {m for m in imported_modules(path) if m.startswith("tpdevice.protocol")}
    assert protocol_imports <= allowed
