"""Kafka topic names: the public addresses of KGO's event streams.

Every event topic has a ``.dlq`` sibling that receives records a consumer could not
process, with the reason in the ``kgo_dlq_reason`` header.
"""

from typing import Final

WALLET: Final = "kgo.wallet.events"
MISSIONS: Final = "kgo.missions.events"
MERCHANT: Final = "kgo.merchant.events"
TRANSIT: Final = "kgo.transit.events"

EVENT_TOPICS: Final[tuple[str, ...]] = (WALLET, MISSIONS, MERCHANT, TRANSIT)
DLQ_SUFFIX: Final = ".dlq"


def dlq(topic: str) -> str:
    """The dead-letter sibling of an event topic."""
    return topic + DLQ_SUFFIX


ALL_TOPICS: Final[tuple[str, ...]] = EVENT_TOPICS + tuple(dlq(t) for t in EVENT_TOPICS)
