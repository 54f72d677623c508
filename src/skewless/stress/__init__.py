"""``skewless stress``: load a serving cluster through the stock cassandra-driver and measure it.

In the manner of cassandra-stress: a ``write``, ``read`` or ``mixed`` workload over a key
population, ``concurrency`` requests in flight, prepared statements and token-aware routing,
latency per operation type in HDR histograms, a progress display while it runs and a summary
(a table, and JSON for machines) at the end.

The parts are split so that the decisions are pure and testable without a cluster:

* ``options`` — parsing and checking the command line (durations, ratios, consistency levels)
  into one frozen ``StressOptions``;
* ``workload`` — which operation comes next (a smooth weighted round robin, so a ratio is met
  exactly), which key it uses (sequential or seeded uniform) and the value a key holds;
* ``report`` — statistics of a histogram, the JSON document and the rich summary table;
* ``runner`` — the only part with a driver, threads and a real clock.
"""
