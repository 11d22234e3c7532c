"""Pseudonymisation and erasure of residents in an export.

Every resident's wallet id becomes ``HMAC-SHA256(key, wallet id)``, truncated to 128 bits and
written as ``p-<32 hex>``: the same resident gets the same pseudonym in every export made with
the same key (so two exports join), and nobody without the key can go back to the wallet id.
Public accounts (issuer, municipality, budgets, shops, the bus operator) keep their ids.

Residents are recognised by field semantics: ``account_id`` / ``counter_account_id`` whose
paired kind is ``resident``, and the fields that only ever hold a resident (``wallet_id``,
``resident_account_id``, ``rider_account_id``). Transit pass ids and digests are per-person
identifiers too, and are pseudonymised the same way. As a last guard, any resident id found
inside another text value (a reference, a memo) is replaced by its pseudonym there too.

Other ids are keyed as well (``i-<32 hex>``): KGO's services derive many ids from a wallet id
with ``uuid5`` in public namespaces (a mission completion is ``uuid5(wallet, mission,
period)``), so a raw id would let anyone holding a wallet id find its rows. Only the ids of
public things stay as they are: public accounts, shops, missions, activities, the network.
Every UUID in any text is treated the same way, so joins (a grant's ``reference`` and the
completion it pays) still hold, within an export and across exports made with one key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: A resident is erased: a future wallet event. Handled by its type name, before any contract.
ERASURE_TYPE = "kgo.wallet.ResidentErased.v1"
#: Fields that only ever hold a resident's wallet id.
RESIDENT_FIELDS = frozenset({"wallet_id", "resident_account_id", "rider_account_id"})
#: Account fields whose paired kind field says whether they hold a resident.
KIND_PAIRED = {"account_id": "account_kind", "counter_account_id": "counter_account_kind"}
#: Per-person tokens that are not wallet ids (a transit pass's pseudonymous id and digest).
PERSON_TOKEN_FIELDS = frozenset({"pass_id", "pass_digest"})
PSEUDONYMISED_FIELDS = RESIDENT_FIELDS | PERSON_TOKEN_FIELDS | frozenset(KIND_PAIRED)
#: Fields holding ids of public things, kept as they are.
PUBLIC_ID_FIELDS = frozenset(
    {"shop_id", "mission_id", "activity_id", "network_id", "operator_account_id",
     "payee_account_id", "external_ref"}
)  # fmt: skip
#: Fields no export carries (neither column nor value): a sign-up's day-keyed origins link
#: the residents who signed up from one device or network that day; they are there for the
#: integrity read model, not for research.
WITHHELD_FIELDS = frozenset({"origin_device", "origin_network"})
#: The fields naming the resident a record is about: such a record of an erased resident goes.
SUBJECT_FIELDS = frozenset({"wallet_id", "account_id", "pass_id", "pass_digest"})

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
PSEUDONYM_PREFIX = "p-"
KEYED_ID_PREFIX = "i-"
EVENT_ID_PREFIX = "e-"
PSEUDONYM_NOTE = " Pseudonymised: a keyed hash, the same in every export made with one key."
PSEUDONYM_NOTE_SHORT = " Pseudonymised (keyed hash)."
ERASED = "erased"


def key_id(key: bytes) -> str:
    """A public name for a key (its hash, domain-separated): audit records name the key by it."""
    return "k-" + hashlib.sha256(b"kgo-export-key-id:" + key).hexdigest()[:16]


def is_resident_value(name: str, payload: Mapping[str, Any]) -> bool:
    if name in RESIDENT_FIELDS:
        return True
    kind_field = KIND_PAIRED.get(name)
    return kind_field is not None and payload.get(kind_field) == "resident"


def public_ids(payloads: Iterable[Mapping[str, Any]]) -> set[str]:
    """Ids of public things named in ``payloads``: kept as they are in an export."""
    found: set[str] = set()
    for payload in payloads:
        for name, value in payload.items():
            if name in WITHHELD_FIELDS:
                continue
            if value is None:
                continue
            kind_field = KIND_PAIRED.get(name)
            if name in PUBLIC_ID_FIELDS or (
                kind_field is not None and payload.get(kind_field) not in (None, "resident")
            ):
                found.add(str(value).lower())
    return found


def resident_ids(payloads: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every resident wallet id named anywhere in ``payloads`` (lower-case text)."""
    found: set[str] = set()
    for payload in payloads:
        for name, value in payload.items():
            if value is not None and is_resident_value(name, payload):
                found.add(str(value).lower())
    return found


@dataclass
class Pseudonymiser:
    key: bytes
    residents: set[str]
    erased: set[str] = field(default_factory=set)
    public: set[str] = field(default_factory=set)
    _cache: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._mac = hmac.new(self.key, digestmod=hashlib.sha256)

    #: Pass ids and digests of erased residents (learnt from records naming both).
    erased_tokens: set[str] = field(default_factory=set)

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def _keyed(self, prefix: str, domain: bytes, raw: str) -> str:
        cache = self._cache.setdefault(prefix, {})
        found = cache.get(raw)
        if found is None:
            mac = self._mac.copy()
            mac.update(domain + raw.encode())
            found = cache[raw] = prefix + mac.hexdigest()[:32]
        return found

    def pseudonym(self, raw: str) -> str:
        return self._keyed(PSEUDONYM_PREFIX, b"", raw.lower())

    def identifier(self, raw: str) -> str:
        return self._keyed(KEYED_ID_PREFIX, b"id:", raw.lower())

    def event_id(self, ce_id: str) -> str:
        """An event's id in the export: keyed too, because a wallet record's CloudEvents id is
        computed from its account id and version (``uuid5`` in a public namespace), so the raw
        id would let anyone holding a wallet id find that wallet's rows."""
        return self._keyed(EVENT_ID_PREFIX, b"ce_id:", ce_id)

    def learn_erased_tokens(self, payloads: Iterable[Mapping[str, Any]]) -> None:
        for payload in payloads:
            if str(payload.get("wallet_id") or "").lower() in self.erased:
                for name in PERSON_TOKEN_FIELDS:
                    if payload.get(name):
                        self.erased_tokens.add(str(payload[name]).lower())

    def is_erased_subject(self, payload: Mapping[str, Any]) -> bool:
        """Whether the record is about an erased resident (it is left out of the export)."""
        for name in SUBJECT_FIELDS & payload.keys():
            value = str(payload[name] or "").lower()
            if name in PERSON_TOKEN_FIELDS:
                if value in self.erased_tokens:
                    return True
            elif value in self.erased and (
                name != "account_id" or is_resident_value(name, payload)
            ):
                return True
        return False

    def scrub_text(self, text: str) -> str:
        """``text`` with every resident id in it replaced by its pseudonym (or ``erased``)."""
        lowered = text.lower()
        if lowered in self.erased or lowered in self.erased_tokens:
            return ERASED
        if lowered in self.residents:
            return self.pseudonym(lowered)
        if lowered in self.public:
            return text
        return _UUID.sub(self._replace_uuid, text)

    def _replace_uuid(self, match: re.Match[str]) -> str:
        value = match.group(0).lower()
        if value in self.erased:
            return ERASED
        if value in self.residents:
            return self.pseudonym(value)
        if value in self.public:
            return match.group(0)
        return self.identifier(value)

    def scrub(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A record's fields with residents pseudonymised; erased residents named in another's
        record (a counterparty) become null."""
        result: dict[str, Any] = {}
        for name, value in payload.items():
            if name in WITHHELD_FIELDS:
                continue
            if value is None:
                result[name] = None
            elif name in PSEUDONYMISED_FIELDS and (
                name in PERSON_TOKEN_FIELDS or is_resident_value(name, payload)
            ):
                raw = str(value).lower()
                gone = raw in self.erased or raw in self.erased_tokens
                result[name] = None if gone else self.pseudonym(raw)
            elif name in PUBLIC_ID_FIELDS or (
                name in KIND_PAIRED and payload.get(KIND_PAIRED[name]) not in (None, "resident")
            ):
                result[name] = value  # a public account, shop, mission...: named as it is
            elif isinstance(value, str):
                result[name] = self.scrub_text(value)
            else:
                result[name] = value
        return result
