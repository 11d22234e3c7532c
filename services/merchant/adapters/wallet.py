"""The wallet, over its HTTP API as ``service`` (:class:`kgo_runtime.wallet_client.WalletClient`),
behind the application's :class:`~services.merchant.application.ports.WalletPort`.

A refusal for good (a 4xx with a ``code``) becomes :class:`WalletRefused`; anything that
leaves the outcome unknown (no answer, 5xx, our own token refused, a route the wallet does not
serve yet) becomes :class:`WalletDown`: the caller retries later with the same key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import httpx

from kgo_runtime.logging import get_logger
from kgo_runtime.wallet_client import WalletClient, WalletUnavailable

from ..application.ports import PlacedHold, WalletDown, WalletRefused
from ..domain.authorisation import Authorisation, CardAndPin
from ..domain.ids import shop_payee_id

log = get_logger(__name__)

#: Answers that say nothing about the request itself.
_UNKNOWN_OUTCOME = {401, 403, 404, 405, 429}


class HttpWallet:
    def __init__(self, client: WalletClient) -> None:
        self.client = client

    async def _post(self, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        try:
            response = await self.client.post(path, body, idempotency_key=key)
        except WalletUnavailable as error:
            raise WalletDown(str(error)) from error
        return _answer(response, path)

    async def open_payee(self, shop_id: UUID, label: str, *, key: str) -> UUID:
        body = {"kind": "shop", "external_ref": str(shop_id), "label": label}
        try:
            return UUID(str((await self._post("/v1/payees", body, key))["account_id"]))
        except WalletRefused as refused:
            if refused.code != "already_exists":
                raise
        return shop_payee_id(shop_id)

    async def hold(
        self, *, payee: UUID, amount: int, reference: str, authorisation: Authorisation,
        wallet_id: UUID | None, key: str,
    ) -> PlacedHold:  # fmt: skip
        body: dict[str, Any] = {
            "payee_id": str(payee), "amount": amount, "reference": reference,
            "authorisation": _authorisation_body(authorisation),
        }  # fmt: skip
        if wallet_id is not None:
            body["wallet_id"] = str(wallet_id)
        answer = await self._post("/v1/holds", body, key)
        expires = answer.get("expires_at")
        return PlacedHold(
            UUID(str(answer["hold_id"])), UUID(str(answer["wallet_id"])),
            datetime.fromisoformat(expires) if expires else None,
        )  # fmt: skip

    async def capture(
        self, *, wallet_id: UUID, hold_id: UUID, payee: UUID, amount: int, key: str
    ) -> None:
        path = f"/v1/wallets/{wallet_id}/holds/{hold_id}/capture"
        await self._post(path, {"payee_id": str(payee), "amount": amount}, key)

    async def release(self, *, wallet_id: UUID, hold_id: UUID, payee: UUID, key: str) -> None:
        path = f"/v1/wallets/{wallet_id}/holds/{hold_id}/release"
        await self._post(path, {"payee_id": str(payee)}, key)

    async def refund(
        self, *, payee: UUID, wallet_id: UUID, amount: int, reference: str, key: str
    ) -> UUID:
        body = {"payee_id": str(payee), "wallet_id": str(wallet_id), "amount": amount,
                "reference": reference}  # fmt: skip
        return UUID(str((await self._post("/v1/refunds", body, key))["movement_id"]))

    async def reward(
        self, *, wallet_id: UUID, amount: int, reference: str, payee: UUID | None,
        programme: str | None, key: str,
    ) -> UUID:  # fmt: skip
        body: dict[str, Any] = {"wallet_id": str(wallet_id), "amount": amount,
                                "reference": reference}  # fmt: skip
        if payee is not None:
            body["payee_id"] = str(payee)
        else:
            body["programme"] = programme
        return UUID(str((await self._post("/v1/rewards", body, key))["movement_id"]))

    async def settle(
        self, *, payee: UUID, amount: int, programme: str, baht_satang: int,
        payment_reference: str, key: str,
    ) -> UUID:  # fmt: skip
        body = {"payee_id": str(payee), "amount": amount, "programme": programme,
                "baht_satang": baht_satang, "payment_reference": payment_reference}  # fmt: skip
        return UUID(str((await self._post("/v1/settlements", body, key))["movement_id"]))

    async def resolve_receive_code(self, code: str) -> UUID:
        # A read: the same code resolves to the same wallet, so any key will do.
        answer = await self._post("/v1/receive-codes/resolve", {"code": code}, f"resolve:{code}")
        return UUID(str(answer["wallet_id"]))


def _authorisation_body(authorisation: Authorisation) -> dict[str, str]:
    if isinstance(authorisation, CardAndPin):
        return {"kind": "card", "card_number": authorisation.card_number,
                "pin": authorisation.pin}  # fmt: skip
    return {"kind": "payment_code", "code": authorisation.code}


def _answer(response: httpx.Response, path: str) -> dict[str, Any]:
    status = response.status_code
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if status < 300:
        return body
    code = str(body.get("code", ""))
    if (status in _UNKNOWN_OUTCOME and code not in _REFUSALS) or status >= 500 or not code:
        log.warning("wallet answer leaves the outcome unknown", path=path, status=status,
                    code=code)  # fmt: skip
        raise WalletDown(f"{status} {code}")
    left = body.get("attempts_left")
    attempts_left = left if isinstance(left, int) and not isinstance(left, bool) else None
    raise WalletRefused(code, str(body.get("detail", "")), status, attempts_left)


#: Refusals the wallet answers with a status that could also mean "not served here".
_REFUSALS = {
    "receive_code_invalid", "account_not_found", "hold_not_found", "wrong_payee",
    "card_locked", "card_invalid", "payment_code_invalid",
}  # fmt: skip
