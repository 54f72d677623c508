"""Client side of session tokens: wrap a stock cassandra-driver Session (no fork of the driver).

Every Skewless response carries the highest write timestamp the request touched, as the custom
payload ``skewless-token``; a request that carries it back is stamped above it and read at
QUORUM at least (see ``skewless.node.clock.session_token``). ``TokenSession`` does that for every
request, and its token can travel to another process::

    from skewless.session_tokens import TokenSession

    web = TokenSession(session)
    web.execute("INSERT INTO orders (id, status) VALUES (%s, 'created')", (order_id,))
    process_order.delay(order_id, token=web.token)        # a Celery task, say

    # in the worker, with its own driver Session:
    worker = TokenSession(session, token=token)
    worker.execute("UPDATE orders SET status = 'processed' WHERE id = %s", (order_id,))

The worker's UPDATE is then stamped above the web request's INSERT, whichever node coordinates
it and whatever that node's clock says. Use the driver's server-side timestamps
(``session.use_client_timestamp = False``) or the driver's own timestamps will be used instead.
"""

from __future__ import annotations

import threading
from typing import Any

PAYLOAD_KEY = "skewless-token"


class TokenSession:
    """A driver Session that sends and keeps the session token; other attributes pass through."""

    def __init__(self, session: Any, token: int | str | None = None) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._token = int(token) if token not in (None, "") else 0

    @property
    def token(self) -> str:
        """The highest token seen, as a string to hand to another process ("0": none yet)."""
        with self._lock:
            return str(self._token)

    def observe(self, token: int | str | bytes | None) -> None:
        """Fold a token (from a response or another process) into this session's."""
        if token is None:
            return
        value = int.from_bytes(token, "big", signed=True) if isinstance(token, bytes) \
            else int(token)
        with self._lock:
            self._token = max(self._token, value)

    def execute(self, query: Any, parameters: Any = None, **kwargs: Any) -> Any:
        future = self.execute_async(query, parameters, **kwargs)
        result = future.result()
        self._absorb(future)
        return result

    def execute_async(self, query: Any, parameters: Any = None, **kwargs: Any) -> Any:
        payload = dict(kwargs.pop("custom_payload", None) or {})
        with self._lock:
            if self._token:
                payload[PAYLOAD_KEY] = self._token.to_bytes(8, "big", signed=True)
        future = self.session.execute_async(query, parameters, custom_payload=payload or None,
                                            **kwargs)
        future.add_callback(lambda _rows: self._absorb(future))
        return future

    def _absorb(self, future: Any) -> None:
        payload = future.custom_payload or {}
        self.observe(payload.get(PAYLOAD_KEY))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)
