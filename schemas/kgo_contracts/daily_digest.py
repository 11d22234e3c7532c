"""The daily digest: the reference implementation of the algorithm in ``schemas/README.md``
("Daily digests"). Standard library only, on decoded JSON payloads, like ``fold.py``: the
wallet computes each day's digest with it, ``kgo audit verify`` checks them with it, and a
city system may copy it as it is (signatures are checked by a callable you pass in).

A day covers an explicit range of the wallet's stored-log positions (``from_position`` to
``to_position``, inclusive; every record of ``kgo.wallet.events`` carries its position in
the ``kgo_position`` header). Its records, in position order, each give one canonical line;
``records_sha256`` is the SHA-256 of those lines, each followed by a newline. A record that
reaches Kafka late (an offline tap uploaded days after, a republished batch) keeps the
position it was stored at, so it always belongs to the same day.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

ALGORITHM = "kgo-daily-digest-1"
#: ``previous_digest_sha256`` of the first day.
GENESIS = "0" * 64
#: The Kafka header carrying a record's position in its publisher's stored log.
POSITION_HEADER = "kgo_position"
#: The payload members that are not part of the signed body.
UNSIGNED = ("digest_sha256", "signature")

_SUMS: dict[str, str] = {
    "kgo.wallet.SupplyMinted": "minted",
    "kgo.wallet.CoinsGranted": "granted",
    "kgo.wallet.ShortfallCompensated": "fare_shortfalls",
    "kgo.wallet.RefundPaid": "voided",
    "kgo.wallet.RewardPaid": "rewarded",
    "kgo.wallet.SettlementPaid": "settled",
}
_PAYMENT_TOTAL = {"shop": "spent_at_shops", "operator": "fares"}
#: The change of the coins on hold, per unit of ``amount``.
_HELD: dict[str, int] = {
    "kgo.wallet.CoinsHeld": 1,
    "kgo.wallet.HoldCaptured": -1,
    "kgo.wallet.HoldReleased": -1,
    "kgo.wallet.HoldExpired": -1,
}


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    if isinstance(value, float):
        raise TypeError("a canonical KGO payload has no floating-point numbers")
    return value


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON: object members sorted by name, no whitespace, members whose value is null
    left out, non-ASCII characters as themselves (only ``"``, ``\\`` and control characters
    escaped), integers in decimal."""
    text = json.dumps(
        _without_nulls(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text.encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class LedgerRecord:
    """One record of ``kgo.wallet.events``: its position, ``ce_type``, key and payload."""

    position: int
    ce_type: str
    key: str
    payload: Mapping[str, Any]

    @cached_property
    def line(self) -> bytes:
        """The canonical line: ``{"key","payload","position","type"}`` in canonical JSON."""
        record = {
            "key": self.key,
            "payload": dict(self.payload),
            "position": self.position,
            "type": self.ce_type,
        }
        return canonical_json(record)


def records_sha256(records: Iterable[LedgerRecord]) -> tuple[int, str]:
    """How many records, and the SHA-256 of their lines (each + ``\\n``), in the given order."""
    digest, count = hashlib.sha256(), 0
    for record in records:
        digest.update(record.line + b"\n")
        count += 1
    return count, digest.hexdigest()


def held_change(ce_type: str, payload: Mapping[str, Any]) -> int:
    return _HELD.get(ce_type.rsplit(".", 1)[0], 0) * int(payload.get("amount") or 0)


def day_totals(records: Iterable[LedgerRecord], held_before: int) -> dict[str, Any]:
    """The totals of a day's records; ``held_before`` is the previous day's ``held_at_close``."""
    totals: dict[str, Any] = dict.fromkeys(
        ("minted", "granted", "spent_at_shops", "fares", "fare_shortfalls", "voided",
         "rewarded", "settled", "settled_baht_satang"), 0,
    )  # fmt: skip
    by_programme: dict[str, int] = {}
    held = held_before
    for record in records:
        name, payload = record.ce_type.rsplit(".", 1)[0], record.payload
        amount = int(payload.get("amount") or 0)
        held += held_change(record.ce_type, payload)
        if name in _SUMS:
            totals[_SUMS[name]] += amount
        if name == "kgo.wallet.CoinsGranted":
            programme = str(payload.get("programme"))
            by_programme[programme] = by_programme.get(programme, 0) + amount
        elif name == "kgo.wallet.SettlementPaid":
            totals["settled_baht_satang"] += int(payload.get("baht_satang") or 0)
        elif name == "kgo.wallet.PaymentReceived" and payload.get("account_kind") in _PAYMENT_TOTAL:
            totals[_PAYMENT_TOTAL[str(payload["account_kind"])]] += amount
    totals["granted_by_programme"] = dict(sorted(by_programme.items()))
    totals["held_at_close"] = held
    return totals


def body_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The signed body of a digest: its payload without ``digest_sha256`` and ``signature``."""
    return {k: v for k, v in payload.items() if k not in UNSIGNED}


def digest_sha256(body: Mapping[str, Any]) -> str:
    return sha256_hex(canonical_json(dict(body)))


def key_id(raw_public_key: bytes) -> str:
    """A signing key's id: the first 16 hex digits of SHA-256 of its raw 32 bytes."""
    return sha256_hex(raw_public_key)[:16]


def next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def recompute(records: list[LedgerRecord], held_before: int) -> dict[str, Any]:
    """What a day's records give: ``record_count``, ``records_sha256`` and ``totals``."""
    count, sha = records_sha256(records)
    return {"record_count": count, "records_sha256": sha,
            "totals": day_totals(records, held_before)}  # fmt: skip


def day_body(
    day: str,
    previous: Mapping[str, Any] | None,
    records: list[LedgerRecord],
    *,
    to_position: int,
    key: str,
    closed_at: str,
) -> dict[str, Any]:
    """The body of ``day``'s digest: ``previous`` is the previous day's body (None on the
    first day); ``records`` are the ledger records stored at positions after its
    ``to_position`` up to ``to_position``, in position order."""
    first = 1 if previous is None else int(previous["to_position"]) + 1
    held_before = 0 if previous is None else int(previous["totals"]["held_at_close"])
    return {
        "algorithm": ALGORITHM,
        "day": day,
        "from_position": first,
        "to_position": to_position,
        **recompute(records, held_before),
        "previous_digest_sha256": GENESIS if previous is None else digest_sha256(previous),
        "key_id": key,
        "closed_at": closed_at,
    }


# --- verification ----------------------------------------------------------------------------

_UNREADABLE = (KeyError, TypeError, ValueError, AttributeError)
#: Checks a digest's signature; returns a problem (text) or None when it is good.
SignatureCheck = Callable[[Mapping[str, Any]], "str | None"]


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    #: Days whose records were recomputed.
    days_checked: list[str] = field(default_factory=list)
    #: Days whose digest (hash, chain, signature) was checked.
    digests: int = 0
    records: int = 0
    #: Records after the last digest's range: the day still open.
    uncovered: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _distinct_digests(payloads: Iterable[Mapping[str, Any]], out: Verification) -> dict[str, Any]:
    by_day: dict[str, Mapping[str, Any]] = {}
    for payload in payloads:
        day = payload.get("day")
        if not isinstance(day, str):
            out.problems.append("a digest record has no day")
            continue
        seen = by_day.setdefault(day, payload)
        if canonical_json(dict(seen)) != canonical_json(dict(payload)):
            out.problems.append(f"{day}: two different digests were published for this day")
    return dict(sorted(by_day.items()))


def _distinct_records(records: Iterable[LedgerRecord], out: Verification) -> list[LedgerRecord]:
    by_position: dict[int, LedgerRecord] = {}
    for record in records:
        try:
            record.line  # noqa: B018 - a record that has no canonical line is refused here
        except _UNREADABLE as error:
            out.problems.append(f"position {record.position}: unreadable record ({error!r})")
            continue
        seen = by_position.setdefault(record.position, record)
        if seen.line != record.line:
            out.problems.append(f"position {record.position}: two different ledger records")
        if record.position < 1:
            out.problems.append(f"position {record.position}: not a stored-log position")
    out.records = len(by_position)
    return [by_position[p] for p in sorted(by_position)]


def _check_digest(
    day: str,
    payload: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    check_signature: SignatureCheck,
) -> list[str]:
    body = body_of(payload)
    problems = []
    if body.get("algorithm") != ALGORITHM:
        problems.append(f"{day}: unknown algorithm {body.get('algorithm')!r}")
    if payload.get("digest_sha256") != digest_sha256(body):
        problems.append(f"{day}: digest_sha256 does not match the digest's content")
    signature_problem = check_signature(payload)
    if signature_problem:
        problems.append(f"{day}: {signature_problem}")
    expected_first = 1 if previous is None else int(previous["to_position"]) + 1
    expected_previous = GENESIS if previous is None else digest_sha256(body_of(previous))
    if previous is not None and day != next_day(str(previous["day"])):
        problems.append(f"{day}: follows {previous['day']}; the days between have no digest")
    if body.get("previous_digest_sha256") != expected_previous:
        problems.append(f"{day}: previous_digest_sha256 does not chain to the day before")
    if body.get("from_position") != expected_first:
        problems.append(
            f"{day}: from_position {body.get('from_position')}, expected {expected_first}"
        )
    if int(body.get("to_position", -1)) < expected_first - 1:
        problems.append(f"{day}: to_position {body.get('to_position')} before its start")
    return problems


def _compare(day: str, body: Mapping[str, Any], recomputed: Mapping[str, Any]) -> list[str]:
    problems = []
    if body.get("record_count") != recomputed["record_count"]:
        problems.append(
            f"{day}: the digest counts {body.get('record_count')} records in positions "
            f"{body.get('from_position')}-{body.get('to_position')}, Kafka has "
            f"{recomputed['record_count']} (records missing or added)"
        )
    if body.get("records_sha256") != recomputed["records_sha256"]:
        problems.append(
            f"{day}: records_sha256 differs: a record of the day was changed, added, removed "
            "or reordered"
        )
    stated, computed = body.get("totals") or {}, recomputed["totals"]
    for name in sorted(set(stated) | set(computed)):
        if canonical_json(stated.get(name)) != canonical_json(computed.get(name)):
            problems.append(
                f"{day}: totals.{name}: the digest says {stated.get(name)}, "
                f"Kafka gives {computed.get(name)}"
            )
    return problems


def verify(
    digests: Iterable[Mapping[str, Any]],
    records: Iterable[LedgerRecord],
    check_signature: SignatureCheck,
    *,
    since: str | None = None,
    until: str | None = None,
) -> Verification:
    """Check every digest (content hash, chain, signature) and recompute the records and
    totals of the days from ``since`` to ``until`` (both inclusive, default: all)."""
    out = Verification()
    by_day = _distinct_digests(digests, out)
    ordered = _distinct_records(records, out)
    previous: Mapping[str, Any] | None = None
    held, index = 0, 0
    for day, payload in by_day.items():
        if until is not None and day > until:
            break
        out.digests += 1
        body = body_of(payload)
        try:
            out.problems += _check_digest(day, payload, previous, check_signature)
            last = int(body.get("to_position", 0))
            start = index
            while index < len(ordered) and ordered[index].position <= last:
                index += 1
            if since is None or day >= since:
                recomputed = recompute(ordered[start:index], held)
                out.problems += _compare(day, body, recomputed)
                out.days_checked.append(day)
                held = int(recomputed["totals"]["held_at_close"])
            else:
                held = int((body.get("totals") or {}).get("held_at_close", 0))
        except _UNREADABLE as error:  # a hostile or broken digest or record: say so, go on
            out.problems.append(f"{day}: the digest or its records cannot be read ({error!r})")
        previous = payload
    if until is None:
        out.uncovered = len(ordered) - index
    return out
