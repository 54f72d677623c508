"""The permissions cache of a node: each role's grants, kept for ``permissions_validity``.

Theory of operation
-------------------
Checking a statement needs the grants of the connection's role and of every role it is a
member of (transitively). They live in ``system_auth.role_permissions``, one partition per
role; reading them for every statement would double the work of each request, so a node keeps
each role's grants for ``permissions_validity`` ms (Cassandra's option, default 2000) after
loading them, as Cassandra's PermissionsCache does.

GRANT, REVOKE and DROP ROLE on any node invalidate the entries on every live node at once (an
internode message, ``node.auth``); a node that misses the message (down, partitioned) serves a
stale entry for at most the validity period, after which it reloads from the table.

Pure: time is an argument (monotonic ns).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from skewless.node.auth.permissions import Granted, Resource


@dataclass(frozen=True, slots=True)
class _Entry:
    granted: dict[Resource, frozenset[str]]
    loaded_ns: int


class PermissionsCache:
    def __init__(self, validity_ms: int, entries_max: int) -> None:
        self.validity_ns = validity_ms * 1_000_000
        self.entries_max = entries_max
        self._entries: dict[str, _Entry] = {}

    def get(self, role: str, now_ns: int) -> Granted | None:
        """The role's own grants if loaded less than the validity period ago."""
        e = self._entries.get(role)
        if e is None or now_ns - e.loaded_ns >= self.validity_ns:
            return None
        return e.granted

    def put(self, role: str, granted: Granted, now_ns: int) -> None:
        if self.validity_ns <= 0:
            return  # permissions_validity 0: no caching, as in Cassandra
        if len(self._entries) >= self.entries_max and role not in self._entries:
            oldest = min(self._entries, key=lambda r: self._entries[r].loaded_ns)
            del self._entries[oldest]
        self._entries[role] = _Entry(dict(granted), now_ns)

    def invalidate(self, roles: Iterable[str] | None = None) -> None:
        """Forget the given roles' entries (all of them for None)."""
        if roles is None:
            self._entries.clear()
            return
        for r in roles:
            self._entries.pop(r, None)

    def __len__(self) -> int:
        return len(self._entries)


def merge(granted: Iterable[Granted]) -> dict[Resource, frozenset[str]]:
    """The union of several roles' grants (a role holds what its member-of roles hold)."""
    out: dict[Resource, frozenset[str]] = {}
    for g in granted:
        for res, perms in g.items():
            out[res] = out.get(res, frozenset()) | perms
    return out
