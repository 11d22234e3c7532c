"""Carries the city's plan out through the platform's public HTTP APIs, day by day, on the
shared business clock. No database or Kafka writes: residents, shops, the bus operator and
the programme operators are all API clients here (the quiescence barrier reads the
services' ``/metrics`` and the topics' end offsets).

A day: the operators at 05:00; at 07:00 the residents, concurrently, in waves whose grants
the budgets can pay whatever the order (``claims``), the platform left to react between
waves; at 20:00 the offline validators' uploads and the festival; on Sundays at 22:00 the
settlements. Shops and buses go through the merchant and transit services' APIs when those
offer them; otherwise (or with ``direct=True``) through the wallet's consent routes as the
``service`` role those services use themselves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from kgo_runtime.clock import SharedClock, set_shared_time
from kgo_runtime.settings import InfraSettings

from . import bus, operators, residents
from .barrier import Quiescence
from .claims import day_claims, fits, shop_sources, waves
from .http import Api, Endpoints, Refused
from .plan import Action, City, CityConfig, DayPlan, idempotency_key
from .setup import setup
from .state import CityState, SmsOutbox, Totals

__all__ = ["Endpoints", "Simulator", "gini"]
TERMS_DEFAULT = "kgo-terms-2026-01"


class Simulator:
    def __init__(
        self,
        config: CityConfig,
        home: Path,
        endpoints: Endpoints | None = None,
        *,
        concurrency: int = 16,
        direct: bool | None = None,
        progress: Callable[[str], None] | None = None,
        kafka_bootstrap: str | None = None,
    ) -> None:
        self.config, self.city, self.home = config, City(config), home
        self.urls = endpoints or Endpoints()
        self.concurrency, self.direct, self.progress = concurrency, direct, progress
        self.bootstrap = kafka_bootstrap or InfraSettings().kafka_bootstrap
        self.clock_path = home / "clock.json"
        self.clock = SharedClock(self.clock_path)
        self.outbox = SmsOutbox(home / "outbox" / "sms.jsonl")
        self.state = CityState(config.seed, config.residents, home)
        self.api = Api(concurrency)
        self.barrier: Quiescence | None = None
        self.admin = self.service = self.operator = ""
        self.shop_payees: dict[int, str] = {}
        self.shop_ids: dict[int, str] = {}  # merchant's shop ids
        self.tills: dict[int, str] = {}  # till secrets
        self.validators: dict[tuple[int, int], str] = {}  # (bus, door) -> credential
        self.batches: dict[tuple[int, int], list[tuple[Action, dict[str, Any]]]] = {}
        self.offline: list[tuple[DayPlan, Action, str]] = []  # direct mode's offline taps
        self.bus_payee = ""
        self.activities: dict[str, tuple[str, str]] = {}  # name -> (activity_id, code)
        self.matching: dict[tuple[str, int], int] = {}  # today's rewards the city pays
        self.terms = TERMS_DEFAULT
        self._dirty = True
        self.measured_from = (time.monotonic(), 0)
        self._programmes: list[str] = []

    # ------------------------------------------------------------------ what others read
    @property
    def totals(self) -> Totals:
        return self.state.totals

    @property
    def wallets(self) -> dict[int, str]:
        return self.state.wallets

    @property
    def events(self) -> int:
        return self.api.commands

    @property
    def requests(self) -> int:
        return self.api.requests

    @property
    def timings(self) -> dict[str, list[float]]:
        return self.api.timings

    def load_state(self) -> int:
        return self.state.load()

    def key(self, plan: DayPlan, actor: str, n: int, step: str = "") -> str:
        return idempotency_key(self.config.seed, plan.index, actor, n, step)

    def set_time(self, at: datetime) -> None:
        """Moves the shared business clock forward (never back)."""
        if self.clock.now() < at:
            set_shared_time(self.clock_path, at)

    def _commanded(self) -> None:
        self.totals.add("commands")
        self._dirty = True

    async def quiet(self) -> None:
        """Until the platform has reacted to every command so far (see ``barrier``);
        at once when none was sent since the last time."""
        assert self.barrier is not None
        if not self._dirty:
            return
        if not await self.barrier.wait():
            self.totals.refuse("platform", "not_quiet")
        self._dirty = False

    def _barrier(self) -> Quiescence:
        return Quiescence(lambda: self.api.http, list(self.urls.all().values()), self.bootstrap)

    async def settled(self, timeout: float = 120.0) -> bool:
        """Waits (outside ``run``) until the platform has reacted to everything."""
        barrier = self._barrier()
        try:
            return await barrier.wait(timeout)
        finally:
            await barrier.close()
            await self.api.close()

    async def budgets(self) -> dict[str, int]:
        """What each budget holds, from the ledger's committed state (the list route reads
        the wallet's directory, a read model that may trail the ledger)."""
        if not self._programmes:
            answer = await self.api.call("GET", f"{self.urls.wallet}/v1/budgets", token=self.admin)
            self._programmes = sorted(b["programme"] for b in answer.get("budgets", []))
        out = {}
        for programme in self._programmes:
            budget = await self.api.call(
                "GET", f"{self.urls.wallet}/v1/budgets/{programme}", token=self.admin
            )
            out[programme] = int(budget["available"])
        return out

    # ------------------------------------------------------------------ the days
    async def run(self, *, until: int | None = None, seconds: float | None = None) -> Totals:
        """Simulates the days from the saved state on, up to day ``until`` (exclusive), or
        until ``seconds`` of wall time have passed (checked between days)."""
        start = self.state.load()
        last = self.config.days if until is None else min(self.config.days, until)
        self.api.on_command = self._commanded
        self._dirty = True  # whatever ran before this simulator: wait for it once
        self.barrier = self._barrier()
        try:
            counted = self.totals.counts["commands"]
            await setup(self)  # repeated on resume: not counted
            self.totals.counts["commands"] = counted
            started, commands0 = time.monotonic(), self.api.commands
            self.measured_from = (started, commands0)  # after the set-up (the bench)
            for index in range(start, last):
                if seconds is not None and time.monotonic() - started > seconds:
                    break
                plan = self.city.plan(index)
                await self.run_day(plan)
                self.state.save(index + 1, self.config.shops, plan.day.isoformat())
                if self.progress:
                    rate = (self.api.commands - commands0) / max(1e-6, time.monotonic() - started)
                    bar = "#" * int((index + 1) / self.config.days * 30)
                    self.progress(
                        f"[{bar:<30}] day {index + 1}/{self.config.days} {plan.day}{' campaign' if plan.campaign else ''} · {self.api.commands:,} commands · {rate:.0f}/s"  # noqa: E501
                    )
        finally:
            await self.barrier.close()
            await self.api.close()
        return self.totals

    async def run_day(self, plan: DayPlan) -> None:
        self.set_time(plan.at(5))
        await self.quiet()  # yesterday's reactions have landed: today starts the same
        if plan.operators.publish_missions:
            await operators.publish_missions(self, plan)
        if plan.operators.activity:
            await operators.schedule_activity(self, plan)
        self.set_time(plan.at(7))
        await self.residents(plan)
        self.set_time(plan.at(20))
        await bus.upload_offline(self, plan)
        if plan.operators.festival:
            await operators.festival(self, plan)
        if plan.operators.settle:
            await self.quiet()  # refills only once every grant of the day is decided
            self.set_time(plan.at(22))
            await operators.settle(self, plan)

    async def residents(self, plan: DayPlan) -> None:
        by_resident: dict[int, list[Action]] = {}
        for action in plan.actions:
            assert action.resident is not None
            by_resident.setdefault(action.resident, []).append(action)
        self.matching = shop_sources(
            [a for a in plan.actions if a.kind == "earn"], await self._shop_balances(plan)
        )
        units = [
            (r, day_claims(a, self.state.of(r), self.matching))
            for r, a in sorted(by_resident.items())
        ]
        limit = asyncio.Semaphore(self.concurrency)
        declined: set[int] = set()

        async def one(resident: int, available: dict[str, int], claims: list[Any]) -> None:
            async with limit:
                welcome = fits(claims, available).get("welcome", True)
                await self.resident_day(plan, by_resident[resident], welcome, declined)

        while units:
            available = await self.budgets()
            wave, units_left = waves(units, available)
            claims = dict(units)
            await asyncio.gather(*(one(r, available, claims[r]) for r in wave))
            units = units_left
            if units:  # the next wave weighs its claims against what this one left
                await self.quiet()

    async def _shop_balances(self, plan: DayPlan) -> dict[int, int]:
        shops = sorted({a.shop for a in plan.actions if a.kind == "earn" and a.shop is not None})
        out = {}
        for shop in shops:
            account = await self.api.call(
                "GET", f"{self.urls.wallet}/v1/wallets/{self.shop_payees[shop]}", token=self.admin
            )
            out[shop] = int(account["available"])
        return out

    async def resident_day(
        self, plan: DayPlan, actions: list[Action], welcome: bool, declined: set[int]
    ) -> None:
        first = actions[0]
        assert first.resident is not None
        try:
            if first.kind == "signup":
                if not await residents.signup(self, plan, first, welcome):
                    return
                actions = actions[1:]
            if not actions:
                return
            session = await residents.session(self, plan, first.resident)
            purse = residents.Purse(await residents.balance(self, session))
        except Refused as error:
            self.totals.refuse("session", error.code)
            return
        for action in actions:
            try:
                if action.kind == "ride":
                    await bus.ride(self, plan, action, session, purse, declined)
                elif action.kind == "pay":
                    await residents.pay(self, plan, action, session, purse)
                elif action.kind == "earn":
                    await residents.earn(self, plan, action, session)
                elif action.kind == "check_in":
                    await residents.check_in(self, plan, action, session)
            except Refused as error:
                self.totals.refuse(action.kind, error.code)

    # ------------------------------------------------------------------ the summary
    async def summary(self) -> dict[str, Any]:
        """Totals plus what the wallet holds now: residents' balances and their Gini."""
        self.admin = (self.home / "secrets" / "admin.token").read_text().strip()
        balances = []
        try:
            for index in sorted(self.wallets):
                wallet = await self.api.call(
                    "GET", f"{self.urls.wallet}/v1/wallets/{self.wallets[index]}", token=self.admin
                )
                balances.append(int(wallet["available"]) + int(wallet.get("held", 0)))
            budgets = await self.budgets()
        finally:
            await self.api.close()
        counts = self.totals.counts
        held = sum(balances)
        spent = counts["coins_spent_at_shops"] + counts["ride_coins"]
        granted = held + spent - counts["shop_reward_coins"]
        return {
            "residents": len(balances),
            "coins_granted": granted,
            "coins_spent": spent,
            "coins_settled": counts["coins_settled"],
            "coins_held_by_residents": held,
            "rides_in_coins": counts["rides_coins"],
            "rides_in_baht_only": counts["rides_baht_only"],
            "ride_baht": counts["ride_baht_satang"] / 100,
            "redemptions": counts["redemptions"],
            "refusals": dict(sorted(self.totals.refusals.items())),
            "gini": round(gini(balances), 4),
            "budgets": budgets,
            "totals": self.totals.as_dict(),
        }


def gini(values: list[int]) -> float:
    if not values or sum(values) == 0:
        return 0.0
    ordered = sorted(values)
    n = len(ordered)
    weighted = sum((i + 1) * v for i, v in enumerate(ordered))
    return (2 * weighted) / (n * sum(ordered)) - (n + 1) / n
