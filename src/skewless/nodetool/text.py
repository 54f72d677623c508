"""Number and table rendering as Cassandra's nodetool does it (Java's DecimalFormat, printf,
``FileUtils.stringifyFileSize`` and the ``TableBuilder`` of nodetool's formatter)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

_UNITS = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def decimal_format(value: float, decimals: int, *, trim: bool) -> str:
    """Java DecimalFormat: half-even rounding; ``#.##`` (trim) drops trailing zeros,
    ``0.00`` (not trim) keeps them."""
    q = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_EVEN)
    text = f"{q:.{decimals}f}"
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def file_size(n: float) -> str:
    """``FileUtils.stringifyFileSize``: ``69.08 KiB``, ``70 KiB``, ``123 bytes``."""
    for unit, size in _UNITS:
        if n >= size:
            return f"{decimal_format(n / size, 2, trim=True)} {unit}"
    return f"{decimal_format(n, 2, trim=True)} bytes"


def percent(fraction: float, decimals: int) -> str:
    """``DecimalFormat("##0.0%")`` (decimals 1) or ``"##0.00%"`` (decimals 2)."""
    return decimal_format(fraction * 100, decimals, trim=False) + "%"


def java_float(value: float | None, decimals: int) -> str:
    """printf ``%.Nf`` as Java prints it: ``NaN`` for a missing value."""
    if value is None or math.isnan(value):
        return "NaN"
    return f"{value:.{decimals}f}"


def table(rows: Sequence[Sequence[object]], separator: str = " ") -> list[str]:
    """nodetool's TableBuilder: each column left-aligned to its widest cell."""
    cells = [[str(c) for c in row] for row in rows]
    if not cells:
        return []
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(cells[0]))]
    out = []
    for r in cells:
        padded = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        out.append(separator.join(padded).rstrip())
    return out


def address_key(address: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in address.split("."))
    except ValueError:
        return (1 << 16,)
