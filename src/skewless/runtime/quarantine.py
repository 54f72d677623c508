"""Corrupt storage in the node process: detection at start, the mark, quarantine and rebuild.

Theory of operation
-------------------
``storage.integrity`` holds the node's verdict and turns RocksDB's ``Corruption:`` errors into
``StorageCorruption``; this module does the I/O around it:

* **Opening.** ``DiskGuard.open`` opens the database under a ``CheckedKV``. The mark of a node
  that needs rebuild is a file beside the database (``needs_rebuild.json``, the reasons), read
  back here, so a restart does not forget it. RocksDB refuses to open a database when a block
  it reads at open (an SST file's footer, index, properties) is corrupt; the replicated data is
  in its own column family (``storage.kv``), so the default family (the node's own state) is
  then opened alone, read-only: when it reads back whole, the database is quarantined (below)
  at once, a new one gets the node's own state, and the node starts marked. A node whose own
  state (host id, tokens, metadata) cannot be read stops the start with a message, as
  Cassandra does for its system keyspace: it is replaced (``replace_address_first_boot``) from
  another address.
* **Commit log.** ``PositionedRocksKV`` writes, after every fsync of the WAL, the sequence number
  that fsync covered to ``commitlog_position`` (a write the OS keeps, no second fsync). At start,
  a database whose recovered sequence number is below the recorded one lost acknowledged writes
  from its WAL (truncated or cut by a corrupt record, which RocksDB's point-in-time recovery stops
  at silently): the node is marked.
* **Verification.** After start, a worker thread reads every entry with checksums on
  (``integrity.verify``); a corrupt block marks the node. Reads meet corruption too
  (``CheckedKV``).
* **Policy.** On a new mark, ``stop_paranoid`` closes the CQL port (gossip, admin and metrics
  stay up, so the node can be inspected and rebuilt) and ``die`` exits the process (status 3).
* **Rebuild** (``nodetool rebuild``): on the loop, the readable entries of the node's own state
  (meta, hints, batchlog) are copied out, the database is closed and moved whole to
  ``quarantine/db-N`` (kept for inspection), a new one is opened in its place with those entries
  and the node's identity as it holds it in memory, and a full repair of every replicated
  keyspace is started: the peers stream every row this node replicates. When every repair
  command has succeeded the mark is cleared; a failed one leaves the node marked (run it again).
  The loop stops for the copy (the node's own state only: meta, hints, batchlog). When every
  block of the database verified clean (only the commit log lost writes), nothing is
  quarantined: the repairs alone bring back what was lost. A node whose
  meta entries cannot all be read is not rebuilt in place (its metadata log's Paxos promises
  would be forgotten): it is replaced from another address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rocksdict

from skewless import limits
from skewless.admin.registry import AdminContext, AdminError, Json, operation
from skewless.errors import CqlError
from skewless.node.repair.status import FAILED, SUCCESSFUL
from skewless.storage.integrity import (
    BLOCK_REASON,
    CheckedKV,
    Integrity,
    is_corruption,
    salvage,
    verify,
)
from skewless.storage.kv import RocksKV, family_pieces

if TYPE_CHECKING:
    from skewless.node.node import Node

log = logging.getLogger("skewless.disk")

MARK_FILE = "needs_rebuild.json"
POSITION_FILE = "commitlog_position"
OPEN_REASON = "corrupt SSTable at open"
QUARANTINE_DIR = "quarantine"
_LOCAL_KEYSPACES = ("system", "system_schema")  # never replicated: nothing to repair


def read_position(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "0")
    except (OSError, ValueError):
        return None


def _write_position(path: Path, seq: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, f"{seq:020d}\n".encode(), 0)  # same length every time: no truncation
    finally:
        os.close(fd)


class PositionedRocksKV(RocksKV):
    """``RocksKV`` that records the WAL position each fsync covered (see the module docstring)."""

    def __init__(self, path: str, position: Path) -> None:
        super().__init__(path)
        self._position = position
        # syncs run in worker threads: a rebuild closes this database only between two of them
        self._lock = threading.RLock()
        self._closed = False

    def sync(self) -> None:
        with self._lock:
            if self._closed:
                return  # replaced by a rebuild while this sync waited
            seq = self.sequence()  # read first: a write racing the fsync is not claimed durable
            super().sync()
            _write_position(self._position, seq)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                super().close()
                self._closed = True


class DiskGuard:
    """The node's store, its integrity verdict and the rebuild (see the module docstring)."""

    def __init__(self, data_dir: str, policy: str,
                 on_policy: Callable[[str], None] | None = None) -> None:
        self.data = Path(data_dir)
        self.db_path = self.data / "db"
        self.integrity = Integrity(policy=policy)
        self._on_policy = on_policy
        self.verified = ""  # what the last verification found (status)
        self._verifying: asyncio.Future[tuple[int, str | None]] | None = None
        self._stop = False  # asks a running verification to end (shutdown)
        self._caught: set[str] = set()  # where a corruption was caught (logged once each)
        self._restore_mark()
        try:
            self.rocks = PositionedRocksKV(str(self.db_path), self.data / POSITION_FILE)
        except Exception as e:
            if not is_corruption(e):
                raise
            self.rocks = self._quarantine_at_open(str(e).splitlines()[0][:300])
        self.kv = CheckedKV(self.rocks, self.integrity)
        self._check_commit_log()
        self.integrity.on_mark = self._marked

    # ------------------------------------------------------------------ the mark

    def _restore_mark(self) -> None:
        try:
            raw = json.loads((self.data / MARK_FILE).read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            raw = {"reasons": [f"unreadable {MARK_FILE}: {e}"]}
        reasons = raw.get("reasons") if isinstance(raw, dict) else None
        self.integrity.reasons = [str(r) for r in reasons] if isinstance(reasons, list) \
            else [f"unreadable {MARK_FILE}"]
        if self.integrity.reasons:
            log.error("this node needs rebuild (run nodetool rebuild): %s",
                      "; ".join(self.integrity.reasons))

    def _marked(self, integrity: Integrity) -> None:
        path = self.data / MARK_FILE
        if not integrity.reasons:
            path.unlink(missing_ok=True)
            log.info("rebuild finished: this node serves reads again")
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"reasons": integrity.reasons}, indent=1) + "\n")
        os.replace(tmp, path)
        log.error("corrupt storage (disk_failure_policy %s): %s; run nodetool rebuild",
                  integrity.policy, integrity.reasons[-1])
        if integrity.policy in ("stop_paranoid", "die") and self._on_policy is not None:
            self._on_policy(integrity.policy)

    def _quarantine_at_open(self, error: str) -> PositionedRocksKV:
        """RocksDB refused to open the database: a block it reads at open (an SST file's index,
        filter or properties) is corrupt. When the node's own state (the default column family)
        opens and reads back alone, the corrupt file is replicated data: the database is moved
        to quarantine, a new one gets the node's own state, and the node starts marked. A node
        whose own state is unreadable stops with a message, as Cassandra does for its system
        keyspace: it is replaced from another address."""
        try:
            kept, recovered = _read_own_state(str(self.db_path))
        except Exception as e:
            if not is_corruption(e):
                raise
            raise SystemExit(
                f"cannot start: the database {self.db_path} is corrupt beyond opening ({error}) "
                f"and so is the node's own state in it ({str(e).splitlines()[0][:300]}); "
                "move it aside and start a node on another address with "
                "--replace-address-first-boot to take this node's place") from None
        if self.integrity.policy == "die":
            raise SystemExit(f"cannot start (disk_failure_policy die): {error}")
        self._check_position(recovered)
        target = self._quarantine_target()
        shutil.move(str(self.db_path), str(target))
        rocks = PositionedRocksKV(str(self.db_path), self.data / POSITION_FILE)
        step = limits.rebuild_refill_batch_entries
        for i in range(0, len(kept), step):
            rocks.write(kept[i:i + step])
        rocks.sync()  # records the new database's position
        rocks.recovered_sequence = rocks.sequence()  # what the check that follows compares
        self.integrity.mark(f"{OPEN_REASON}: {error}; replicated data moved to {target}")
        log.error("the database did not open (%s): its replicated data is corrupt; moved to %s, "
                  "kept %d entries of the node's own state; run nodetool rebuild", error,
                  target, len(kept))
        return rocks

    def _quarantine_target(self) -> Path:
        quarantine = self.data / QUARANTINE_DIR
        quarantine.mkdir(exist_ok=True)
        return quarantine / f"db-{1 + sum(1 for _ in quarantine.iterdir())}"

    def _check_commit_log(self) -> None:
        recovered = self.rocks.recovered_sequence  # (before a one-family database was split)
        self._check_position(recovered)
        _write_position(self.data / POSITION_FILE, recovered)
        if self.integrity.reasons:
            (self.data / MARK_FILE).write_text(
                json.dumps({"reasons": self.integrity.reasons}, indent=1) + "\n")

    def _check_position(self, recovered: int) -> None:
        """Mark the node when the WAL recovered fewer writes than the last fsync covered."""
        recorded = read_position(self.data / POSITION_FILE)
        if recorded is not None and recovered < recorded:
            reason = (f"commit log truncated: recovered writes up to sequence {recovered}, "
                      f"{recorded - recovered} fsynced writes lost")
            log.error("%s", reason)
            if self.integrity.policy == "die":
                self.rocks.close()  # (at open, ``die`` exited before the quarantine)
                raise SystemExit(f"cannot start (disk_failure_policy die): {reason}")
            self.integrity.mark(reason)

    def caught(self, where: str) -> None:
        """A StorageCorruption stopped ``where`` (already recorded by the store): its traceback
        is logged the first time only, so a corrupt block read every tick cannot flood the log."""
        if where in self._caught:
            log.debug("corrupt storage under %s again", where)
            return
        self._caught.add(where)
        log.exception("corrupt storage under %s (logged once)", where)

    # ------------------------------------------------------------------ verification

    async def verify(self) -> None:
        """Read every entry with checksums on, in a worker thread; mark on corruption."""
        if self._verifying is not None:
            return
        loop = asyncio.get_running_loop()
        rocks = self.rocks
        self.verified = "verifying"
        self._verifying = loop.run_in_executor(None, verify, rocks, lambda: self._stop)
        try:
            n, error = await asyncio.shield(self._verifying)
        finally:
            self._verifying = None
        if rocks is not self.rocks or self._stop:
            return  # rebuilt or stopping meanwhile
        if error is None:
            self.verified = f"{n} entries verified"
            log.info("storage verification: %d entries, no corruption", n)
        else:
            self.verified = f"corruption after {n} entries: {error}"
            self.integrity.corruption(error)

    async def stop_verifying(self) -> None:
        """Shutdown: end a running verification before the database closes."""
        self._stop = True
        if self._verifying is not None:
            with contextlib.suppress(Exception):
                await self._verifying

    # ------------------------------------------------------------------ rebuild

    def rebuild(self, node: Node) -> dict[str, Any]:
        """Quarantine the database and repair every range from the peers (module docstring)."""
        integ = self.integrity
        if integ.rebuild_commands:
            return {"state": "REBUILDING", "commands": integ.rebuild_commands}
        if self._verifying is not None:
            raise AdminError("a verification of the database is running; retry when it ends")
        if self.verified.endswith(" entries verified") and not any(
                r.startswith(BLOCK_REASON) for r in integ.reasons):
            # every block reads back (only a commit log lost writes): repair is enough
            log.warning("rebuild: the database verifies clean; repairing every range from the "
                        "peers without quarantine")
            return self._repair_all(node, {})
        kept, lost = salvage(self.rocks)
        if "m" in lost:  # identity, tokens, the metadata log's Paxos promises: not rebuildable
            raise AdminError("this node's own state (meta entries: identity, tokens, metadata "
                             "log) is corrupt: it cannot be rebuilt in place; stop it, move its "
                             "data directory aside and replace it from another address "
                             "(--replace-address-first-boot)")
        self.verified = ""
        old = self.rocks
        try:
            old.close()
        except Exception as e:  # a corrupt database may fail its last flush: it is set aside
            log.warning("closing the corrupt database: %s", e)
        target = self._quarantine_target()
        shutil.move(str(self.db_path), str(target))
        self.rocks = PositionedRocksKV(str(self.db_path), self.data / POSITION_FILE)
        self.kv.swap(self.rocks)
        step = limits.rebuild_refill_batch_entries
        for i in range(0, len(kept), step):
            self.rocks.write(kept[i:i + step])
        _persist_identity(node)
        self.rocks.sync()
        log.warning("rebuild: database moved to %s; kept %d entries of the node's own state%s; "
                    "repairing every range from the peers", target, len(kept),
                    f" (unreadable: {', '.join(lost)})" if lost else "")
        return self._repair_all(node, {"quarantined": str(target), "kept_entries": len(kept),
                                       "unreadable": lost})

    def _repair_all(self, node: Node, done: dict[str, Any]) -> dict[str, Any]:
        """Start a full repair of every replicated keyspace; the mark clears when they end."""
        integ = self.integrity
        commands: dict[str, int] = {}
        for ks in node.schema.keyspaces:
            if ks.name in _LOCAL_KEYSPACES:
                continue
            try:
                commands[ks.name] = node.active_repair.repair(ks.name)
            except CqlError as e:
                log.warning("rebuild: cannot repair %s: %s", ks.name, e.message)
        integ.rebuild_commands = commands
        if not commands:
            integ.cleared()
        return {**done, "state": integ.state(), "commands": commands}

    def tick(self, node: Node) -> None:
        """Clear the mark once every repair of the rebuild has succeeded."""
        integ = self.integrity
        if not integ.rebuild_commands:
            return
        states = {}
        for ks, number in integ.rebuild_commands.items():
            status = node.active_repair.status(number)
            states[ks] = FAILED if status is None else status.state
        if any(s == FAILED for s in states.values()):
            log.error("rebuild: repair failed for %s; run nodetool rebuild again",
                      ", ".join(k for k, s in states.items() if s == FAILED))
            integ.rebuild_commands.clear()
        elif all(s == SUCCESSFUL for s in states.values()):
            integ.cleared()

    def status(self) -> dict[str, Any]:
        integ = self.integrity
        return {"state": integ.state(), "policy": integ.policy, "reasons": list(integ.reasons),
                "corruption_errors": integ.corruption_errors, "last_error": integ.last_error,
                "verified": self.verified, "rebuild_commands": dict(integ.rebuild_commands),
                "rebuilds": integ.rebuilds, "data_files": self.rocks.data_sst_files()}


def _read_own_state(path: str) -> tuple[list[tuple[bytes, bytes]], int]:
    """The node's own entries of a database that does not open whole, and its recovered WAL
    sequence: RocksDB opens a subset of column families read-only (here the default one), so a
    corrupt file of the data family is never read."""
    options = rocksdict.Options(raw_mode=True)
    db = rocksdict.Rdict(path, options, column_families={},
                         access_type=rocksdict.AccessType.read_only())
    try:
        recovered = int(db.latest_sequence_number())
        kept = [item for data, lo, hi in family_pieces(b"", None) if not data
                for item in RocksKV.iter_family(db, lo, hi)]  # never a data block
    finally:
        db.close()
    return kept, recovered


def _persist_identity(node: Node) -> None:
    """Write the node's identity as it holds it in memory into a new database, in case the old
    one could not give it back (the same meta entries ``Node`` and ``node.topology`` write)."""
    st = node.storage
    local = node.membership.local
    if st.get_meta("host_id") is None:
        st.put_meta("host_id", node.host_id.bytes)
    if st.get_meta("tokens") is None and local.tokens:
        st.put_meta("tokens", ",".join(map(str, local.tokens)).encode())
        st.put_meta("status", local.status.encode())


# ---------------------------------------------------------------------- admin operations


def _guard(ctx: AdminContext) -> DiskGuard:
    server = getattr(ctx.runtime, "server", None)
    guard = getattr(server, "disk", None)
    if not isinstance(guard, DiskGuard):
        raise AdminError("this node has no database to verify or rebuild")
    return guard


@operation("disk_status", "The storage verdict: OK, CORRUPT (needs rebuild) or REBUILDING")
def disk_status(ctx: AdminContext, args: Json) -> Json:
    guard = _guard(ctx)
    guard.tick(ctx.node)  # a rebuild whose repairs just ended is seen as finished now
    return guard.status()


@operation("rebuild", "Quarantine the database and rebuild every range from the peers")
def rebuild(ctx: AdminContext, args: Json) -> Json:
    return _guard(ctx).rebuild(ctx.node)


@operation("verify", "Verify the checksum of every block of the database")
def verify_all(ctx: AdminContext, args: Json) -> Json:
    guard = _guard(ctx)
    if guard._verifying is None:
        guard._stop = False
        ctx.runtime.pending.append(guard.verify())  # type: ignore[attr-defined]
    return {}
