"""node.latency: folding appended values gives the histogram that recording each one gives."""

from __future__ import annotations

import random

from hdrh.histogram import HdrHistogram

from skewless import limits
from skewless.node.latency import PERCENTILES, Latency


def _direct(values: list[int]) -> HdrHistogram:
    h = HdrHistogram(1, limits.latency_histogram_us_max, 3)
    for v in values:
        h.record_value(min(max(1, v), limits.latency_histogram_us_max))
    return h


def test_folded_histogram_equals_the_one_recorded_value_by_value() -> None:
    rng = random.Random(13)
    edges = [-5, 0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 4097, 10**6 + 1,
             limits.latency_histogram_us_max, limits.latency_histogram_us_max + 1, 10**12]
    for n in (1, 7, 1000, limits.latency_pending_max + 3, 3 * limits.latency_pending_max):
        values = edges + [int(rng.lognormvariate(8, 2)) for _ in range(n)]
        lat = Latency()
        for v in values:
            lat.record(v)
        h = _direct(values)
        assert lat.count == h.get_total_count() == len(values)
        assert lat.mean_us() == float(h.get_mean_value())
        expected = [float(h.get_value_at_percentile(p)) for p in PERCENTILES]
        assert lat.percentiles_us() == expected + [float(h.get_min_value()),
                                                   float(h.get_max_value())]
        assert list(lat.histogram.counts) == list(h.counts)


def test_an_empty_histogram_reads_as_zeros() -> None:
    lat = Latency()
    assert lat.count == 0 and lat.mean_us() is None
    assert lat.percentiles_us() == [0.0] * (len(PERCENTILES) + 2)
