"""The relay's rate: stored wallet events read from the notification log and produced to a fresh
topic, held against the raw Kafka produce rate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application

from kgo_contracts.base import ContractEvent

from .raw import fresh_topic


@dataclass(frozen=True)
class RelayRun:
    notifications: int
    published: int
    seconds: float

    @property
    def rate(self) -> float:
        """Records produced to Kafka per second."""
        return self.published / self.seconds if self.seconds > 0 else 0.0


def relay_available() -> str | None:
    """None if ``kgo_runtime.relay`` can be used, else why not."""
    try:
        from kgo_runtime.relay import Relay  # noqa: F401
        from services.wallet.adapters.contracts import to_contract  # noqa: F401
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


async def relay_events(
    app: Application[Any], *, dsn: str, schema: str, bootstrap: str, notifications: int
) -> RelayRun:
    """Relay the first ``notifications`` stored events (at least) to a fresh topic."""
    from kgo_runtime.relay import Relay
    from services.wallet.adapters.contracts import to_contract

    published = 0

    def counting(event: Any) -> ContractEvent | None:
        nonlocal published
        contract = to_contract(event)
        published += contract is not None
        return contract

    async with fresh_topic(bootstrap, "relay") as topic:
        relay = Relay(
            app, counting, name="bench", source="/kgo/bench", kafka_bootstrap=bootstrap,
            db=dsn, schema=schema, topic_for=lambda _event: topic, batch_size=500,
        )  # fmt: skip
        async with relay:
            started = time.perf_counter()
            while relay.position < notifications and await relay.relay_once():
                pass
            seconds = time.perf_counter() - started
            return RelayRun(relay.position, published, seconds)
