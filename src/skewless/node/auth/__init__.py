"""Client authentication, roles and authorization (issue 12)."""
