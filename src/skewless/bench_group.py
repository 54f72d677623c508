"""``skewless bench``: the throughput benchmarks as subcommands (``etcd``, ``load``, ``lwt``);
each is also ``python -m skewless.bench_etcd`` / ``bench_load`` / ``bench_lwt``. The etcd
client (aetcd) is imported only by a round's client process, never here."""

from __future__ import annotations

import click

from skewless import bench_etcd, bench_load, bench_lwt


@click.group()
def bench() -> None:
    """Benchmarks that start their own local clusters (they assert nothing)."""


bench.add_command(bench_etcd.main, "etcd")
bench.add_command(bench_load.main, "load")
bench.add_command(bench_lwt.main, "lwt")
