"""From the wallet's stored domain events to the published contracts on kgo.wallet.events.

Account events map one to one onto the contracts of the same name; receipts and identity
claims are internal and never published (personal data stays in the wallet), and so are
the consent instruments (codes, cards, transit passes: their hashes and PIN hashes stay too).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import TopicError, resolve_topic

from kgo_contracts import wallet as contracts
from kgo_contracts.base import ContractEvent

from ..domain.account import Account
from ..domain.identity import IdentityClaim, ResidentRecord
from ..domain.instruments import Card, ShortCode, TransitPass
from ..domain.receipt import CommandReceipt

_BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}
_BY_NAME: dict[str, type[contracts.WalletEvent]] = {
    cls.__name__: cls for cls in contracts.WALLET_EVENTS
}


#: Aggregates whose events stay in the wallet.
_INTERNAL = (
    CommandReceipt.Event,
    IdentityClaim.Event,
    ResidentRecord.Event,
    ShortCode.Event,
    Card.Event,
    TransitPass.Event,
)


def is_internal_topic(topic: str) -> bool:
    """Whether events stored under ``topic`` stay in the wallet (``to_contract`` gives None
    for all of them): the relay passes them without decoding them."""
    try:
        cls = resolve_topic(topic)
    except TopicError:
        return False  # decoded and mapped as usual: an unknown kind still fails loudly there
    return isinstance(cls, type) and issubclass(cls, _INTERNAL)


def to_contract(event: Any) -> ContractEvent | None:
    """The published contract for a stored wallet event, or None for an internal one. An
    event of any other kind is a programming error: it must never pass unpublished."""
    if isinstance(event, _INTERNAL):
        return None
    if not isinstance(event, Account.Event):
        raise TypeError(f"no contract mapping for stored event {type(event).__qualname__}")
    fields = {k: v for k, v in event.__dict__.items() if k not in _BASE_FIELDS}
    if isinstance(event, Account.Opened):
        fields["account_kind"] = fields.pop("kind")
        name = "AccountOpened"
    else:
        name = type(event).__name__
    contract = _BY_NAME[name]
    return contract.model_validate(
        {**fields, "account_id": event.originator_id, "account_version": event.originator_version}
    )


def published_history(ledger: Any, account_id: Any) -> list[dict[str, Any]]:
    """An account's records as ``kgo.wallet.events`` carries them (``type`` is the ce_type),
    oldest first, read from the event store."""
    history = []
    for event in ledger.events.get(account_id):
        contract = to_contract(event)
        if contract is not None:
            history.append({"type": contract.ce_type(), **contract.model_dump(mode="json")})
    return history
