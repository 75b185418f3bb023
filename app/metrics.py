"""Prometheus metrics (text exposition at /metrics) and request counts for /stats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from threading import Lock

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CacheStats = Callable[[], dict[str, dict[str, int]]]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        # A registry per app: several apps in one process (tests, workers) do not share counters.
        self.registry = CollectorRegistry()
        self.requests = PromCounter("clir_requests", "HTTP requests", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("clir_request_seconds", "Request latency", ["endpoint"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.documents = Gauge("clir_index_documents", "Documents in the served index", registry=self.registry)
        self._counts: Counter[str] = Counter()
        self._lock = Lock()

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        with self._lock:
            self._counts[f"{endpoint} {status}"] += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def watch_caches(self, stats: CacheStats) -> None:
        """Hits, misses and entries of the service's caches, read at each scrape."""
        self.registry.register(_Caches(stats))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Caches(Collector):
    def __init__(self, stats: CacheStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        hits = CounterMetricFamily("clir_cache_hits", "Lookups a cache answered", labels=["cache"])
        misses = CounterMetricFamily("clir_cache_misses", "Lookups a cache could not answer", labels=["cache"])
        entries = GaugeMetricFamily("clir_cache_entries", "Entries a cache holds", labels=["cache"])
        for name, values in self.stats().items():
            hits.add_metric([name], values["hits"])
            misses.add_metric([name], values["misses"])
            entries.add_metric([name], values["entries"])
        yield from (hits, misses, entries)
