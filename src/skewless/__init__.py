"""Skewless: a Cassandra-compatible replicated database whose clocks cannot silently lose writes."""

__version__ = "0.1.0"
