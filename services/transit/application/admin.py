"""The operator's network, validators and settlements: administrative commands.

Each write runs under an idempotency receipt saved in the same transaction as its effect:
the same key with the same request answers the first answer again, another request 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from kgo_runtime.clock import Clock

from ..domain.errors import (
    AlreadyExists,
    IdempotencyConflict,
    NotDenied,
    NotFound,
    WalletDown,
    WalletRefused,
)
from ..domain.fares import Campaign
from ..domain.ids import receipt_key, settlement_key, validator_key
from ..domain.ledger import Receipt, Settlement
from ..domain.network import Bus, Route
from ..domain.passes import PassAccount
from ..domain.validator import Credential, Validator
from .ports import Moved, WalletPort, WalletUnreachable
from .service import TransitApplication

CREDENTIAL_PREFIX = "kgo_val_"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


Decision = tuple[int, dict[str, Any], list[Aggregate]]


def credential_hash(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def request_hash(command: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps([command, body], option=orjson.OPT_SORT_KEYS)).hexdigest()


class NetworkAdmin:
    def __init__(self, store: TransitApplication, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def once(
        self,
        scope: str,
        key: str,
        command: str,
        body: dict[str, Any],
        decide: Callable[[], Decision],
    ) -> Answer:
        """Run ``decide`` under the receipt of (``scope``, ``key``); its aggregates and the
        receipt are saved together."""
        return await asyncio.to_thread(self._once, scope, key, command, body, decide)

    def _once(
        self,
        scope: str,
        key: str,
        command: str,
        body: dict[str, Any],
        decide: Callable[[], Decision],
    ) -> Answer:
        receipt_id = receipt_key(scope, key)
        fingerprint = request_hash(command, body)
        for _ in range(2):
            found = self.store.find(receipt_id, Receipt)
            if found is not None:
                if found.request_hash != fingerprint:
                    raise IdempotencyConflict("this idempotency key was used for another request")
                return Answer(found.status, found.answer, replayed=True)
            status, answer, aggregates = decide()
            public = {k: v for k, v in answer.items() if k != "credential"}
            try:
                self.store.save(
                    *aggregates, Receipt.record(receipt_id, fingerprint, status, public)
                )
            except IntegrityError:
                continue  # the same key at once, or the thing was made meanwhile: look again
            return Answer(status, answer)
        raise AlreadyExists("made concurrently; retry")

    # --- decisions (run inside once) -------------------------------------------------------

    def open_route(self, route_id: str, name: str, length_km: float) -> Decision:
        network = self.store.network()
        network.open_route(Route(route_id, name, length_km), self.clock.now())
        return 201, {"route_id": route_id, "name": name, "length_km": length_km}, [network]

    def register_bus(self, bus_id: str, route_id: str) -> Decision:
        network = self.store.network()
        network.register_bus(Bus(bus_id, route_id), self.clock.now())
        return 201, {"bus_id": bus_id, "route_id": route_id}, [network]

    def schedule_campaign(self, campaign: Campaign) -> Decision:
        network = self.store.network()
        network.schedule(campaign, self.clock.now())
        return 201, campaign_answer(campaign), [network]

    def register_validator(self, validator_id: str, bus_id: str) -> Decision:
        bus = self.store.network().bus(bus_id)
        if self.store.find(validator_key(validator_id), Validator) is not None:
            raise AlreadyExists(f"validator {validator_id!r} exists")
        credential = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
        digest = credential_hash(credential)
        validator = Validator.register(
            validator_id, bus.bus_id, bus.route_id, digest, self.clock.now()
        )
        answer = validator_answer(validator) | {"credential": credential}
        return 201, answer, [validator, Credential.issue(digest, validator_id)]

    def rotate_credential(self, validator_id: str) -> Decision:
        validator = self.validator(validator_id)
        credential = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
        digest = credential_hash(credential)
        validator.rotate(digest, self.clock.now())
        answer = validator_answer(validator) | {"credential": credential}
        return 200, answer, [validator, Credential.issue(digest, validator_id)]

    def reinstate_pass(self, pass_id: UUID, reason: str) -> Decision:
        """Take a pass off the deny list (validators stop refusing it at their next download)
        and forgive the loss cover counted against it."""
        account = self.store.find(pass_id, PassAccount)
        if account is None or not account.denied:
            raise NotDenied("this pass is not on the deny list")
        forgiven, now = account.offline_shortfall, self.clock.now()
        account.reinstate(reason, now)
        deny_list = self.store.deny_list()
        deny_list.reinstate(account.pass_digest, reason, forgiven, now)
        body = {
            "pass_id": str(pass_id),
            "reason": reason,
            "forgiven_coins": forgiven,
            "deny_list_version": deny_list.version,
        }
        return 200, body, [account, deny_list]

    # --- reads -----------------------------------------------------------------------------

    def validator(self, validator_id: str) -> Validator:
        found = self.store.find(validator_key(validator_id), Validator)
        if found is None:
            raise NotFound(f"validator {validator_id!r} does not exist")
        return found


class Settlements:
    """The operator returns coins it received to a programme budget for the baht the
    programme pays it outside KGO; the baht and the payment reference are recorded."""

    def __init__(
        self, store: TransitApplication, wallet: WalletPort, clock: Clock, operator_id: UUID
    ) -> None:
        self.store = store
        self.wallet = wallet
        self.clock = clock
        self.operator_id = operator_id

    async def settle(
        self, *, programme: str, coins: int, baht_satang: int, payment_reference: str
    ) -> tuple[Settlement, bool]:
        """The settlement of ``payment_reference`` (made once; a retry finds it)."""
        settlement_id = settlement_key(payment_reference)
        found = await asyncio.to_thread(self.store.find, settlement_id, Settlement)
        if found is not None:
            same = (found.programme, found.coins, found.baht_satang) == (
                programme,
                coins,
                baht_satang,
            )
            if not same:
                raise IdempotencyConflict("this payment reference was settled with other figures")
            return found, True
        try:
            answer = await self.wallet.settle(
                operator_id=self.operator_id,
                amount=coins,
                programme=programme,
                baht_satang=baht_satang,
                payment_reference=payment_reference,
                key=f"transit:settlement:{settlement_id}",
            )
        except WalletUnreachable as error:
            raise WalletDown("the wallet did not answer; retry with the same request") from error
        if not isinstance(answer, Moved):
            raise WalletRefused(answer.code, answer.detail or "the wallet refused the settlement")
        settlement = Settlement.record(
            operator_account_id=self.operator_id,
            programme=programme,
            coins=coins,
            baht_satang=baht_satang,
            payment_reference=payment_reference,
            movement_id=answer.movement_id,
            at=self.clock.now(),
        )
        # IntegrityError: the same settlement recorded at once by another request.
        with contextlib.suppress(IntegrityError):
            await asyncio.to_thread(self.store.save, settlement)
        return settlement, False


def campaign_answer(campaign: Campaign) -> dict[str, Any]:
    return {
        "campaign_id": campaign.campaign_id,
        "starts_at": _iso(campaign.starts_at),
        "ends_at": _iso(campaign.ends_at),
        "coins": campaign.coins,
        "baht_satang": campaign.baht_satang,
        "programme": campaign.programme,
        "daily_cap": campaign.daily_cap,
    }


def validator_answer(validator: Validator) -> dict[str, Any]:
    return {
        "validator_id": validator.validator_id,
        "bus_id": validator.bus_id,
        "route_id": validator.route_id,
    }


def settlement_answer(settlement: Settlement) -> dict[str, Any]:
    return {
        "settlement_id": str(settlement.id),
        "programme": settlement.programme,
        "coins": settlement.coins,
        "baht_satang": settlement.baht_satang,
        "payment_reference": settlement.payment_reference,
        "movement_id": str(settlement.movement_id),
        "settled_at": _iso(settlement.occurred_at),
    }


def _iso(at: datetime) -> str:
    return at.isoformat()
