"""nodetool's side of the admin endpoint: one HTTP request per operation."""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any

from skewless import limits

Json = dict[str, Any]


class ConnectFailed(Exception):
    """The node's admin endpoint cannot be reached (nodetool prints Cassandra's message)."""


class OperationFailed(Exception):
    """The node refused or failed the operation; the message is the node's."""


class AdminClient:
    def __init__(self, host: str, port: int, username: str | None = None,
                 password: str | None = None,
                 timeout_s: float = limits.nodetool_timeout_ms / 1000) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.headers = {"Content-Type": "application/json"}
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"

    def call(self, operation: str, args: Json | None = None) -> Json:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            try:
                conn.request("POST", f"/operations/{operation}", json.dumps(args or {}),
                             self.headers)
                response = conn.getresponse()
                body = response.read()
            except OSError as e:
                reason = e.strerror or str(e) or type(e).__name__
                raise ConnectFailed(f"Failed to connect to '{self.host}:{self.port}' - "
                                    f"{type(e).__name__}: '{reason}'.") from None
        finally:
            conn.close()
        try:
            data = json.loads(body)
        except ValueError:
            raise OperationFailed(f"the node answered {response.status} with no JSON") from None
        if response.status in (401, 403):  # refused credentials: as a refused JMX login
            message = data.get("error") if isinstance(data, dict) else None
            raise ConnectFailed(f"Failed to connect to '{self.host}:{self.port}' - "
                                f"SecurityException: '{message or response.reason}'.")
        if response.status != 200:
            raise OperationFailed(str(data.get("error", response.reason)))
        assert isinstance(data, dict)
        return data
