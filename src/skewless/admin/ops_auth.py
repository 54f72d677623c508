"""Admin operations of authorization (node.auth): Cassandra's invalidatepermissionscache."""

from __future__ import annotations

from skewless.admin.registry import AdminContext, AdminError, Json, arg_list, operation


@operation("invalidatepermissionscache",
           "Forget this node's cached permissions (of the roles given, or of every role)")
def invalidatepermissionscache(ctx: AdminContext, args: Json) -> Json:
    roles = arg_list(args, "roles")
    if not all(isinstance(r, str) and r for r in roles):
        raise AdminError("role names must be non-empty strings")
    cache = ctx.node.permissions
    before = len(cache)
    cache.invalidate(roles or None)
    return {"invalidated": before - len(cache)}
