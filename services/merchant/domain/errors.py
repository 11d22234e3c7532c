"""Merchant domain errors: each carries a stable ``code``; the HTTP edge maps codes to statuses."""

from __future__ import annotations


class MerchantError(Exception):
    """A command the rules refuse. ``code`` is stable and machine-readable."""

    code: str = "refused"

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code


class NotFound(MerchantError):
    code = "not_found"


class ShopNotFound(NotFound):
    code = "shop_not_found"


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"


class InvalidShop(MerchantError):
    """Enrolment or rule data that breaks a rule (unknown district, share above 100%...)."""

    code = "invalid_shop"


class ShopNotActive(MerchantError):
    code = "shop_suspended"


class AlreadyInState(MerchantError):
    code = "already_in_state"


class IdempotencyConflict(MerchantError):
    code = "idempotency_key_reused"


class InProgress(MerchantError):
    """Another request with the same key is being decided right now: retry shortly."""

    code = "in_progress"


class VoidRefused(MerchantError):
    code = "void_refused"
