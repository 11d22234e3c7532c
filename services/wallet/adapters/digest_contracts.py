"""The digest chain's stored events on the wire: each closed day becomes ``DayClosed`` on the
digests topic; every other stored event goes through the ledger's own mapping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kgo_contracts.base import ContractEvent
from kgo_contracts.digests import DayClosed
from kgo_runtime.relay import ToContract

from ..domain.digest_chain import DigestChain


def with_digests(to_contract: ToContract, *, published: bool = True) -> ToContract:
    """``to_contract`` that also knows the digest chain (``published=False``: this wallet has
    no digests topic, its closed days stay internal)."""

    def mapped(event: Any) -> ContractEvent | None:
        if isinstance(event, DigestChain.DayClosed):
            if not published:
                return None
            return DayClosed.model_validate(
                {**event.body, "digest_sha256": event.digest_sha256, "signature": event.signature}
            )
        if isinstance(event, DigestChain.Event):
            return None
        return to_contract(event)

    return mapped


def digest_topic_for(ledger_topic: str, digests_topic: str | None) -> Callable[[Any], str]:
    """The relay's ``topic_for``: digests to their topic, everything else to the ledger's."""

    def topic_for(contract: Any) -> str:
        if isinstance(contract, DayClosed) and digests_topic:
            return digests_topic
        return ledger_topic

    return topic_for
