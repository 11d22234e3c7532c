"""From the wallet's stored domain events to the published contracts on kgo.wallet.events.

Account events map one to one onto the contracts of the same name; receipts and identity
claims are internal and never published (personal data stays in the wallet), and so are
the consent instruments (codes, cards, transit passes: their hashes and PIN hashes stay too).

``read_stored`` is the same mapping for the relay, read from the stored JSON without building
the domain event first: the relay's largest cost was decoding each stored event into an
eventsourcing object (UUIDs, datetimes) only to take its fields apart again.
"""

from __future__ import annotations

from datetime import datetime
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    Notification,
    UUIDAsHex,
)
from eventsourcing.utils import TopicError, resolve_topic
from pydantic import ValidationError

from kgo_contracts import wallet as contracts
from kgo_contracts.base import ContractEvent
from kgo_runtime.relay import ReadStored, StoredReaders

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
    contract = _BY_NAME[_contract_name(type(event))]
    return contract.model_validate(
        {**fields, "account_id": event.originator_id, "account_version": event.originator_version}
    )


def _contract_name(cls: type[Account.Event]) -> str:
    return "AccountOpened" if issubclass(cls, Account.Opened) else cls.__name__


def read_stored(mapper: Mapper[Any]) -> StoredReaders | None:
    """The relay's direct reading of stored account events (``Relay(read_stored=...)``), or
    None where the stored state is not the plain JSON it expects (a cipher, a compressor,
    another transcoder)."""
    return _account_reader if stores_plain_json(mapper) else None


def stores_plain_json(mapper: Mapper[Any]) -> bool:
    """Whether ``mapper`` stores events' state as plain JSON, ids and times tagged as the
    JSON transcoder tags them (no cipher, no compressor), so that it can be read directly."""
    transcoder = mapper.transcoder
    if mapper.cipher is not None or mapper.compressor is not None:
        return False
    if not isinstance(transcoder, JSONTranscoder):
        return False
    names = transcoder.names
    return isinstance(names.get("uuid_hex"), UUIDAsHex) and isinstance(
        names.get("datetime_iso"), DatetimeAsISO
    )


def _account_reader(topic: str) -> ReadStored | None:
    """The reader of ``topic``'s stored events, or None: the relay decodes them as usual."""
    try:
        cls = resolve_topic(topic)
    except TopicError:
        return None
    if not (isinstance(cls, type) and issubclass(cls, Account.Event)):
        return None
    if getattr(cls, "class_version", 1) != 1:  # upcast on decoding: leave it to the mapper
        return None
    contract = _BY_NAME.get(_contract_name(cls))
    if contract is None:
        return None
    return _AccountReader(contract, opened=issubclass(cls, Account.Opened))


class _AccountReader:
    """``to_contract(mapper.to_domain_event(n))`` and the event's timestamp, from the stored
    JSON. What the domain event would hold is rebuilt field by field: datetimes as the
    transcoder decodes them (``datetime.fromisoformat``); ids, for fields that the contract
    types as UUIDs, left as their stored hex for pydantic to parse into the same UUID. Anything
    else (another tagged type, a nested value, an upcast, a value the contract refuses) returns
    None, and the relay takes the domain event path, which raises as it always did."""

    def __init__(self, contract: type[contracts.WalletEvent], *, opened: bool) -> None:
        self._validate = contract.model_validate
        self._opened = opened
        self._uuid_fields = frozenset(
            name for name, field in contract.model_fields.items() if _is_uuid(field.annotation)
        )

    def __call__(self, notification: Notification) -> tuple[ContractEvent, datetime] | None:
        try:
            state = orjson.loads(notification.state)
        except orjson.JSONDecodeError:
            return None
        stored_at = _datetime(state.pop("timestamp", None))
        if stored_at is None or "class_version" in state:
            return None
        fields: dict[str, Any] = {}
        for name, value in state.items():
            kind = type(value)
            if kind is dict:
                value = self._untag(name, value)
                if value is None:
                    return None
            elif kind is list:
                return None
            fields[name] = value
        fields.pop("originator_topic", None)
        if self._opened:
            if "kind" not in fields:
                return None
            fields["account_kind"] = fields.pop("kind")
        fields["account_id"] = notification.originator_id
        fields["account_version"] = notification.originator_version
        try:
            return self._validate(fields), stored_at
        except ValidationError:
            return None

    def _untag(self, name: str, value: dict[str, Any]) -> Any:
        if value.get("_type_") == "uuid_hex" and name in self._uuid_fields and len(value) == 2:
            data = value.get("_data_")
            return data if type(data) is str else None
        return _datetime(value)


def _datetime(tagged: Any) -> datetime | None:
    """A stored ``datetime_iso`` value as the transcoder decodes it, else None."""
    if type(tagged) is not dict or len(tagged) != 2 or tagged.get("_type_") != "datetime_iso":
        return None
    data = tagged.get("_data_")
    if type(data) is not str:
        return None
    try:
        return datetime.fromisoformat(data)
    except ValueError:  # the mapper says which event it could not decode
        return None


def _is_uuid(annotation: Any) -> bool:
    if annotation is UUID:
        return True
    if get_origin(annotation) in (Union, UnionType):
        return set(get_args(annotation)) == {UUID, NoneType}
    return False


def published_history(ledger: Any, account_id: Any) -> list[dict[str, Any]]:
    """An account's records as ``kgo.wallet.events`` carries them (``type`` is the ce_type),
    oldest first, read from the event store."""
    history = []
    for event in ledger.events.get(account_id):
        contract = to_contract(event)
        if contract is not None:
            history.append({"type": contract.ce_type(), **contract.model_dump(mode="json")})
    return history
