"""``skewless status`` laid out for an 80-column terminal and for pipes.

The one wide table (nine columns, two of them 15 and 36 characters) did not fit 80 columns, so
rich cut the addresses and host ids to "127.0…". The view is now, per datacenter, the nodetool
status legend and a table of state, address, load, tokens, ownership, rack and clock offset
(at most ~76 characters with 15-character addresses), then a table of each address's host id
(53 characters). Addresses and host ids are never wrapped or cut; on a terminal the other columns
may wrap. Piped (not a TTY), it is plain aligned text with no box drawing or colour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import RenderableType
from rich.table import Table

from skewless.nodetool.text import address_key

# Cells of ``cli.status_cells``: status, address, load, tokens, owns, host id, rack, dc, offset.
MAIN_COLUMNS = ("--", "Address", "Load", "Tokens", "Owns", "Rack", "Clock offset")
ID_COLUMNS = ("Address", "Host ID")
LEGEND = ("Status=Up/Down", "|/ State=Normal/Leaving/Joining/Moving")


def _main_row(cells: Sequence[str]) -> list[str]:
    return [cells[0], cells[1], cells[2], cells[3], cells[4], cells[6], cells[8]]


def _by_dc(all_cells: Iterable[Sequence[str]]) -> dict[str, list[Sequence[str]]]:
    out: dict[str, list[Sequence[str]]] = {}
    for cells in sorted(all_cells, key=lambda c: address_key(c[1])):
        out.setdefault(cells[7], []).append(cells)
    return dict(sorted(out.items()))


def _aligned(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                 for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    return lines


def status_text(all_cells: Iterable[Sequence[str]]) -> str:
    """Plain text: per datacenter the legend, the state table, then the host ids."""
    out: list[str] = []
    for dc, members in _by_dc(all_cells).items():
        header = f"Datacenter: {dc}"
        out += [header, "=" * len(header), *LEGEND]
        out += _aligned([list(MAIN_COLUMNS)] + [_main_row(c) for c in members])
        out.append("")
        out += _aligned([list(ID_COLUMNS)] + [[c[1], c[5]] for c in members])
        out.append("")
    return "\n".join(out)


def status_renderables(all_cells: Iterable[Sequence[str]]) -> list[RenderableType]:
    """For a terminal: the same two tables per datacenter, as rich tables."""
    out: list[RenderableType] = []
    for dc, members in _by_dc(all_cells).items():
        main = Table(title=f"Datacenter: {dc}", caption=" · ".join(LEGEND), box=box.SIMPLE,
                     title_justify="left", caption_justify="left")
        for column in MAIN_COLUMNS:
            fixed = column in ("--", "Address")
            main.add_column(column, no_wrap=fixed, min_width=len(column) if fixed else None,
                            justify="right" if column in ("Load", "Tokens", "Owns") else "left")
        ids = Table(box=box.SIMPLE)
        for column in ID_COLUMNS:
            ids.add_column(column, no_wrap=True)
        for cells in members:
            style = None if cells[0] == "UN" else "red"
            main.add_row(*_main_row(cells), style=style)
            ids.add_row(cells[1], cells[5], style=style)
        out += [main, ids]
    return out


def render(console: Any, all_cells: list[Sequence[str]]) -> None:
    """Print to ``console`` (a rich Console): rich tables on a terminal, plain text else."""
    if console.is_terminal:
        for r in status_renderables(all_cells):
            console.print(r)
    else:
        console.print(status_text(all_cells), markup=False, highlight=False, soft_wrap=True)
