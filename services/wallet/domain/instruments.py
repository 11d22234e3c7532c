"""Consent instruments: how a resident authorises coins to leave the wallet.

* A **payment code** (8 digits, about two minutes, single-use) the resident's phone shows at
  a till; it binds to the wallet that asked for it.
* A **card** printed at a municipal counter for residents without a smartphone: it pays at a
  shop with the resident's PIN (five wrong PINs in a row lock it) and rides the bus as a
  transit pass.
* A **transit pass** (a QR token) the resident links to the wallet: it pays the bus operator,
  nobody else.
* A **receive code** is no authorisation: it only tells a shop which wallet to pay into.

Secrets never reach the store: an instrument's id derives from a keyed hash (HMAC) of its
code, card number or pass, computed at the edge; a PIN is stored as a salted slow hash. None
of these aggregates is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from .errors import Refused
from .ids import kgo_id

#: Wrong PINs in a row that lock a card.
MAX_PIN_ATTEMPTS = 5


def instrument_id(kind: str, blind_index: str) -> UUID:
    """The id of a payment code, receive code, card or transit pass, from its keyed hash."""
    return kgo_id(f"instrument:{kind}:{blind_index}")


# --- refusals ----------------------------------------------------------------------------------


class PaymentCodeInvalid(Refused):
    code = "payment_code_invalid"


class PaymentCodeExpired(Refused):
    code = "payment_code_expired"


class PaymentCodeUsed(Refused):
    code = "payment_code_used"


class CardInvalid(Refused):
    code = "card_invalid"


class CardLocked(Refused):
    code = "card_locked"
    status = 423


class TransitPassInvalid(Refused):
    code = "transit_pass_invalid"


class CodeCollision(Refused):
    """A freshly drawn code equals a live one: the edge draws again."""

    code = "code_collision"


# --- authorisations, as the ledger receives them (keyed hashes, never the secrets) ------------


@dataclass(frozen=True)
class PaymentCodeAuthorisation:
    code_id: UUID


@dataclass(frozen=True)
class CardAuthorisation:
    card_id: UUID
    #: A keyed hash of card number and PIN: two requests with different PINs differ.
    pin_fingerprint: str


@dataclass(frozen=True)
class TransitPassAuthorisation:
    pass_id: UUID
    #: The same token read as a card number: a card rides the bus too.
    card_id: UUID


Authorisation = PaymentCodeAuthorisation | CardAuthorisation | TransitPassAuthorisation


# --- short-lived codes -------------------------------------------------------------------------

PAY, RECEIVE = "pay", "receive"


class ShortCode(Aggregate):
    """A short code bound to one wallet until it expires: a payment code (``pay``: one
    payment, once) or a receive code (``receive``: names the wallet to pay into, authorises
    nothing). Codes are few (10^8 per purpose), so a code that expired or was used is issued
    again to whoever draws it next: the same aggregate, a new ``Reissued`` event."""

    TOPIC = "kgo.wallet.ShortCode"

    class Created(Aggregate.Created):
        TOPIC = "kgo.wallet.ShortCode.Created"

    class Issued(Aggregate.Created):
        TOPIC = "kgo.wallet.ShortCode.Issued"
        purpose: str
        wallet_id: UUID
        expires_at: datetime
        occurred_at: datetime

    class Reissued(Aggregate.Event):
        TOPIC = "kgo.wallet.ShortCode.Reissued"
        wallet_id: UUID
        expires_at: datetime
        occurred_at: datetime

        def apply(self, aggregate: ShortCode) -> None:
            aggregate.wallet_id = self.wallet_id
            aggregate.expires_at = self.expires_at
            aggregate.used = False

    class Used(Aggregate.Event):
        TOPIC = "kgo.wallet.ShortCode.Used"
        movement_id: UUID
        occurred_at: datetime

        def apply(self, aggregate: ShortCode) -> None:
            aggregate.used = True

    def __init__(
        self, purpose: str, wallet_id: UUID, expires_at: datetime, occurred_at: datetime
    ) -> None:
        self.purpose = purpose
        self.wallet_id = wallet_id
        self.expires_at = expires_at
        self.used = False

    @classmethod
    def issue(
        cls, code_id: UUID, purpose: str, wallet_id: UUID, expires_at: datetime, at: datetime
    ) -> ShortCode:
        return cls._create(
            cls.Issued,
            id=code_id,
            purpose=purpose,
            wallet_id=wallet_id,
            expires_at=expires_at,
            occurred_at=at,
        )

    def is_live(self, at: datetime) -> bool:
        return not self.used and at < self.expires_at

    def reissue(self, wallet_id: UUID, expires_at: datetime, at: datetime) -> None:
        if self.is_live(at):
            raise CodeCollision("this code is in use; draw another")
        self.trigger_event(
            self.Reissued, wallet_id=wallet_id, expires_at=expires_at, occurred_at=at
        )

    def require_payable(self, at: datetime) -> None:
        """Refuse a used or expired payment code; checked before anything moves."""
        if self.purpose != PAY:
            raise PaymentCodeInvalid("no such payment code")
        if self.used:
            raise PaymentCodeUsed("this payment code was already used")
        if at >= self.expires_at:
            raise PaymentCodeExpired("this payment code has expired; ask for a new one")

    def use(self, movement_id: UUID, at: datetime) -> None:
        self.require_payable(at)
        self.trigger_event(self.Used, movement_id=movement_id, occurred_at=at)


# --- standing instruments ----------------------------------------------------------------------


class TransitPass(Aggregate):
    TOPIC = "kgo.wallet.TransitPass"

    class Created(Aggregate.Created):
        TOPIC = "kgo.wallet.TransitPass.Created"

    class Linked(Aggregate.Created):
        TOPIC = "kgo.wallet.TransitPass.Linked"
        wallet_id: UUID
        occurred_at: datetime

    class Unlinked(Aggregate.Event):
        TOPIC = "kgo.wallet.TransitPass.Unlinked"
        occurred_at: datetime

        def apply(self, aggregate: TransitPass) -> None:
            aggregate.linked = False

    def __init__(self, wallet_id: UUID, occurred_at: datetime) -> None:
        self.wallet_id = wallet_id
        self.linked = True

    @classmethod
    def link(cls, pass_id: UUID, wallet_id: UUID, at: datetime) -> TransitPass:
        return cls._create(cls.Linked, id=pass_id, wallet_id=wallet_id, occurred_at=at)

    def unlink(self, at: datetime) -> None:
        if self.linked:
            self.trigger_event(self.Unlinked, occurred_at=at)


class Card(Aggregate):
    """A printed card. The PIN is checked by whoever holds the slow hash (the edge, before the
    command); the card decides what a right or wrong PIN means: five wrong in a row lock it,
    a right one resets the count."""

    TOPIC = "kgo.wallet.Card"

    class Created(Aggregate.Created):
        TOPIC = "kgo.wallet.Card.Created"

    class Issued(Aggregate.Created):
        TOPIC = "kgo.wallet.Card.Issued"
        wallet_id: UUID
        pin_hash: str
        pin_salt: str
        occurred_at: datetime

    class PinRejected(Aggregate.Event):
        TOPIC = "kgo.wallet.Card.PinRejected"
        failed_attempts: int
        locked: bool
        occurred_at: datetime

        def apply(self, aggregate: Card) -> None:
            aggregate.failed_attempts = self.failed_attempts
            aggregate.locked = self.locked

    class PinAccepted(Aggregate.Event):
        TOPIC = "kgo.wallet.Card.PinAccepted"
        occurred_at: datetime

        def apply(self, aggregate: Card) -> None:
            aggregate.failed_attempts = 0

    def __init__(
        self, wallet_id: UUID, pin_hash: str, pin_salt: str, occurred_at: datetime
    ) -> None:
        self.wallet_id = wallet_id
        self.pin_hash = pin_hash
        self.pin_salt = pin_salt
        self.failed_attempts = 0
        self.locked = False

    @classmethod
    def issue(
        cls, card_id: UUID, wallet_id: UUID, *, pin_hash: str, pin_salt: str, at: datetime
    ) -> Card:
        return cls._create(
            cls.Issued,
            id=card_id,
            wallet_id=wallet_id,
            pin_hash=pin_hash,
            pin_salt=pin_salt,
            occurred_at=at,
        )

    def require_unlocked(self) -> None:
        if self.locked:
            raise CardLocked("this card is locked after too many wrong PINs; see a counter")

    def reject_pin(self, at: datetime) -> None:
        self.require_unlocked()
        attempts = self.failed_attempts + 1
        self.trigger_event(
            self.PinRejected,
            failed_attempts=attempts,
            locked=attempts >= MAX_PIN_ATTEMPTS,
            occurred_at=at,
        )

    def accept_pin(self, at: datetime) -> None:
        self.require_unlocked()
        if self.failed_attempts:
            self.trigger_event(self.PinAccepted, occurred_at=at)

    @property
    def attempts_left(self) -> int:
        return max(0, MAX_PIN_ATTEMPTS - self.failed_attempts)
