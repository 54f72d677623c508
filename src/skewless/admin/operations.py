"""Every admin operation module: importing this registers them all (``registry.OPERATIONS``).

To add operations, write a module of ``@operation`` handlers and import it here."""

from skewless.admin import ops_auth, ops_local, ops_repair, ops_ring, ops_topology
from skewless.admin.registry import OPERATIONS

__all__ = ["OPERATIONS", "ops_auth", "ops_local", "ops_repair", "ops_ring", "ops_topology"]
