"""``skewless bench``: the throughput benchmarks as subcommands (``etcd``, ``load``); each is
also ``python -m skewless.bench_etcd`` / ``python -m skewless.bench_load``. The etcd client
(aetcd) is imported only by a round's client process, never here."""

from __future__ import annotations

import click

from skewless import bench_etcd, bench_load


@click.group()
def bench() -> None:
    """Benchmarks that start their own local clusters (they assert nothing)."""


bench.add_command(bench_etcd.main, "etcd")
bench.add_command(bench_load.main, "load")
