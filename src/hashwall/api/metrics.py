"""Prometheus metrics of one API process (``GET /metrics``, text format).

=======================================  =========  ===========================================
metric                                   type       labels
=======================================  =========  ===========================================
``hashwall_http_request_duration_seconds``  histogram  ``route`` (the path template), ``method``
``hashwall_http_requests_total``         counter    ``route``, ``method``, ``status``
``hashwall_check_decisions_total``       counter    ``platform`` (its name), ``decision``
``hashwall_index_size``                  gauge      ``family`` (``pdq``)
``hashwall_index_last_seq``              gauge      ``pid``
``hashwall_index_lag_seconds``           gauge      ``pid``: seconds since the live index last
                                                    reached the end of the event log
``hashwall_index_current``               gauge      ``pid``: 1 while the live index may answer
                                                    checks (within ``index_max_lag`` of the log)
``hashwall_index_follower_failures_total``  counter  ``pid``: follower passes that raised (retried)
``hashwall_index_follower_restarts_total``  counter  ``pid``: follower threads replaced (died, hung)
``hashwall_index_rebuilds_total``        counter    ``pid``: rebuilds past an unappliable event
``hashwall_index_stale_checks_total``    counter    ``answer`` (``store_scan``, ``refused``): checks
                                                    asked while the index was not current
``hashwall_store_up``                    gauge      1 unless requests found the database down
``hashwall_store_unavailable_total``     counter    requests answered 503 store_unavailable
``hashwall_feed_lag_events``             gauge      ``platform``: events between the log's head
                                                    and the platform's last feed page
``hashwall_decode_pool_*``               gauges     workers, idle, restarts, crashes, timeouts
=======================================  =========  ===========================================

Each app has its own registry (several apps in one test process never collide). Each process
reports for itself; scrape every replica (or worker) on its own. Labels never carry key ids,
client addresses, case numbers or hashes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from hashwall.api.decode_pool import PoolStats
    from hashwall.api.outage import StoreOutage
    from hashwall.service.live import LiveIndexes

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
)


class _LiveCollector(Collector):
    """Reads the index, feed lag and pool gauges when scraped (never stale)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        pid = str(os.getpid())
        size = GaugeMetricFamily(
            "hashwall_index_size", "Hashes in the live index.", labels=["family"]
        )
        seq = GaugeMetricFamily(
            "hashwall_index_last_seq", "Last event applied by the live index.", labels=["pid"]
        )
        lag = GaugeMetricFamily(
            "hashwall_index_lag_seconds",
            "Seconds since the live index last reached the end of the event log.",
            labels=["pid"],
        )
        current = GaugeMetricFamily(
            "hashwall_index_current",
            "1 while the live index may answer checks (within index_max_lag of the log).",
            labels=["pid"],
        )
        follower = [
            CounterMetricFamily(name, text, labels=["pid"])
            for name, text in (
                ("hashwall_index_follower_failures", "Live index follower passes that raised."),
                ("hashwall_index_follower_restarts", "Live index followers replaced (died, hung)."),
                (
                    "hashwall_index_rebuilds",
                    "Live index rebuilds past an event it could not apply.",
                ),
            )
        ]
        stale = CounterMetricFamily(
            "hashwall_index_stale_checks",
            "Checks asked while the live index was not current, by what they got.",
            labels=["answer"],
        )
        live = m.live
        if live is not None:
            size.add_metric(["pdq"], live.size)
            seq.add_metric([pid], live.last_seq)
            seconds = live.lag_seconds
            lag.add_metric([pid], seconds if seconds is not None else float("nan"))
            current.add_metric([pid], 1.0 if live.current else 0.0)
            counts = (live.follower_failures, live.follower_restarts, live.rebuilds)
            for family, count in zip(follower, counts, strict=True):
                family.add_metric([pid], count)
            for answer, count in sorted(live.stale_checks.items()):
                stale.add_metric([answer], count)
        yield size
        yield seq
        yield lag
        yield current
        yield from follower
        yield stale
        outage = m.outage
        up = GaugeMetricFamily("hashwall_store_up", "1 unless requests found the database down.")
        up.add_metric([], 0.0 if outage is not None and outage.down else 1.0)
        yield up
        refused = CounterMetricFamily(
            "hashwall_store_unavailable", "Requests answered 503 store_unavailable."
        )
        refused.add_metric([], outage.refused_total if outage is not None else 0)
        yield refused
        feed = GaugeMetricFamily(
            "hashwall_feed_lag_events",
            "Events between the log's head and the platform's last feed page.",
            labels=["platform"],
        )
        for platform, events in sorted(m.feed_lag.items()):
            feed.add_metric([platform], events)
        yield feed
        stats = m.pool_stats() if m.pool_stats is not None else None
        if stats is not None:
            for name in ("workers", "idle", "restarts", "crashes", "timeouts"):
                gauge = GaugeMetricFamily(
                    f"hashwall_decode_pool_{name}", f"Decoder pool: {name}.", labels=[]
                )
                gauge.add_metric([], getattr(stats, name))
                yield gauge


class Metrics:
    """The registry and instruments of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "hashwall_http_request_duration_seconds",
            "Time to answer a request, by route template.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "hashwall_http_requests",
            "Requests answered, by route template and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "hashwall_check_decisions",
            "Check answers, by platform and decision.",
            ["platform", "decision"],
            registry=self.registry,
        )
        self.live: LiveIndexes | None = None
        self.outage: StoreOutage | None = None
        self.feed_lag: dict[str, int] = {}
        # Labelled children by label values: ``labels()`` costs more than the observation.
        self._children: dict[tuple[str, ...], Any] = {}
        self.pool_stats: Callable[[], PoolStats | None] | None = None
        self.registry.register(_LiveCollector(self))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self._child(self.latency, "l", route, method).observe(seconds)
        self._child(self.requests, "r", route, method, str(status)).inc()

    def observe_decision(self, platform: str, decision: str) -> None:
        """Count one check answer."""
        self._child(self.decisions, "d", platform, decision).inc()

    def _child(self, metric: Any, kind: str, *values: str) -> Any:
        key = (kind, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def observe_feed(self, platform: str, lag_events: int) -> None:
        """Remember how far behind the log a platform's last feed page was."""
        self.feed_lag[platform] = max(0, lag_events)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
