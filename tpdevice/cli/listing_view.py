"""`tpdevice profiles list` output from summary rows: a table that fits the terminal, or JSON.

It imports neither the profile models nor YAML: a cached listing never loads them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tpdevice.therapy.profile_text import escape_controls

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from tpdevice.therapy.loader import Catalogue

__all__ = ["catalogue_rows", "mmss", "print_rows", "rows_json"]

Row = dict[str, Any]


def mmss(seconds: float) -> str:
    """Seconds as m:ss (rounded to the second)."""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def catalogue_rows(catalogue: Catalogue) -> list[Row]:
    """A summary object per profile, in catalogue order."""
    return [
        {
            "id": entry.profile.id,
            "title": entry.profile.title,
            "region": entry.profile.region,
            "laterality": entry.profile.laterality.value,
            "duration_s": entry.profile.duration_s(),
            "duration_per_side_s": entry.profile.pass_duration_s(),
            "source": entry.source.value,
            "path": str(entry.path),
        }
        for entry in catalogue
    ]


def rows_json(rows: Sequence[Row]) -> str:
    """One JSON array: a summary object per profile."""
    return json.dumps(list(rows), indent=2, ensure_ascii=False)


def print_rows(rows: Sequence[Row], console: Console | None = None) -> None:
    """A table of every profile that fits 80 columns: one side and the whole run in m:ss."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    show_source = any(row["source"] != "shipped" for row in rows)
    table = Table(
        title=f"{len(rows)} profiles",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="sides: L+R = left then right, mid = midline (one pass)",
        caption_justify="left",
    )
    table.add_column("id", no_wrap=True, style="bold")
    table.add_column("region", no_wrap=True)
    table.add_column("sides", no_wrap=True)
    table.add_column("per side", justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    if show_source:
        table.add_column("source", no_wrap=True)
    table.add_column("title", no_wrap=True, overflow="ellipsis")
    for row in rows:
        cells = [
            _text(row["id"]),
            _text(row["region"]),
            "mid" if row["laterality"] == "midline" else "L+R",
            mmss(row["duration_per_side_s"]),
            mmss(row["duration_s"]),
        ]
        source = [row["source"]] if show_source else []
        table.add_row(*cells, *source, _text(row["title"]))
    console = console or Console(highlight=False, soft_wrap=False)
    _fit_title(table, console.width)
    console.print(table)


def _fit_title(table: Table, width: int) -> None:
    """Give the title column what the others leave (the others never shrink)."""
    others = table.columns[:-1]
    for column in others:
        column.min_width = max(len(str(column.header)), *(len(str(cell)) for cell in column.cells))
    gaps = 3 * len(others) + 2  # padding and rule between columns, and the two outer edges
    used = sum(column.min_width or 0 for column in others) + gaps
    table.columns[-1].max_width = max(4, width - used)


def _text(value: str) -> str:
    """Text from a profile file, safe for the terminal and for rich markup."""
    from rich.markup import escape

    return escape(escape_controls(value))
