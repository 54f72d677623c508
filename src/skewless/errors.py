"""Typed errors.

Two families, as h11 separates them:

* ``CqlError`` subclasses are a *peer's* fault or an operational condition (bad CQL, too few
  replicas, a timeout). They are handled and answered with the matching native-protocol ERROR.
* ``RemoteProtocolError`` is a malformed frame from a CQL client or an internode peer: the
  connection that sent it is answered (where possible) and closed; the node keeps serving.

Our own broken invariants are ``assert`` statements, never these classes.
"""

from __future__ import annotations

from collections.abc import Mapping


class RemoteProtocolError(Exception):
    """The peer sent bytes that do not follow the protocol."""


class CqlError(Exception):
    """An error answered to a CQL client. ``code`` is the native protocol error code."""

    code = 0x0000

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServerError(CqlError):
    code = 0x0000


class ProtocolError(CqlError):
    code = 0x000A


class AuthenticationFailed(CqlError):
    """Cassandra's AuthenticationException (BAD_CREDENTIALS): the driver's AuthenticationFailed."""

    code = 0x0100


class Unavailable(CqlError):
    code = 0x1000

    def __init__(self, message: str, consistency: int, required: int, alive: int) -> None:
        super().__init__(message)
        self.consistency = consistency
        self.required = required
        self.alive = alive


class Overloaded(CqlError):
    code = 0x1001


class IsBootstrapping(CqlError):
    code = 0x1002


class TruncateError(CqlError):
    """TRUNCATE could not reach every node (Cassandra's TruncateException, TRUNCATE_ERROR)."""

    code = 0x1003


class WriteTimeout(CqlError):
    code = 0x1100
    # write_type must be one the drivers know: SIMPLE, BATCH, UNLOGGED_BATCH, COUNTER,
    # BATCH_LOG, CAS, VIEW, CDC.
    WRITE_TYPES = (
        "SIMPLE", "BATCH", "UNLOGGED_BATCH", "COUNTER", "BATCH_LOG", "CAS", "VIEW", "CDC",
    )

    def __init__(
        self, message: str, consistency: int, received: int, block_for: int, write_type: str,
        contentions: int = 0,
    ) -> None:
        super().__init__(message)
        assert write_type in self.WRITE_TYPES, write_type
        self.consistency = consistency
        self.received = received
        self.block_for = block_for
        self.write_type = write_type
        # CAS only: the Paxos rounds lost to other proposers (protocol v5's <contentions>)
        self.contentions = contentions


class ReadTimeout(CqlError):
    code = 0x1200

    def __init__(
        self, message: str, consistency: int, received: int, block_for: int, data_present: bool
    ) -> None:
        super().__init__(message)
        self.consistency = consistency
        self.received = received
        self.block_for = block_for
        self.data_present = data_present


UNKNOWN_FAILURE = 0x0000  # Cassandra's RequestFailureReason.UNKNOWN, in v5 failure reason maps


class ReadFailure(CqlError):
    code = 0x1300

    def __init__(
        self, message: str, consistency: int, received: int, block_for: int, failures: int,
        data_present: bool, reasons: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.consistency = consistency
        self.received = received
        self.block_for = block_for
        self.failures = failures
        self.data_present = data_present
        self.reasons = dict(reasons or {})  # v5 reason map: replica address -> reason code


class WriteFailure(CqlError):
    code = 0x1500

    def __init__(
        self, message: str, consistency: int, received: int, block_for: int, failures: int,
        write_type: str, reasons: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        assert write_type in WriteTimeout.WRITE_TYPES, write_type
        self.consistency = consistency
        self.received = received
        self.block_for = block_for
        self.failures = failures
        self.write_type = write_type
        self.reasons = dict(reasons or {})  # v5 reason map: replica address -> reason code


class SyntaxException(CqlError):
    code = 0x2000


class Unauthorized(CqlError):
    code = 0x2100


class InvalidRequest(CqlError):
    code = 0x2200


class ConfigurationException(CqlError):
    code = 0x2300


class AlreadyExists(CqlError):
    code = 0x2400

    def __init__(self, message: str, keyspace: str, table: str) -> None:
        super().__init__(message)
        self.keyspace = keyspace
        self.table = table


class Unprepared(CqlError):
    code = 0x2500

    def __init__(self, message: str, statement_id: bytes) -> None:
        super().__init__(message)
        self.statement_id = statement_id


def unsupported(feature: str) -> InvalidRequest:
    """The error for CQL we parse but have not built yet: it names the feature."""
    return InvalidRequest(f"{feature} is not supported by Skewless yet")
