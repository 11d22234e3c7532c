"""The wallet, as transit's :class:`~services.transit.application.ports.WalletPort`: HTTP
calls as ``service`` through :class:`kgo_runtime.wallet_client.WalletClient`, each with an
idempotency key derived from transit's own id for the thing (trip, settlement).

A refusal (4xx with a problem ``code``) is an answer; no answer, a 5xx or a token problem is
:class:`WalletUnreachable`, which the caller may retry with the same key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import httpx

from kgo_runtime.logging import get_logger
from kgo_runtime.wallet_client import WalletClient, WalletUnavailable
from services.wallet.domain.ids import payee_id

from ..application.ports import FareAsk, Moved, Refused, WalletAnswer, WalletUnreachable

log = get_logger(__name__)

CARD_NUMBER = re.compile(r"^[0-9]{16}$")


def operator_account_id(external_ref: str) -> UUID:
    """The bus operator's account id at the wallet: deterministic from transit's own ref."""
    return payee_id("operator", external_ref)


class HttpWallet:
    def __init__(self, client: WalletClient) -> None:
        self.client = client
        #: False once the wallet answered that it has no batch of spends (an older wallet):
        #: fares are then asked one request each.
        self.batches = True

    async def _post(self, path: str, body: dict[str, Any], key: str) -> httpx.Response:
        try:
            response = await self.client.post(path, body, idempotency_key=key)
        except WalletUnavailable as error:
            raise WalletUnreachable(str(error)) from error
        if response.status_code >= 500 or response.status_code in (401, 403):
            log.warning("wallet call failed", path=path, status=response.status_code)
            raise WalletUnreachable(f"{path}: {response.status_code} {response.text[:200]}")
        return response

    async def _moved(self, path: str, body: dict[str, Any], key: str) -> WalletAnswer:
        response = await self._post(path, body, key)
        answer = _json(response)
        if response.status_code in (200, 201):
            wallet_id = answer.get("wallet_id")
            return Moved(UUID(answer["movement_id"]), UUID(wallet_id) if wallet_id else None)
        return Refused(
            str(answer.get("code", f"http_{response.status_code}")), answer.get("detail", "")
        )

    async def open_operator(self, external_ref: str, label: str) -> UUID:
        body = {"kind": "operator", "external_ref": external_ref, "label": label}
        response = await self._post("/v1/payees", body, f"transit:payee:{external_ref}")
        answer = _json(response)
        if response.status_code in (200, 201):
            return UUID(answer["account_id"])
        if response.status_code == 409 and answer.get("code") == "already_exists":
            return operator_account_id(external_ref)  # deterministic: no need to fetch it
        raise WalletUnreachable(f"opening the operator's account: {response.status_code} {answer}")

    async def spend_fare(
        self, *, operator_id: UUID, amount: int, reference: str, pass_token: str, key: str
    ) -> WalletAnswer:
        body = _fare_body(operator_id, FareAsk(amount, reference, pass_token, key))
        return await self._moved("/v1/spends", body, key)

    async def spend_fares(
        self, *, operator_id: UUID, fares: Sequence[FareAsk]
    ) -> list[WalletAnswer | None]:
        """One ``POST /v1/spends/batch`` for ``fares`` (at most 100): each item is the
        ``POST /v1/spends`` of its key, so a fare asked here and again alone is one fare."""
        if not fares:
            return []
        if not self.batches:
            return await self._one_by_one(operator_id, fares)
        body = {"spends": [_fare_body(operator_id, fare) | {"idempotency_key": fare.key}
                           for fare in fares]}  # fmt: skip
        try:
            response = await self.client.request("POST", "/v1/spends/batch", json=body)
        except WalletUnavailable as error:
            log.warning("wallet batch call failed", error=str(error))
            return [None] * len(fares)
        if response.status_code in (404, 405):
            self.batches = False
            return await self._one_by_one(operator_id, fares)
        if response.status_code in (400, 413, 422):  # one fare the wallet would not read
            log.warning("wallet refused a batch whole", status=response.status_code)
            return await self._one_by_one(operator_id, fares)  # each its own answer
        results = _json(response).get("results")
        if not (response.status_code == 200 and isinstance(results, list)) or len(results) != len(
            fares
        ):
            log.warning("wallet batch call failed", status=response.status_code)
            return [None] * len(fares)
        return [_answer_of(result) for result in results]

    async def _one_by_one(
        self, operator_id: UUID, fares: Sequence[FareAsk]
    ) -> list[WalletAnswer | None]:
        answers: list[WalletAnswer | None] = []
        for fare in fares:
            try:
                answer = await self.spend_fare(operator_id=operator_id, amount=fare.amount,
                    reference=fare.reference, pass_token=fare.pass_token, key=fare.key)  # fmt: skip
                answers.append(answer)
            except WalletUnreachable:
                answers.append(None)
        return answers

    async def cover_shortfall(
        self,
        *,
        programme: str,
        operator_id: UUID,
        wallet_id: UUID,
        amount: int,
        reference: str,
        key: str,
    ) -> WalletAnswer:
        body = {
            "programme": programme,
            "payee_id": str(operator_id),
            "wallet_id": str(wallet_id),
            "amount": amount,
            "reference": reference,
        }
        answer = await self._moved("/v1/shortfalls", body, key)
        if isinstance(answer, Moved):
            return Moved(answer.movement_id, wallet_id)
        return answer

    async def resolve_pass(self, pass_token: str) -> UUID | None:
        """A card number resolves at the wallet; a QR pass token does not (yet): None, and
        a baht-only tap of a pass transit never saw paid in coins is ``pass_unknown``."""
        if not CARD_NUMBER.match(pass_token):
            return None
        try:
            response = await self.client.request(
                "POST", "/v1/receive-codes/resolve", json={"card_number": pass_token}
            )
        except WalletUnavailable as error:
            raise WalletUnreachable(str(error)) from error
        if response.status_code == 200:
            return UUID(_json(response)["wallet_id"])
        if response.status_code >= 500:
            raise WalletUnreachable(f"resolve: {response.status_code}")
        return None

    async def settle(
        self,
        *,
        operator_id: UUID,
        amount: int,
        programme: str,
        baht_satang: int,
        payment_reference: str,
        key: str,
    ) -> WalletAnswer:
        body = {
            "payee_id": str(operator_id),
            "amount": amount,
            "programme": programme,
            "baht_satang": baht_satang,
            "payment_reference": payment_reference,
        }
        return await self._moved("/v1/settlements", body, key)


def _fare_body(operator_id: UUID, fare: FareAsk) -> dict[str, Any]:
    return {
        "payee_id": str(operator_id),
        "amount": fare.amount,
        "reference": fare.reference,
        "authorisation": {"kind": "transit_pass", "pass": fare.pass_token},
    }


def _answer_of(result: object) -> WalletAnswer | None:
    """One item of a batch's ``results``: moved, refused (a 4xx with its code), or None (not
    decided: a 5xx, or an item that does not read)."""
    if not isinstance(result, dict):
        return None
    status = result.get("status")
    if status in (200, 201) and result.get("movement_id"):
        wallet_id = result.get("wallet_id")
        return Moved(UUID(str(result["movement_id"])), UUID(str(wallet_id)) if wallet_id else None)
    if isinstance(status, int) and 400 <= status < 500 and status not in (401, 403):
        return Refused(str(result.get("code") or f"http_{status}"), str(result.get("detail") or ""))
    return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
