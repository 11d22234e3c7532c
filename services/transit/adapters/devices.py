"""Validators' device credentials (``kgo_val_...``): checked against the hash transit stores,
answered as a :class:`~kgo_runtime.access.Principal` for ``Authenticator.devices``.

A validator is role ``service`` (a city system calling transit), named ``validator:<id>``
with its id as the subject; its principal's ``token_id`` is the validator's aggregate id,
which no wallet API token can have, so routes for validators accept only these.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from kgo_runtime.access import Principal, Role

from ..application.admin import CREDENTIAL_PREFIX, credential_hash
from ..application.service import TransitApplication
from ..domain.ids import credential_key, validator_key
from ..domain.validator import Credential, Validator


class ValidatorDevices:
    def __init__(
        self,
        store: TransitApplication,
        *,
        cache_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        #: The validators behind recent credentials (bus and route of the taps they send).
        self.validators: dict[str, Validator] = {}

    async def __call__(self, token: str) -> Principal | None:
        if not token.startswith(CREDENTIAL_PREFIX):
            return None
        digest = credential_hash(token)
        now = self._monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        found = await asyncio.to_thread(self._lookup, digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (found, now + self._cache_seconds)
        return found

    def _lookup(self, digest: str) -> Principal | None:
        credential = self._store.find(credential_key(digest), Credential)
        if credential is None:
            return None
        validator = self._store.find(validator_key(credential.validator_id), Validator)
        if validator is None or validator.credential_hash != digest:
            return None  # rotated away
        self.validators[validator.validator_id] = validator
        return principal_of(validator)

    async def validator(self, principal: Principal) -> Validator | None:
        """The validator behind a principal this authenticator answered."""
        if not is_validator(principal):
            return None
        assert principal.subject is not None
        found = self.validators.get(principal.subject)
        if found is None:
            found = await asyncio.to_thread(self._store.find, principal.token_id, Validator)
        return found


def principal_of(validator: Validator) -> Principal:
    return Principal(
        validator.id, Role.SERVICE, f"validator:{validator.validator_id}", validator.validator_id
    )


def is_validator(principal: Principal) -> bool:
    return (
        principal.role == Role.SERVICE
        and principal.subject is not None
        and principal.token_id == validator_key(principal.subject)
    )
