"""Prometheus metrics of one API process (``GET /metrics``, text format).

=======================================  =========  ===========================================
metric                                   type       labels
=======================================  =========  ===========================================
``hashwall_http_request_duration_seconds``  histogram  ``route`` (the path template), ``method``
``hashwall_http_requests_total``         counter    ``route``, ``method``, ``status``
``hashwall_check_decisions_total``       counter    ``platform`` (its name), ``decision``
``hashwall_index_size``                  gauge      ``family``: a distance signal type (``pdq``)
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

Each app has its own registry (several apps in one test process never collide), and one process
reports for itself. Under ``hashwall serve --workers N`` a scrape reaches one worker, so the
workers share prometheus_client's multiprocess mode: ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR``
(a fresh private directory) before they start, each worker's counters and histograms write to
files there, and ``/metrics`` answers from all the files (:class:`MultiProcessCollector`).
The live gauges above are read from the process's objects, which no other worker can see: each
worker copies them into multiprocess gauges and counters (:class:`_SharedMirror`) every
:data:`SHARED_REFRESH_SECONDS` and before answering a scrape. Per-worker gauges (``pid``) show
one series per live worker; ``hashwall_index_size`` the largest worker's index,
``hashwall_store_up`` the lowest (0 if any worker finds the store down),
``hashwall_feed_lag_events`` the last page served by any worker, the decoder pools the sum over
the workers; counters are summed over all workers, dead ones included (the pid-labelled ones
stay per worker). A worker that died is forgotten at the next scrape.

Labels never carry key ids, client addresses, case numbers or hashes.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from hashwall.api.outage import StoreOutage
    from hashwall.sandbox.pool import PoolStats
    from hashwall.service.indexes import LiveIndexes

log = logging.getLogger("hashwall.api")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Set (by ``hashwall serve --workers N``) before prometheus_client is imported: the directory
#: the processes share their metrics through.
MULTIPROCESS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: How often each worker copies its live gauges for the others' scrapes (s).
SHARED_REFRESH_SECONDS: Final = 1.0
#: How the workers' values of a live gauge combine (prometheus_client's ``multiprocess_mode``);
#: ``liveall``: one series per live worker, labelled ``pid``.
_Mode = Literal["liveall", "livemax", "livemin", "livesum", "livemostrecent"]
_SHARED_GAUGE_MODES: Final[dict[str, _Mode]] = {
    "hashwall_index_size": "livemax",
    "hashwall_store_up": "livemin",
    "hashwall_feed_lag_events": "livemostrecent",
}

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
            for signal_type, count in live.sizes().items():
                size.add_metric([signal_type], count)
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


def _gauge_mode(name: str) -> _Mode:
    if name.startswith("hashwall_decode_pool_"):
        return "livesum"
    return _SHARED_GAUGE_MODES.get(name, "liveall")


class _SharedMirror:
    """Copies one process's live gauges and counters into the multiprocess files."""

    def __init__(self, collector: _LiveCollector) -> None:
        self._collector = collector
        self._lock = threading.Lock()
        self._instruments: dict[str, Any] = {}
        # The last value copied, by (name, labels), to add only the increase of a counter.
        self._counted: dict[tuple[str, tuple[str, ...]], float] = {}
        self._pause = threading.Event()  # never set: the refresher's sleep
        self._failed = False

    def refresh(self) -> None:
        """Copy the current values (called by the refresher and before each scrape)."""
        with self._lock:
            for family in self._collector.collect():
                for sample in family.samples:
                    if family.type == "counter" and not sample.name.endswith("_total"):
                        continue
                    self._copy(family, dict(sample.labels), sample.value)

    def _copy(self, family: Metric, labels: dict[str, str], value: float) -> None:
        if family.type == "gauge":
            labels.pop("pid", None)  # liveall labels each worker's series with its pid itself
        names = tuple(sorted(labels))
        instrument: Any = self._instruments.get(family.name)
        if instrument is None:
            if family.type == "counter":
                instrument = Counter(family.name, family.documentation, names, registry=None)
            else:
                instrument = Gauge(
                    family.name,
                    family.documentation,
                    names,
                    registry=None,
                    multiprocess_mode=_gauge_mode(family.name),
                )
            self._instruments[family.name] = instrument
        values = tuple(labels[name] for name in names)
        target = instrument.labels(*values) if names else instrument
        if family.type == "counter":
            key = (family.name, values)
            increase = value - self._counted.get(key, 0.0)
            if increase > 0:
                target.inc(increase)
            self._counted[key] = value
        else:
            target.set(value)

    def start(self) -> None:
        """Refresh every :data:`SHARED_REFRESH_SECONDS` in a daemon thread (for the process's
        life: one app per worker)."""
        threading.Thread(target=self._run, name="hashwall-metrics", daemon=True).start()

    def _run(self) -> None:
        while not self._pause.wait(SHARED_REFRESH_SECONDS):
            try:
                self.refresh()
            except Exception:  # a failed copy must not end the refresher; said once
                if not self._failed:
                    self._failed = True
                    log.exception("metrics: copying this worker's live gauges failed")


def forget_dead_workers(path: str) -> None:
    """Drop the live gauges of workers that are gone (replaced, or stopped)."""
    pids = set()
    for file in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        tail = os.path.basename(file).rsplit("_", 1)[-1].removesuffix(".db")
        if tail.isdigit():
            pids.add(int(tail))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, as another user (not ours: the pid was reused)
            mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


class Metrics:
    """The registry and instruments of one app.

    ``shared_dir``: the multiprocess directory (default: ``PROMETHEUS_MULTIPROC_DIR``), which
    must be set before prometheus_client was imported; None: this process alone.
    """

    def __init__(self, shared_dir: str | None = None) -> None:
        self.shared_dir = shared_dir or os.environ.get(MULTIPROCESS_ENV) or None
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
        collector = _LiveCollector(self)
        self.registry.register(collector)
        self._mirror: _SharedMirror | None = None
        if self.shared_dir is not None:
            self._mirror = _SharedMirror(collector)
            self._mirror.start()

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
        """The text exposition format: this process's, or every worker's when shared."""
        if self.shared_dir is None or self._mirror is None:
            return generate_latest(self.registry)
        self._mirror.refresh()
        forget_dead_workers(self.shared_dir)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.shared_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
