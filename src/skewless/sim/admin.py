"""Admin operations (``skewless.admin``) on a simulated node, so that simulated runs and
the lab can drive nodes as nodetool drives real ones (status, ring, settraceprobability, and
the topology and repair operations as they are added).

What needs a node process is refused with a message saying so: a simulated node's storage is an
in-memory KV with no memtables to flush, no files to compact or hard-link, no process to drain.
"""

from __future__ import annotations

from skewless.admin.operations import OPERATIONS
from skewless.admin.registry import AdminContext, AdminError, Json, call
from skewless.sim.world import World


class SimRuntime:
    """``registry.NodeRuntime`` for a node of a ``World``."""

    def __init__(self, world: World, address: str) -> None:
        self.world = world
        self.address = address

    def _refuse(self, what: str) -> AdminError:
        return AdminError(f"{what} needs a node process (RocksDB storage): simulated node "
                          f"{self.address} has none")

    def mode(self) -> str:
        return "NORMAL" if self.world.nodes[self.address].up else "DRAINED"

    def uptime_ms(self) -> int:
        return self.world.now_ns // 1_000_000

    def memory_bytes(self) -> tuple[int, int] | None:
        return None

    def native_transport_active(self) -> bool:
        return self.world.nodes[self.address].up

    def gossip_active(self) -> bool:
        return self.world.nodes[self.address].up

    def requests(self) -> tuple[int, int] | None:
        return None  # simulated clients call the executor directly: no CQL server counts them

    def messages(self) -> Json | None:
        return None

    def flush(self) -> None:
        raise self._refuse("flush")

    def compact(self) -> None:
        raise self._refuse("compact")

    def drain(self) -> None:
        raise self._refuse("drain")

    def snapshot(self, tag: str, keyspaces: list[str], tables: list[str]) -> Json:
        raise self._refuse("snapshot")

    def list_snapshots(self) -> list[Json]:
        return []

    def clear_snapshot(self, tag: str | None) -> list[str]:
        return []


def admin_call(world: World, address: str, operation: str, args: Json | None = None) -> Json:
    """Run admin ``operation`` on simulated node ``address`` (raises AdminError)."""
    sn = world.nodes[address]
    result = call(AdminContext(sn.node, SimRuntime(world, address)), operation, args or {})
    world._flush(sn)  # what the operation asked of the node (messages) goes out
    return result


__all__ = ["OPERATIONS", "SimRuntime", "admin_call"]
