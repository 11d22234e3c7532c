"""Prometheus metrics: one :class:`Metrics` (one ``CollectorRegistry``) per service process.

The service builds it in its lifespan and serves ``registry`` at ``/metrics``. The runtime's
own metrics (relay, consumer, HTTP) are created here once; a service adds its domain metrics
with :meth:`Metrics.counter`, :meth:`Metrics.gauge` and :meth:`Metrics.histogram` on the same
registry. Every name starts with ``kgo_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

if TYPE_CHECKING:
    from faststream.kafka.prometheus import KafkaPrometheusMiddleware

PREFIX = "kgo_"
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def _name(name: str) -> str:
    return name if name.startswith(PREFIX) else PREFIX + name


class Metrics:
    """The process's registry and the runtime's metrics."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        if registry is None:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
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
            "relay_lag", "Max notification id minus the relay's stored position.", ["relay"]
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
            "consumer_lag", "High watermark minus the stored position.", [*labels, "partition"]
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
            "http_request_duration_seconds", "HTTP request latency.", ["method", "route"]
        )

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(_name(name), documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(_name(name), documentation, labels, registry=self.registry)

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
