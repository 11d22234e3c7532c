"""The resident's authorisation a till presents: a one-time payment code, or a printed card
and its PIN (for residents without a smartphone). The wallet checks either; the merchant
only carries it to the wallet.

A payment code is kept on the redemption (single-use and worthless within two minutes), so a
restart can repeat the wallet's hold call exactly. A card number and PIN are never stored:
only the request in hand carries them (see ``application/redemptions.py`` for what that means
after a crash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

PAYMENT_CODE, CARD = "payment_code", "card"

#: Wallet refusals that are guesses at the till: each counts toward its lockout.
GUESSES = frozenset({"payment_code_invalid", "card_invalid", "pin_incorrect", "card_locked"})


@dataclass(frozen=True)
class PaymentCode:
    kind: ClassVar[str] = PAYMENT_CODE
    code: str


@dataclass(frozen=True)
class CardAndPin:
    kind: ClassVar[str] = CARD
    card_number: str = field(repr=False)
    pin: str = field(repr=False)


Authorisation = PaymentCode | CardAndPin
