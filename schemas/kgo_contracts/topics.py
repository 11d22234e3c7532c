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
#: The signed daily digests of the ledger, published by the wallet: the one topic meant for
#: anyone (the ledger topics are for trusted city systems).
DIGESTS: Final = "kgo.public.digests"
#: Every topic a KGO service publishes on.
PUBLISHED_TOPICS: Final[tuple[str, ...]] = (*EVENT_TOPICS, DIGESTS)
#: The publishing service of each topic.
PUBLISHER: Final[dict[str, str]] = {
    **{t: t.split(".")[1] for t in EVENT_TOPICS},
    DIGESTS: "wallet",
}
DLQ_SUFFIX: Final = ".dlq"


def dlq(topic: str) -> str:
    """The dead-letter sibling of an event topic."""
    return topic + DLQ_SUFFIX


ALL_TOPICS: Final[tuple[str, ...]] = PUBLISHED_TOPICS + tuple(dlq(t) for t in PUBLISHED_TOPICS)
