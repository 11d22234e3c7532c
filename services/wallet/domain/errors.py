"""Domain errors: a refused command, with a stable reason code and a sentence for humans."""

from __future__ import annotations


class Refused(Exception):
    """A command the rules refuse. ``code`` is stable and machine-readable; ``status`` is the
    HTTP status the edge maps it to."""

    code: str = "refused"
    status: int = 409

    def __init__(self, reason: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class InsufficientFunds(Refused):
    code = "insufficient_funds"
    status = 409


class AccountNotFound(Refused):
    code = "account_not_found"
    status = 404


class WrongAccountKind(Refused):
    code = "wrong_account_kind"
    status = 422


class AlreadyExists(Refused):
    code = "already_exists"
    status = 409


class HoldNotFound(Refused):
    code = "hold_not_found"
    status = 404


class HoldExpiredError(Refused):
    code = "hold_expired"
    status = 409


class IdempotencyConflict(Refused):
    code = "idempotency_key_reused"
    status = 409


class WalletErased(Refused):
    code = "wallet_erased"
    status = 409
