"""The merchant event-sourced application: its commands load aggregates, decide and save."""

from __future__ import annotations

from kgo_runtime.application import ServiceApplication


class MerchantApplication(ServiceApplication):
    """The merchant service's event store.

    ``name`` is pinned: it names the events table (``merchant_events``) and the prefix of the
    eventsourcing env keys (``MERCHANT_AGGREGATE_CACHE_MAXSIZE``...), so renaming the class never
    moves the data.
    """

    name = "merchant"
