"""Transit's domain errors: each carries a stable ``code`` the HTTP edge maps to a status."""

from __future__ import annotations


class TransitError(Exception):
    code: str = "transit_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(TransitError):
    code = "not_found"


class NotDenied(NotFound):
    code = "not_denied"


class AlreadyExists(TransitError):
    code = "already_exists"


class InvalidSchedule(TransitError):
    code = "invalid_schedule"


class IdempotencyConflict(TransitError):
    code = "idempotency_key_reused"


class WalletRefused(TransitError):
    """The wallet refused a command transit sent on someone's behalf (settlement...)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class WalletDown(TransitError):
    code = "wallet_unavailable"
