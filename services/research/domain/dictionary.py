"""The data dictionary's rules: which columns a table has, their types, units and meanings.

Event tables take their columns from the event contracts (``kgo_contracts``): a contract is the
one place a field is defined, so a new contract gets its table and its dictionary entries
without a change here. Fields a contract leaves undescribed get their meaning from
``FIELD_MEANINGS`` (one entry per field name, shared by every event that uses it).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Union
from uuid import UUID

from pydantic import AwareDatetime, BaseModel

from kgo_contracts.base import ContractEvent

from .pseudonyms import PSEUDONYM_NOTE, PSEUDONYMISED_FIELDS, PUBLIC_ID_FIELDS, WITHHELD_FIELDS

ColumnType = Literal["string", "int64", "float64", "bool", "timestamp", "date", "json"]
TableKind = Literal["event", "read_model"]
TIME_UNIT = "Asia/Bangkok time"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType
    unit: str
    meaning: str
    pseudonymised: bool = False


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    kind: TableKind
    description: str
    columns: tuple[Column, ...]
    ce_type: str | None = None

    @property
    def file(self) -> str:
        folder = "events" if self.kind == "event" else "read_models"
        return f"{folder}/{self.name}"

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


ENVELOPE_COLUMNS: tuple[Column, ...] = (
    Column(
        "ce_id",
        "string",
        "",
        "The event's id: a keyed hash of its CloudEvents id (wallet records' ids derive from "
        "the account id), unique per event and the same in every export made with one key.",
        pseudonymised=True,
    ),
    Column("ce_time", "timestamp", TIME_UNIT, "Business time of the event (CloudEvents time)."),
    Column("topic", "string", "", "The Kafka topic the record was read from."),
    Column("partition", "int64", "", "The Kafka partition of the record."),
    Column("offset", "int64", "", "The record's offset in its partition."),
)

#: Meanings of fields the contracts leave undescribed, by field name.
FIELD_MEANINGS: dict[str, str] = {
    "account_kind": "Kind of account: issuer, municipality, budget, resident, shop or operator.",
    "account_id": "The account this record is about.",
    "activity_id": "The municipal activity.",
    "amount": "Coins moved (or refused) by this record.",
    "available_after": "The account's available coins right after this record.",
    "held_after": "The account's held coins right after this record.",
    "baht_satang": "Baht paid or due, in satang.",
    "bill_satang": "The whole bill, in satang.",
    "bus_id": "The bus.",
    "totals": "A closed day's totals in coins (minted, granted and by programme, spent at "
    "shops, fares, voided, settled, held at close), as its signed digest states them.",
    "campaign": "The campaign the record counts toward.",
    "campaign_id": "The fare campaign.",
    "category": "The shop's category.",
    "check_in_id": "One resident's check-in at an activity.",
    "code": "A short public code of the mission or activity (not a check-in code).",
    "coins": "Coins involved in this record.",
    "counter_account_id": "The other account of the movement (payer or payee).",
    "counter_account_kind": "Kind of the other account of the movement.",
    "daily_cap": "Most coin rides per pass per Bangkok day.",
    "description_en": "The mission's description in English.",
    "description_th": "The mission's description in Thai.",
    "discount_satang": "What the coins took off the bill, in satang.",
    "district": "The shop's district (amphoe) in Khon Kaen province.",
    "ends_at": "When it ends.",
    "expires_at": "When the hold expires (or expired).",
    "external_ref": "The owning service's id for a shop or bus operator.",
    "fare_product": "The fare product of the tap.",
    "hold_id": "The hold of coins on the resident's wallet.",
    "label": "A public label of the account or thing.",
    "latitude": "The shop's latitude.",
    "longitude": "The shop's longitude.",
    "memo": "A treasury memo.",
    "method": "How the check-in was recorded: with the code, or by an operator.",
    "mission_id": "The mission.",
    "mission_revision": "The mission's revision.",
    "movement_id": "The movement in the wallet (shared by its two legs).",
    "occurred_at": "When the fact happened (business time).",
    "offline": "True if the tap reached transit in a validator's offline batch.",
    "operator_account_id": "The bus operator's wallet account.",
    "payee_account_id": "The wallet account of the payee (shop or bus operator).",
    "payment_reference": "The programme's reference of the baht payment.",
    "period": "The period a mission's limit applies to.",
    "programme": "The programme (budget) concerned.",
    "purpose": "Why treasury coins moved: genesis, allocation or return.",
    "reason": "The reason given, as a code or short text (never personal data).",
    "reason_code": "A stable code for why it was refused or declined.",
    "redemption_id": "The redemption at a shop.",
    "reference": "The calling system's reference (e.g. a redemption, trip or completion id).",
    "requested_reward": "The reward before a campaign cap cut it.",
    "resident_account_id": "The resident the grant was for.",
    "revision": "The revision number.",
    "reward": "The reward in coins.",
    "reward_id": "The shop's reward.",
    "rider_account_id": "The rider's wallet.",
    "route_id": "The bus route.",
    "rule": "The mission's rule, as JSON.",
    "settlement_id": "The settlement.",
    "shop_id": "The shop (the merchant service's id; public).",
    "source": "Where the reward's coins came from: the shop or a matching budget.",
    "starts_at": "When it starts.",
    "tap_id": "The validator's id for the tap.",
    "title_en": "Title in English.",
    "title_th": "Title in Thai.",
    "total_supply": "The fixed supply of coins.",
    "trip_id": "The trip (one tap that paid or was declined).",
    "validator_id": "The validator (card and QR reader) on the bus.",
    "wallet_id": "The resident's wallet.",
}

COIN_FIELDS = frozenset(
    {
        "amount",
        "available_after",
        "held_after",
        "available",
        "coins",
        "reward",
        "requested_reward",
        "total_supply",
        "shortfall",
        "shortfall_covered",
    }
)


def unit_of(name: str, column_type: ColumnType) -> str:
    if column_type == "timestamp":
        return TIME_UNIT
    if name.endswith("_satang"):
        return "satang"
    if name in COIN_FIELDS or name.startswith("coins"):
        return "coins"
    if name in ("latitude", "longitude"):
        return "degrees"
    if name.endswith("_m"):
        return "metres"
    return ""


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap_optional(args[0])
    if origin is typing.Annotated:
        return _unwrap_optional(typing.get_args(annotation)[0])
    return annotation


def column_type_of(annotation: Any) -> ColumnType:
    """The Arrow-level type of a contract field's annotation."""
    inner = _unwrap_optional(annotation)
    if typing.get_origin(inner) is Literal:
        values = typing.get_args(inner)
        if all(isinstance(v, bool) for v in values):
            return "bool"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return "int64"
        return "string"
    if not isinstance(inner, type):
        return "json"
    if issubclass(inner, bool):
        return "bool"
    if issubclass(inner, int):
        return "int64"
    if issubclass(inner, float):
        return "float64"
    if issubclass(inner, (datetime, AwareDatetime)):
        return "timestamp"
    if issubclass(inner, (str, UUID)):
        return "string"
    if issubclass(inner, BaseModel):
        return "json"
    return "json"


KEYED_NOTE = (
    " Keyed hash (i-...): such ids can derive from a wallet id; joins within and across "
    "exports made with one key still hold."
)
TEXT_NOTE = " Any id inside is keyed like the id columns."
FREE_TEXT_FIELDS = frozenset({"reference", "memo", "reason", "payment_reference", "cut_reason"})


def _is_uuid(annotation: Any) -> bool:
    inner = _unwrap_optional(annotation)
    return isinstance(inner, type) and issubclass(inner, UUID)


def meaning_of(name: str, description: str | None) -> str:
    return description or FIELD_MEANINGS.get(name, "")


def event_table_name(ce_type: str) -> str:
    """``kgo.wallet.CoinsGranted.v1`` -> ``wallet.CoinsGranted.v1``."""
    return ce_type.removeprefix("kgo.")


def event_table(contract: type[ContractEvent]) -> TableSpec:
    columns = list(ENVELOPE_COLUMNS)
    for name, field in contract.model_fields.items():
        if name in WITHHELD_FIELDS:
            continue
        column_type = column_type_of(field.annotation)
        pseudonymised = name in PSEUDONYMISED_FIELDS
        meaning = meaning_of(name, field.description)
        if _is_uuid(field.annotation) and not pseudonymised and name not in PUBLIC_ID_FIELDS:
            pseudonymised = True
            meaning += KEYED_NOTE
        elif name in FREE_TEXT_FIELDS:
            meaning += TEXT_NOTE
        if pseudonymised and not meaning.endswith(KEYED_NOTE):
            meaning += PSEUDONYM_NOTE
            if name in ("account_id", "counter_account_id"):
                meaning += " (residents' accounts only; public accounts keep their id)"
        if not meaning_of(name, field.description):
            meaning = ""  # notes alone are no meaning: missing_meanings must see it
        columns.append(
            Column(name, column_type, unit_of(name, column_type), meaning, pseudonymised)
        )
    doc = " ".join((contract.__doc__ or contract.ce_type()).split())
    return TableSpec(
        name=event_table_name(contract.ce_type()),
        kind="event",
        description=f"One row per {contract.ce_type()} record. {doc}",
        columns=tuple(columns),
        ce_type=contract.ce_type(),
    )


def missing_meanings(tables: list[TableSpec]) -> list[str]:
    """``table.column`` of every column without a meaning (the dictionary must have none)."""
    return [f"{t.name}.{c.name}" for t in tables for c in t.columns if not c.meaning.strip()]
