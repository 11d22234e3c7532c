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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kgo_runtime.clock import SharedClock, set_shared_time
from kgo_runtime.settings import InfraSettings

from . import bus, operators, residents
from .barrier import Quiescence, Seen
from .claims import SIGNUP_REWARD, WELCOME, Claim, cut, day_claims, shop_sources
from .http import Api, Endpoints, Refused
from .plan import Action, City, CityConfig, DayPlan, idempotency_key
from .setup import setup
from .state import CityState, Session, SmsOutbox, Totals

__all__ = ["Endpoints", "Simulator", "gini"]
TERMS_DEFAULT = "kgo-terms-2026-01"


@dataclass
class ResidentDay:
    """One resident's actions of a day, run in one wave or, when its own grants would
    compete for a budget's last coins, in several."""

    actions: list[Action]
    done: int = 0  # actions run so far
    part: int = 0  # waves it ran in so far
    session: Session | None = None
    purse: residents.Purse | None = None
    welcome: bool = False  # signed up today with a welcome the budget pays (not yet seen)

    @property
    def left(self) -> int:
        return len(self.actions) - self.done


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
        #: What this simulator's barriers have seen of the platform (see barrier.py).
        self._seen = Seen()
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
        return Quiescence(
            lambda: self.api.http, list(self.urls.all().values()), self.bootstrap, self._seen
        )

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
        """The day's residents in waves (``claims.cut``): within a wave every grant that
        may be paid fits in its budget, so it is paid whatever the order; a resident whose
        own grants would compete runs the rest of its day in the next wave."""
        days: dict[int, ResidentDay] = {}
        for action in plan.actions:
            assert action.resident is not None
            days.setdefault(action.resident, ResidentDay([])).actions.append(action)
        self.matching = shop_sources(
            [a for a in plan.actions if a.kind == "earn"], await self._shop_balances(plan)
        )
        limit = asyncio.Semaphore(self.concurrency)
        declined: set[int] = set()

        def claims(resident: int, k: int) -> list[Claim]:
            day = days[resident]
            steps = day.actions[day.done : day.done + k]
            return day_claims(steps, self.state.of(resident), self.matching)

        async def one(resident: int, k: int, welcome: bool) -> None:
            async with limit:
                day = days[resident]
                steps = day.actions[day.done : day.done + k]
                day.done += k
                await self.resident_steps(plan, resident, day, steps, welcome, declined)
                day.part += 1

        def steps(resident: int) -> int:
            """A sign-up runs alone: the rest of the day waits until its welcome landed."""
            day = days[resident]
            return 1 if day.done == 0 and day.actions[0].kind == "signup" else day.left

        pending = sorted(days)
        while pending:
            available = await self.budgets()
            welcome = available.get(WELCOME, 0) >= SIGNUP_REWARD
            wave = cut([(r, steps(r)) for r in pending], claims, available)
            if wave[-1][1] < steps(wave[-1][0]):
                self.totals.add("resident_days_split")
            await asyncio.gather(*(one(r, k, welcome) for r, k in wave))
            pending = [r for r in pending if days[r].left > 0]
            if pending:  # the next wave weighs its claims against what this one left
                await self.quiet()
        # Sign-ups that did nothing else today: their app shows the welcome once it landed.
        unseen = [r for r in sorted(days) if days[r].welcome]
        if unseen:
            await self.quiet()
            await asyncio.gather(*(self._welcome_seen(r, limit) for r in unseen))

    async def _welcome_seen(self, resident: int, limit: asyncio.Semaphore) -> None:
        async with limit:
            try:
                residents.welcomed(
                    self, await residents.balance(self, self.state.sessions[resident])
                )
            except Refused as error:
                self.totals.refuse("session", error.code)

    async def _shop_balances(self, plan: DayPlan) -> dict[int, int]:
        shops = sorted({a.shop for a in plan.actions if a.kind == "earn" and a.shop is not None})
        out = {}
        for shop in shops:
            account = await self.api.call(
                "GET", f"{self.urls.wallet}/v1/wallets/{self.shop_payees[shop]}", token=self.admin
            )
            out[shop] = int(account["available"])
        return out

    async def resident_steps(
        self,
        plan: DayPlan,
        resident: int,
        day: ResidentDay,
        steps: list[Action],
        welcome: bool,
        declined: set[int],
    ) -> None:
        """Some of a resident's actions of the day, in order (``day`` keeps its session and
        what its app showed at the start of the day between waves)."""
        try:
            if steps[0].kind == "signup":
                if await residents.signup(self, plan, steps[0]):
                    day.welcome = welcome
                    if not welcome:
                        self.totals.refuse("welcome", "budget_exhausted")
                else:
                    day.done = len(day.actions)
                return  # the rest of the day in a later wave (steps)
            # A fresh access token for each part of the day (a wave may last long).
            day.session = await residents.session(self, plan, resident, day.part)
            if day.purse is None:
                day.purse = residents.Purse(await residents.balance(self, day.session))
                if day.welcome:
                    residents.welcomed(self, day.purse.available)
                    day.welcome = False
        except Refused as error:
            self.totals.refuse("session", error.code)
            day.done = len(day.actions)
            return
        session, purse = day.session, day.purse
        for action in steps:
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
