"""`skewless stress` as a user runs it: a subprocess against a real 3-node cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement

from skewless.stress.workload import value_for

pytestmark = pytest.mark.timeout(300)

LATENCIES = ("p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")


def _stress(c: Any, *args: str, json_file: Path | None = None) -> tuple[int, dict[str, Any], str]:
    """(exit code, the --json report, the tables) of one bounded run against cluster ``c``.

    The report is read from stdout (``--json -``, the tables then go to stderr), or from
    ``json_file`` when one is given (the tables then go to stdout)."""
    cmd = [sys.executable, "-m", "skewless.cli", "stress", *args,
           "--hosts", ",".join(n.address for n in c.nodes), "--port", str(c.nodes[0].cql_port),
           "--json", "-" if json_file is None else str(json_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    report = out.stdout if json_file is None else json_file.read_text(encoding="utf-8")
    assert report.strip(), f"no JSON report; exit {out.returncode}; stderr:\n{out.stderr}"
    return out.returncode, json.loads(report), out.stderr if json_file is None else out.stdout


def _check_clean(code: int, doc: dict[str, Any], tables: str, expected: dict[str, int]) -> None:
    assert code == 0, tables
    assert doc["stopped_by"] == "ops" and doc["unfinished"] == 0
    assert {op: s["ops"] for op, s in doc["operations"].items()} == expected
    assert doc["total"]["ops"] == sum(expected.values()) == doc["options"]["ops"]
    for op, s in [*doc["operations"].items(), ("total", doc["total"])]:
        assert s["errors"] == 0 and s["error_kinds"] == {}, (op, s)
        values = [s[k] for k in LATENCIES]
        assert values == sorted(values) and values[0] > 0, (op, values)
        assert s["ops_per_s"] > 0
    for op in doc["operations"]:
        assert op in tables


def test_write_read_mixed_and_failures_through_stress(cluster_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c = cluster_factory(3)
    common = ["--keys", "300", "--concurrency", "16", "--value-size", "100",
              "--replication-factor", "3", "--consistency", "QUORUM"]

    code, doc, err = _stress(c, "write", "--ops", "300", *common)
    _check_clean(code, doc, err, {"write": 300})
    assert doc["options"]["workload"] == "write" and doc["options"]["key_dist"] == "seq"
    assert doc["options"]["consistency"] == "QUORUM" and doc["options"]["token_aware"] is True

    # What stress wrote is there, for every key, as the stock driver reads it at ALL.
    s = c.session()
    rows = s.execute(SimpleStatement("SELECT k, v FROM skewless_stress.kv WHERE k IN (0, 7, 299)",
                                     consistency_level=ConsistencyLevel.ALL))
    assert {r.k: r.v for r in rows} == {k: value_for(k, 100) for k in (0, 7, 299)}

    code, doc, err = _stress(c, "read", "--ops", "300", *common, json_file=tmp_path / "r.json")
    _check_clean(code, doc, err, {"read": 300})
    assert doc["operations"]["read"]["not_found"] == 0
    assert doc["operations"]["read"]["mismatched"] == 0

    code, doc, err = _stress(c, "mixed", "--ops", "400", "--ratio", "write=1,read=3", *common)
    _check_clean(code, doc, err, {"write": 100, "read": 300})
    assert doc["operations"]["read"]["not_found"] == 0

    # A --duration run stops by itself (or at its --ops bound), with nothing left in flight.
    code, doc, err = _stress(c, "write", "--duration", "1s", "--ops", "100000", *common)
    assert code == 0, err
    assert doc["stopped_by"] in ("duration", "ops") and doc["unfinished"] == 0
    assert 0 < doc["total"]["ops"] <= 100_000 and doc["total"]["errors"] == 0

    # With a replica gone, ALL cannot succeed: every operation is counted as an error, the
    # report is complete and the exit status says so.
    c.nodes[2].kill9()
    code, doc, err = _stress(c, "write", "--ops", "40", "--concurrency", "8", "--keys", "300",
                             "--consistency", "ALL")
    assert code == 1, err
    write = doc["operations"]["write"]
    assert write["ops"] == write["errors"] == 40 and doc["unfinished"] == 0
    assert sum(write["error_kinds"].values()) == 40
    assert set(write["error_kinds"]) <= {"Unavailable", "WriteTimeout"}, write["error_kinds"]
    assert write["p50_ms"] is None
    print(f"\nALL with a replica down: {write['error_kinds']}")
    assert "errors:" in err
