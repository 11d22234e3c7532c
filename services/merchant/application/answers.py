"""What the application answers: typed results the HTTP edge turns into bodies and statuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..domain.circulation import Reward, Settlement
from ..domain.redemption import Redemption
from ..domain.shops import Shop


class TillLocked(Exception):
    """The till guessed too many payment codes, cards or PINs; it may try again after
    ``retry_after``."""

    code = "till_locked"

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"too many wrong payment codes, cards or PINs; retry after {retry_after:.0f} s"
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class Answer:
    """A finished command's answer: ``ok`` (its body) or declined (``code`` in the body)."""

    status: int
    body: dict[str, Any]
    replayed: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status < 400

    def again(self) -> Answer:
        return Answer(self.status, self.body, True, self.headers)


#: Declines answered with another status than 409 (the wallet's own for a locked card).
DECLINE_STATUS = {"card_locked": 423}


def shop_body(shop: Shop) -> dict[str, Any]:
    facts, rules = shop.facts, shop.rules
    return {
        "shop_id": str(shop.id),
        "payee_account_id": str(shop.payee_account_id),
        "name": facts.name,
        "category": str(facts.category),
        "district": facts.district,
        "latitude": facts.latitude,
        "longitude": facts.longitude,
        "size_class": str(facts.size_class),
        "status": shop.status,
        "rules": rules.as_fields(),
        "enrolled_at": shop.enrolled_at.isoformat(),
    }


def _opt(value: object | None) -> str | None:
    return None if value is None else str(value)


def redemption_answer(r: Redemption, *, replayed: bool = False) -> Answer:
    body: dict[str, Any] = {
        "redemption_id": str(r.id),
        "shop_id": str(r.shop_id),
        "status": r.status,
        "bill_satang": r.bill_satang,
        "coins": r.coins,
        "discount_satang": r.discount_satang,
        "to_pay_satang": r.bill_satang - r.discount_satang,
        "wallet_id": _opt(r.wallet_id),
        "hold_id": _opt(r.hold_id),
    }
    if r.status == "declined":
        body |= {"code": r.reason_code, "reason": r.reason}
        if r.attempts_left is not None:
            body["attempts_left"] = r.attempts_left
        return Answer(DECLINE_STATUS.get(str(r.reason_code), 409), body, replayed)
    if r.redeemed_at is not None:
        body["redeemed_at"] = r.redeemed_at.isoformat()
    if r.voided_at is not None:
        body |= {"voided_at": r.voided_at.isoformat(), "void_movement_id": _opt(r.void_movement_id)}
    if r.status in ("started", "held"):
        return Answer(503, body | {"code": "in_progress", "reason": "retry with the same key"},
                      replayed, {"Retry-After": "1"})  # fmt: skip
    return Answer(201 if r.status == "redeemed" else 200, body, replayed)


def operation_answer(op: Reward | Settlement, *, replayed: bool = False) -> Answer:
    body: dict[str, Any] = {"shop_id": str(op.shop_id), "status": op.status, "coins": op.coins,
                            "movement_id": _opt(op.movement_id)}  # fmt: skip
    if isinstance(op, Reward):
        body |= {"reward_id": str(op.id), "wallet_id": str(op.wallet_id), "source": op.source,
                 "programme": op.programme}  # fmt: skip
    else:
        body |= {"settlement_id": str(op.id), "baht_satang": op.baht_satang,
                 "payment_reference": op.payment_reference, "programme": op.programme}  # fmt: skip
    if op.status == "declined":
        return Answer(409, body | {"code": op.reason_code, "reason": "the wallet refused"},
                      replayed)  # fmt: skip
    if op.status == "started":
        return Answer(503, body | {"code": "in_progress", "reason": "retry with the same key"},
                      replayed, {"Retry-After": "1"})  # fmt: skip
    return Answer(201, body, replayed)
