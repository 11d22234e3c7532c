"""Prometheus metrics: one :class:`Metrics` (one ``CollectorRegistry``) per service process.

The service builds it in its lifespan and serves ``registry`` at ``/metrics``. The runtime's
own metrics (relay, consumer, HTTP, commands, code failures) are created here once, so every
service exports the same names; a service adds its domain metrics with
:meth:`Metrics.counter`, :meth:`Metrics.gauge` and :meth:`Metrics.histogram` on the same
registry. Every name starts with ``kgo_``, carries its unit (``_seconds``, ``_coins``,
``_records``, ``_events``) and counters end in ``_total``. No label ever carries a resident's
id or any other unbounded value: routes are labelled by their template, devices (validators,
tills) by their fleet id, reasons by their stable code. The names and what they mean are
listed in ``docs/runbook.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from kgo_runtime.collector import PauseCollector

if TYPE_CHECKING:
    from faststream.kafka.prometheus import KafkaPrometheusMiddleware

PREFIX = "kgo_"
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Latency buckets for commands someone waits on (a till, a validator): 1 ms to 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

#: Problem codes that mean a presented secret did not match (a guess or a typo), by the kind
#: of secret. A rise in one of these is where an attack shows first.
CODE_FAILURES = {
    "payment_code_invalid": "payment_code",
    "pin_incorrect": "pin",
    "card_locked": "pin",  # further tries on a card locked by wrong PINs
    "card_invalid": "card",
    "card_unknown": "card",
    "code_incorrect": "one_time_code",
    "code_attempts_exhausted": "one_time_code",
    "check_in_code_invalid": "check_in_code",
    "transit_pass_invalid": "transit_pass",
    "receive_code_invalid": "receive_code",
}


def _name(name: str) -> str:
    return name if name.startswith(PREFIX) else PREFIX + name


class Reading:
    """A gauge without labels that exports no sample until it is first set: a figure that
    only the process measuring it knows, where a 0 from another process of the service
    would read as a measurement (the wallet's supply, measured beside the directory in the
    background process, while its HTTP processes have nothing to say: a 0 there would show
    the supply as not conserved)."""

    def __init__(self, name: str, documentation: str) -> None:
        self._name, self._documentation = name, documentation
        self._value: float | None = None

    def set(self, value: float) -> None:
        self._value = float(value)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self._name, self._documentation)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._documentation)
        if self._value is not None:
            family.add_metric([], self._value)
        yield family


class Metrics:
    """The process's registry and the runtime's metrics."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        if registry is None:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
            self.registry.register(PauseCollector())
        info = self.gauge("service_info", "The service this process runs.", ["service"])
        info.labels(service=service).set(1)

        self.relay_events = self.counter(
            "relay_events_total", "Events relayed from the event store to Kafka.", ["relay"]
        )
        self.relay_skipped = self.counter(
            "relay_internal_events_total",
            "Stored events the relay passed over because they are not published.",
            ["relay"],
        )
        self.relay_lag = self.gauge(
            "relay_lag_events",
            "Events stored but not yet published: max notification id minus the relay's "
            "stored position.",
            ["relay"],
        )
        self.relay_lag_seconds = self.gauge(
            "relay_lag_seconds",
            "How long the oldest stored but unpublished event has waited (0: caught up).",
            ["relay"],
        )
        self.relay_position = self.gauge(
            "relay_position", "The last notification id the relay delivered.", ["relay"]
        )
        self.relay_errors = self.counter(
            "relay_errors_total", "Relay batches that failed and will be retried.", ["relay"]
        )
        labels = ["consumer", "topic"]
        self.consumer_processed = self.counter(
            "consumer_processed_total", "Records whose effect was committed.", labels
        )
        self.consumer_duplicates = self.counter(
            "consumer_duplicates_total", "Records skipped as already processed.", labels
        )
        self.consumer_dead_lettered = self.counter(
            "consumer_dead_lettered_total",
            "Records sent to the dead-letter topic.",
            [*labels, "reason_code"],
        )
        self.consumer_retries = self.counter(
            "consumer_retries_total", "Transient failures that will be retried.", labels
        )
        self.consumer_lag = self.gauge(
            "consumer_lag_records",
            "Records not yet applied: high watermark minus the stored position.",
            [*labels, "partition"],
        )
        self.consumer_lag_seconds = self.gauge(
            "consumer_lag_seconds",
            "Age of the oldest record waiting on the partition, as far as the consumer knows "
            "it (the last one applied, or one held back for retry); 0 when caught up.",
            [*labels, "partition"],
        )
        self.projection_staleness = self.gauge(
            "projection_staleness_seconds",
            "How far a read model trails its topics (the consumer's largest lag in seconds).",
            ["consumer"],
        )
        #: Beside the topic's end offset, tells from outside that a consumer has caught up
        #: (the simulator's quiescence barrier; the lag's high watermark can be stale).
        self.consumer_position = self.gauge(
            "consumer_position",
            "The next offset the consumer will process.",
            [*labels, "partition"],
        )
        self.http_requests = self.counter(
            "http_requests_total", "HTTP requests served.", ["method", "route", "status"]
        )
        self.http_duration = self.histogram(
            "http_request_duration_seconds",
            "HTTP request latency.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
        )
        self.commands = self.counter(
            "commands_total",
            "Commands (HTTP writes) answered, by route template, outcome (accepted, replayed, "
            "refused, failed) and the problem's reason code (none when accepted).",
            ["command", "outcome", "reason_code"],
        )
        self.command_duration = self.histogram(
            "command_duration_seconds",
            "Time to answer a command, by route template and outcome.",
            ["command", "outcome"],
            buckets=LATENCY_BUCKETS,
        )
        self.code_failures = self.counter(
            "code_failures_total",
            "Presented secrets that did not match (payment code, PIN, card, one-time code, "
            "check-in code, transit pass, receive code), by kind.",
            ["kind"],
        )
        #: Labelled children already looked up (see http_series).
        self._http_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._command_series: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self.device_last_seen = self.gauge(
            "device_last_seen_timestamp_seconds",
            "When a device (a bus validator, a till) last called, Unix time.",
            ["kind", "device"],
        )

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(_name(name), documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(_name(name), documentation, labels, registry=self.registry)

    def reading(self, name: str, documentation: str) -> Reading:
        """A gauge without labels that is absent until set (:class:`Reading`)."""
        reading = Reading(_name(name), documentation)
        self.registry.register(reading)  # type: ignore[arg-type]
        return reading

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    ) -> Histogram:
        return Histogram(
            _name(name), documentation, labels, registry=self.registry, buckets=buckets
        )

    def http_series(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The request counter and latency histogram of one route and status, looked up once
        (``labels`` takes a lock and builds a key on every call; routes are templates and
        statuses few, so this cache stays small)."""
        key = (method, route, status)
        series = self._http_series.get(key)
        if series is None:
            series = (
                self.http_requests.labels(method, route, str(status)),
                self.http_duration.labels(method, route),
            )
            self._http_series[key] = series
        return series

    def command_answered(
        self, command: str, status: int, code: str | None, replayed: bool, seconds: float
    ) -> None:
        """Count one answered command and, when its problem code means a secret that did not
        match, one code failure (replays are the same attempt again, not a new guess)."""
        if status >= 500:
            outcome = "failed"
        elif status >= 400:
            outcome = "refused"
        else:
            outcome = "replayed" if replayed else "accepted"
        reason = code or ("none" if status < 400 else f"http_{status}")
        key = (command, outcome, reason)
        series = self._command_series.get(key)
        if series is None:
            series = (
                self.commands.labels(command, outcome, reason),
                self.command_duration.labels(command, outcome),
            )
            self._command_series[key] = series
        series[0].inc()
        series[1].observe(seconds)
        if code in CODE_FAILURES and not replayed:
            self.code_failures.labels(CODE_FAILURES[code]).inc()

    def device_seen(self, kind: str, device: str, at: float | None = None) -> None:
        """Record that a device of the city's fleet (never a resident's) just called."""
        self.device_last_seen.labels(kind, device).set(at if at is not None else time.time())

    def watch_staleness(self, consumer: str, seconds: Callable[[], float]) -> None:
        """Report a read model's staleness, read at every scrape from ``seconds``."""
        self.projection_staleness.labels(consumer).set_function(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything in the registry."""
        return generate_latest(self.registry)

    def faststream_middleware(self) -> KafkaPrometheusMiddleware:
        """FastStream's Kafka middleware on this registry, for a service that adds a
        FastStream ``KafkaBroker`` (its metrics are prefixed ``kgo_faststream``)."""
        from faststream.kafka.prometheus import KafkaPrometheusMiddleware

        return KafkaPrometheusMiddleware(
            registry=self.registry, app_name=self.service, metrics_prefix="kgo_faststream"
        )
