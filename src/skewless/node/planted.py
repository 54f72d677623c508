"""Planted exceptions (tests only, ``NodeConfig.raise_at``, ``--raise-at POINT[:N]``).

The N-th time the node reaches POINT, ``Planted.reach`` raises ``PlantedError``: it shows what the
node does with an exception it did not expect there (``runtime.supervise``,
``node.requests``). Points: ``ticker``, ``flusher``, ``periodic-sync`` (the runtime's background
tasks, counted once the node serves CQL) and ``peer-message-continuation`` (a client request's
continuation run from a peer's message, e.g. a QUORUM write's once a replica acknowledges). Each
point raises once, at its N-th reach.
"""

from __future__ import annotations

from collections.abc import Sequence

RAISE_POINTS = ("ticker", "flusher", "periodic-sync", "peer-message-continuation")
# ``--crash-point`` (``node.batchlog``): here so that ``config`` checks it without the batchlog.
CRASH_POINTS = ("batch-before-batchlog", "batch-after-batchlog", "batch-mid-mutations")


class PlantedError(Exception):
    """The exception a planted point raises (never raised without ``--raise-at``)."""


def parse_point(option: str, text: str, points: Sequence[str]) -> tuple[str, int]:
    """A test-only point option's value (``raise_at``, ``crash_point``): ``''`` -> ``('', 0)``;
    ``'name'`` -> ``(name, 1)``; ``'name:N'`` -> ``(name, N)``; ``name`` one of ``points``."""
    if not text:
        return "", 0
    name, sep, nth_text = text.partition(":")
    nth = 1
    if sep:
        if not nth_text.isdigit() or int(nth_text) < 1:
            raise ValueError(f"{option}: {text!r}: the count after ':' must be 1 or more")
        nth = int(nth_text)
    if name not in points:
        raise ValueError(f"{option}: must be one of {', '.join(points)} "
                         f"(optionally :N), got {text!r}")
    return name, nth


def parse_raise_at(text: str) -> tuple[str, int]:
    return parse_point("raise_at", text, RAISE_POINTS)


class Planted:
    def __init__(self, text: str) -> None:
        self.point, self.nth = parse_raise_at(text)
        self.reached = 0

    def reach(self, point: str) -> None:
        """Raise ``PlantedError`` if ``point`` is the planted one and this is its N-th reach."""
        if point != self.point:
            return
        self.reached += 1
        if self.reached == self.nth:
            raise PlantedError(f"planted exception at {point} (reach {self.nth}; test option "
                               f"--raise-at)")


def parse_crash_point(text: str) -> tuple[str, int]:
    """``--crash-point`` (``node.batchlog``): see ``parse_point``."""
    return parse_point("crash_point", text, CRASH_POINTS)
