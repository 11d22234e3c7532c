"""Carries the city's plan out through the platform's public HTTP APIs, day by day, on the
shared business clock. No database or Kafka writes: residents, shops, the bus operator and
the programme operators are all API clients here.

Shops and buses go through the merchant and transit services' APIs when those answer
``/readyz``; until then (or with ``direct=True``) through the wallet's consent routes as the
``service`` role that those services use themselves (payment codes and transit passes still
authorise every payment)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx

from kgo_runtime.clock import BANGKOK, SharedClock, set_shared_time

from .plan import Action, City, CityConfig, DayPlan, idempotency_key

_ROUTE = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|(?<=/)[0-9]{6,}")
TERMS_DEFAULT = "kgo-terms-2026-01"
BUS_OPERATOR_REF = "khon-kaen-city-bus"
#: Budgets that shop and bus settlements return coins to.
SHOP_SETTLEMENT_PROGRAMME = "welcome"
BUS_SETTLEMENT_PROGRAMME = "one-baht-bus-2022"
#: Satang the programme pays per settled coin: a shop's coin is a baht of discount; a bus
#: coin stands for the 14 baht of the fare the rider did not pay.
SHOP_SATANG_PER_COIN = 100
#: The merchant service's districts (the province's amphoe) and categories.
MERCHANT_DISTRICTS = ("Ban Phai", "Chum Phae", "Nam Phong", "Phon", "Ban Fang", "Kranuan")
MERCHANT_CATEGORY = {
    "food": "food_and_drink", "grocery": "grocery", "market stall": "market_stall",
    "pharmacy": "health_and_beauty", "café": "food_and_drink", "salon": "services",
    "hardware": "retail",
}  # fmt: skip
BUS_SATANG_PER_COIN = 28


@dataclass
class Endpoints:
    wallet: str = "http://127.0.0.1:8101"
    missions: str = "http://127.0.0.1:8102"
    merchant: str = "http://127.0.0.1:8103"
    transit: str = "http://127.0.0.1:8104"
    projections: str = "http://127.0.0.1:8105"


@dataclass
class Totals:
    """What the summary prints; everything here is decided by the plan and the platform's
    answers, so two runs of one seed on fresh data compare equal."""

    counts: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] += amount

    def refuse(self, what: str, code: str) -> None:
        self.refusals[f"{what}:{code}"] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(sorted(self.counts.items())),
            "refusals": dict(sorted(self.refusals.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Totals:
        return cls(Counter(data.get("counts", {})), Counter(data.get("refusals", {})))


class SmsOutbox:
    """Reads one-time codes from the wallet's development notifier ($KGO_HOME/outbox/sms.jsonl)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._codes: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()

    def _read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            self._codes[(row.get("to", ""), row.get("purpose", ""))] = row.get("code", "")
            self._codes[(row.get("to", ""), "*")] = row.get("code", "")

    async def code(self, phone: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            async with self._lock:
                self._read()
                found = self._codes.pop((phone, "*"), None)
            if found:
                return found
            if time.monotonic() > deadline:
                raise RuntimeError(f"no one-time code arrived in {self.path}")
            await asyncio.sleep(0.02)


class Refused(Exception):
    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.code, self.status = code, status


@dataclass
class Session:
    wallet_id: str
    access: str
    refresh: str
    refresh_expires: datetime


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
    ) -> None:
        self.config = config
        self.city = City(config)
        self.home = home
        self.urls = endpoints or Endpoints()
        self.concurrency = concurrency
        self.direct = direct
        self.progress = progress
        self.clock_path = home / "clock.json"
        self.clock = SharedClock(self.clock_path)
        self.state_path = home / "simulation.json"
        self.sessions_path = home / "secrets" / "simulation-sessions.json"
        self.outbox = SmsOutbox(home / "outbox" / "sms.jsonl")
        self.totals = Totals()
        self.sessions: dict[int, Session] = {}
        self.wallets: dict[int, str] = {}
        self.shop_payees: dict[int, str] = {}
        self.shop_ids: dict[int, str] = {}  # merchant's shop ids
        self.tills: dict[int, str] = {}  # till secrets
        self.validators: dict[tuple[int, int], str] = {}  # (bus, door) -> credential
        self._batches: dict[tuple[int, int], list[tuple[Action, dict[str, Any]]]] = {}
        self.bus_payee = ""
        self.activities: dict[str, tuple[str, str]] = {}  # code -> (activity_id, check-in code)
        self.terms = TERMS_DEFAULT
        self.events = 0  # commands answered: decided by the plan
        self.requests = 0  # every HTTP request, polls and retries included
        #: Where the time goes: route -> [requests, seconds waited for answers].
        self.timings: dict[str, list[float]] = {}
        self._offline: list[tuple[DayPlan, Action, str]] = []

    # ---------------------------------------------------------------- state and resume
    def load_state(self) -> int:
        """The next day to simulate (0 on a fresh start); refuses another seed or size."""
        if not self.state_path.exists():
            return 0
        state = json.loads(self.state_path.read_text())
        if state["seed"] != self.config.seed or state["residents"] != self.config.residents:
            raise RuntimeError(
                f"{self.state_path} holds a simulation of seed {state['seed']} with "
                f"{state['residents']} residents; reset it (kgo demo --reset) or use those"
            )
        self.totals = Totals.from_dict(state.get("totals", {}))
        self.wallets = {int(k): v for k, v in state.get("wallets", {}).items()}
        if self.sessions_path.exists():
            for k, v in json.loads(self.sessions_path.read_text()).items():
                self.sessions[int(k)] = Session(v[0], v[1], v[2], datetime.fromisoformat(v[3]))
        return int(state["next_day"])

    def save_state(self, next_day: int) -> None:
        state = {
            "seed": self.config.seed,
            "residents": self.config.residents,
            "shops": self.config.shops,
            "next_day": next_day,
            "last_day": self.config.day(next_day - 1).isoformat() if next_day else None,
            "totals": self.totals.as_dict(),
            "wallets": {str(k): v for k, v in sorted(self.wallets.items())},
        }
        # The residents' refresh tokens are secrets: kept apart, 0600, beside the admin token.
        sessions = {
            str(k): [s.wallet_id, s.access, s.refresh, s.refresh_expires.isoformat()]
            for k, s in sorted(self.sessions.items())
        }
        self.sessions_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.sessions_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(sessions, handle)
        tmp.replace(self.sessions_path)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_path)

    # ---------------------------------------------------------------- HTTP
    async def call(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        key: str | None = None,
        body: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
    ) -> Any:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["Idempotency-Key"] = key
        route = f"{method} " + _ROUTE.sub("{}", httpx.URL(url).path)
        for attempt in range(20):
            began = time.perf_counter()
            try:
                response = await self.http.request(method, url, json=body, headers=headers)
            except httpx.TransportError:
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            self.requests += 1
            spent = self.timings.setdefault(route, [0, 0.0])
            spent[0] += 1
            spent[1] += time.perf_counter() - began
            if response.status_code in (429, 502, 503, 504) or (
                response.status_code == 409 and response.json().get("code") == "concurrent_request"
            ):
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
                continue
            if method != "GET":
                self.events += 1  # commands answered (reads and retries not counted)
                self.totals.add("commands")
            if response.status_code in ok:
                return response.json() if response.content else None
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise Refused(
                str(problem.get("code", f"http_{response.status_code}")), response.status_code
            )
        raise Refused("unavailable", 503)

    def set_time(self, at: datetime) -> None:
        """Moves the shared business clock forward (never back)."""
        if self.clock.now() < at:
            set_shared_time(self.clock_path, at)

    # ---------------------------------------------------------------- set-up
    async def _ready(self, url: str) -> bool:
        try:
            return (await self.http.get(f"{url}/readyz", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    async def _offers(self, url: str, route: str) -> bool:
        """Whether the service at ``url`` is up and offers ``route`` (not a placeholder)."""
        if not await self._ready(url):
            return False
        try:
            spec = (await self.http.get(f"{url}/openapi.json", timeout=5)).json()
        except (httpx.HTTPError, ValueError):
            return False
        return route in spec.get("paths", {})

    def _devices(self) -> dict[str, str]:
        path = self.home / "secrets" / "simulation-devices.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _keep_devices(self, devices: dict[str, str]) -> None:
        path = self.home / "secrets" / "simulation-devices.json"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(devices, handle)

    async def _once(self, url: str, key: str, body: dict[str, Any]) -> Any:
        """A set-up write that may have been done by an earlier run: 409 already_exists is
        fine."""
        try:
            return await self.call("POST", url, token=self.admin, key=key, body=body)
        except Refused as error:
            if error.code != "already_exists":
                raise
            return None

    async def _setup_services(self) -> None:
        """Shops enrolled at the merchant service with a till each; the bus network, its
        1-baht campaign and two validators per bus at the transit service."""
        from services.wallet.domain.ids import payee_id

        seed, devices = self.config.seed, self._devices()
        for shop in self.city.shops:
            r = __import__("random").Random(f"{seed}:shop-place:{shop.index}")
            district = "Mueang Khon Kaen" if r.random() < 0.8 else r.choice(MERCHANT_DISTRICTS)
            body = {
                "name": f"{shop.category.title()} {shop.index} ({shop.district})",
                "category": MERCHANT_CATEGORY[shop.category],
                "district": district,
                "latitude": round(16.43 + r.uniform(-0.05, 0.05), 5),
                "longitude": round(102.83 + r.uniform(-0.05, 0.05), 5),
                "size_class": "small" if shop.small else "large",
                "rules": {"coin_value_satang": SHOP_SATANG_PER_COIN, "max_coin_share_percent": 50,
                          "matching_programme": "shop-matching"},
                "contact": {"person": f"Owner of shop {shop.index}", "phone": "+66 43 000 000"},
            }  # fmt: skip
            enrolled = await self.call(
                "POST", f"{self.urls.merchant}/merchant/v1/shops", token=self.admin,
                key=f"sim-{seed}-shop-{shop.index}", body=body,
            )  # fmt: skip
            self.shop_ids[shop.index] = enrolled["shop_id"]
            self.shop_payees[shop.index] = enrolled["payee_account_id"]
            name = f"till-{seed}-{shop.index}"
            if name not in devices:
                till = await self.call(
                    "POST", f"{self.urls.merchant}/merchant/v1/shops/{enrolled['shop_id']}/tills",
                    token=self.admin, key=f"sim-{seed}-{name}-{time.time_ns()}", body={"label": "till"},  # noqa: E501
                )  # fmt: skip
                devices[name] = till["secret"]
            self.tills[shop.index] = devices[name]
        t, c = self.urls.transit, self.config
        await self._once(
            f"{t}/v1/routes",
            "sim-route",
            {"route_id": "kk-1", "name": "Khon Kaen city bus", "length_km": float(c.route_km)},
        )
        await self._once(f"{t}/v1/campaigns", "sim-campaign", {
            "campaign_id": "one-baht-bus-2022", "programme": BUS_SETTLEMENT_PROGRAMME,
            "starts_at": datetime.combine(c.campaign_start, dtime(0), BANGKOK).isoformat(),
            "ends_at": datetime.combine(c.campaign_end, dtime(23, 59, 59), BANGKOK).isoformat(),
            "coins": c.campaign_fare_coins, "baht_satang": c.campaign_fare_satang, "daily_cap": 2,
        })  # fmt: skip
        for bus in range(c.buses):
            bus_id = f"kkb-{bus + 1:02d}"
            await self._once(
                f"{t}/v1/buses", f"sim-bus-{bus_id}", {"bus_id": bus_id, "route_id": "kk-1"}
            )
            for door in range(2):
                validator = f"{bus_id}-v{door + 1}"
                name = f"validator-{validator}"
                if name not in devices:
                    made = await self._once(
                        f"{t}/v1/validators",
                        f"sim-{name}",
                        {"validator_id": validator, "bus_id": bus_id},
                    )
                    if made is None or not made.get("credential"):
                        made = await self.call(
                            "POST",
                            f"{t}/v1/validators/{validator}/credential",
                            token=self.admin,
                            key=f"sim-{name}-{time.time_ns()}",
                        )
                    devices[name] = made["credential"]
                self.validators[(bus, door)] = devices[name]
        self._keep_devices(devices)
        self.bus_payee = str(payee_id("operator", BUS_OPERATOR_REF))

    async def _token(self, role: str, name: str, subject: str | None = None) -> str:
        path = self.home / "secrets" / f"simulator-{name}.token"
        if path.exists():
            token = path.read_text().strip()
            check = await self.http.get(
                f"{self.urls.wallet}/v1/budgets/welcome",
                headers={"Authorization": f"Bearer {token}"},
            )
            if check.status_code != 401:
                return token
        body = {
            "role": role,
            "name": f"simulator-{name}",
            **({"subject": subject} if subject else {}),
        }
        issued = await self.call(
            "POST",
            f"{self.urls.wallet}/v1/tokens",
            token=self.admin,
            key=f"sim-token-{name}-{time.time_ns()}",
            body=body,
        )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(issued["token"] + "\n")
        path.chmod(0o600)
        return str(issued["token"])

    async def setup(self) -> None:
        """Tokens, shops and the bus operator (repeated on resume; not counted)."""
        counted = self.totals.counts["commands"]
        await self._setup()
        self.totals.counts["commands"] = counted

    async def _setup(self) -> None:
        self.admin = (self.home / "secrets" / "admin.token").read_text().strip()
        self.service = await self._token("service", "service")
        self.operator = await self._token("programme_operator", "operator")
        if self.direct is None:
            self.direct = not (
                await self._offers(self.urls.merchant, "/merchant/v1/redemptions")
                and await self._offers(self.urls.transit, "/v1/taps/batch")
            )
        seed = self.config.seed
        if not self.direct:
            await self._setup_services()
            return
        for shop in self.city.shops:
            self.shop_payees[shop.index] = await self._payee(
                "shop",
                shop.external_ref,
                f"{shop.category} in {shop.district}",
                f"sim-{seed}-payee-{shop.index}",
            )
        self.bus_payee = await self._payee(
            "operator", BUS_OPERATOR_REF, "Khon Kaen city bus", f"sim-{seed}-payee-bus"
        )

    async def _payee(self, kind: str, ref: str, label: str, key: str) -> str:
        from services.wallet.domain.ids import payee_id

        try:
            await self.call(
                "POST",
                f"{self.urls.wallet}/v1/payees",
                token=self.admin,
                key=key,
                body={"kind": kind, "external_ref": ref, "label": label},
            )
        except Refused as error:
            if error.code != "already_exists":
                raise
        return str(payee_id(kind, ref))

    # ---------------------------------------------------------------- the days
    async def run(self, *, until: int | None = None, seconds: float | None = None) -> Totals:
        """Simulates the days from the saved state on, up to day ``until`` (exclusive), or
        until ``seconds`` of wall time have passed (checked between days)."""
        start = self.load_state()
        last = self.config.days if until is None else min(self.config.days, until)
        limits = httpx.Limits(
            max_connections=self.concurrency * 2, max_keepalive_connections=self.concurrency * 2
        )
        async with httpx.AsyncClient(timeout=30, limits=limits) as self.http:
            await self.setup()
            started, events0 = time.monotonic(), self.events
            for index in range(start, last):
                if seconds is not None and time.monotonic() - started > seconds:
                    break
                plan = self.city.plan(index)
                await self.run_day(plan)
                self.save_state(index + 1)
                if self.progress:
                    rate = (self.events - events0) / max(1e-6, time.monotonic() - started)
                    done = (index + 1) / self.config.days
                    bar = "#" * int(done * 30)
                    self.progress(
                        f"[{bar:<30}] day {index + 1}/{self.config.days} {plan.day}{' campaign' if plan.campaign else ''} · {self.events:,} commands · {rate:.0f}/s"  # noqa: E501
                    )
        return self.totals

    async def run_day(self, plan: DayPlan) -> None:
        seed = self.config.seed
        self.set_time(plan.at(5))
        if plan.operators.publish_missions:
            await self.publish_missions(plan)
        if plan.operators.activity:
            await self.schedule_activity(plan)
        by_resident: dict[int, list[Action]] = {}
        for action in plan.actions:
            assert action.resident is not None
            by_resident.setdefault(action.resident, []).append(action)
        # Residents act in two waves of the day, each wave concurrently within the limit.
        self.set_time(plan.at(7))
        limit = asyncio.Semaphore(self.concurrency)

        async def one(resident: int, actions: list[Action]) -> None:
            async with limit:
                await self.resident_day(plan, resident, actions)

        await asyncio.gather(*(one(r, a) for r, a in sorted(by_resident.items())))
        self.set_time(plan.at(20))
        await self.upload_offline(plan)
        if plan.operators.festival:
            await self.festival(plan)
        if plan.operators.settle:
            self.set_time(plan.at(22))
            await self.settle(plan)
        del seed

    def key(self, plan: DayPlan, actor: str, n: int, step: str = "") -> str:
        return idempotency_key(self.config.seed, plan.index, actor, n, step)

    async def resident_day(self, plan: DayPlan, resident: int, actions: list[Action]) -> None:
        first = actions[0]
        try:
            if first.kind == "signup":
                await self.signup(plan, first)
                actions = actions[1:]
            if not actions:
                return
            session = await self.session(plan, resident)
        except Refused as error:
            self.totals.refuse("session", error.code)
            return
        for action in actions:
            try:
                if action.kind == "ride":
                    await self.ride(plan, action, session)
                elif action.kind == "pay":
                    await self.pay(plan, action, session)
                elif action.kind == "earn":
                    await self.earn(plan, action, session)
                elif action.kind == "check_in":
                    await self.check_in(plan, action, session)
            except Refused as error:
                self.totals.refuse(action.kind, error.code)

    # ---------------------------------------------------------------- residents
    async def signup(self, plan: DayPlan, action: Action) -> None:
        from .plan import national_id, phone

        seed, index = self.config.seed, action.resident
        assert index is not None
        mobile = phone(seed, index)
        body = {
            "national_id": national_id(seed, index),
            "phone": mobile,
            "consent": {"terms_version": self.terms, "accepted": True},
        }
        try:
            started = await self.call(
                "POST",
                f"{self.urls.wallet}/v1/signups",
                key=self.key(plan, action.actor, action.n, "start"),
                body=body,
            )
        except Refused as error:
            if error.code != "terms_not_current":
                self.totals.refuse("signup", error.code)
                return
            raise
        code = await self.outbox.code(mobile)
        try:
            session = await self.call(
                "POST",
                f"{self.urls.wallet}/v1/signups/{started['signup_id']}/confirm",
                key=self.key(plan, action.actor, action.n, "confirm"),
                body={"code": code},
            )
        except Refused as error:
            self.totals.refuse("signup", error.code)
            return
        self._keep(index, session)
        self.wallets[index] = session["wallet_id"]
        self.totals.add("residents_signed_up")
        await self.wait_for_welcome(index)

    async def wait_for_welcome(self, index: int, timeout: float = 15.0) -> None:
        """The welcome bonus arrives through missions and Kafka: wait for it (or its refusal,
        seen as the welcome budget unable to pay it)."""
        session = self.sessions[index]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wallet = await self.call(
                "GET", f"{self.urls.wallet}/v1/wallets/{session.wallet_id}", token=session.access
            )
            if wallet["available"] > 0:
                self.totals.add("welcome_received")
                return
            budget = await self.call(
                "GET", f"{self.urls.wallet}/v1/budgets/welcome", token=self.admin
            )
            if budget["available"] < 100:
                self.totals.refuse("welcome", "budget_exhausted")
                return
            await asyncio.sleep(0.1)
        self.totals.refuse("welcome", "not_arrived")

    def _keep(self, index: int, session: dict[str, Any]) -> None:
        self.sessions[index] = Session(
            session["wallet_id"],
            session["access_token"],
            session["refresh_token"],
            datetime.fromisoformat(session["refresh_expires_at"]),
        )

    async def session(self, plan: DayPlan, index: int) -> Session:
        """A fresh access token: refreshed while the refresh token lives, else a new sign-in
        with a code sent to the phone."""
        from .plan import phone

        known = self.sessions.get(index)
        actor = f"r{index}"
        if known is not None and known.refresh_expires > self.clock.now() + timedelta(hours=1):
            try:
                fresh = await self.call(
                    "POST",
                    f"{self.urls.wallet}/v1/sessions/refresh",
                    key=self.key(plan, actor, 99, "refresh"),
                    body={"refresh_token": known.refresh},
                )
                self._keep(index, fresh)
                return self.sessions[index]
            except Refused:
                pass
        mobile = phone(self.config.seed, index)
        challenge = await self.call(
            "POST",
            f"{self.urls.wallet}/v1/sessions",
            key=self.key(plan, actor, 99, "sign-in"),
            body={"phone": mobile},
        )
        code = await self.outbox.code(mobile)
        fresh = await self.call(
            "POST",
            f"{self.urls.wallet}/v1/sessions/{challenge['challenge_id']}/confirm",
            key=self.key(plan, actor, 99, "sign-in-confirm"),
            body={"code": code},
        )
        self._keep(index, fresh)
        self.wallets[index] = fresh["wallet_id"]
        return self.sessions[index]

    async def ride(self, plan: DayPlan, action: Action, session: Session) -> None:
        if not self.direct:
            await self.tap(plan, action, session)
            return
        self.totals.add("taps")
        student = self.city.residents[action.resident or 0].student
        if not plan.campaign:
            fare = self.config.fare_student_satang if student else self.config.fare_regular_satang
            self.totals.add("rides_baht_only")
            self.totals.add("ride_baht_satang", fare)
            return
        key = self.key(plan, action.actor, action.n)
        pass_ = await self.call(
            "POST", f"{self.urls.wallet}/v1/transit-passes", token=session.access, key=key + "-pass"
        )
        if action.validator == 1 and action.bus < self.config.offline_validators:
            # This validator is offline today: the tap is kept and uploaded in the evening.
            self._offline.append((plan, action, pass_["pass"]))
            self.totals.add("taps_offline")
            return
        await self._fare(plan, action, pass_["pass"], session.wallet_id, offline=False)

    async def _fare(
        self, plan: DayPlan, action: Action, pass_: str, wallet_id: str, *, offline: bool
    ) -> None:
        key = self.key(plan, action.actor, action.n)
        coins = self.config.campaign_fare_coins
        body = {
            "payee_id": self.bus_payee,
            "amount": coins,
            "reference": key,
            "authorisation": {"kind": "transit_pass", "pass": pass_},
        }
        try:
            await self.call(
                "POST",
                f"{self.urls.wallet}/v1/spends",
                token=self.service,
                key=key + "-fare",
                body=body,
            )
        except Refused as error:
            if offline and error.code == "insufficient_funds":
                # The rider rode; the offline-loss budget pays the operator instead.
                short = {
                    "programme": "offline-loss",
                    "payee_id": self.bus_payee,
                    "wallet_id": wallet_id,
                    "amount": coins,
                    "reference": key,
                }
                try:
                    await self.call(
                        "POST",
                        f"{self.urls.wallet}/v1/shortfalls",
                        token=self.service,
                        key=key + "-shortfall",
                        body=short,
                    )
                    self.totals.add("shortfalls_covered")
                    self.totals.add("shortfall_coins", coins)
                except Refused as again:
                    self.totals.refuse("shortfall", again.code)
                return
            # Refused at the validator: the rider pays the full fare in baht.
            self.totals.refuse("ride", error.code)
            student = self.city.residents[action.resident or 0].student
            self.totals.add("rides_baht_only")
            self.totals.add(
                "ride_baht_satang",
                self.config.fare_student_satang if student else self.config.fare_regular_satang,
            )
            return
        self.totals.add("rides_coins")
        self.totals.add("ride_coins", coins)
        self.totals.add("ride_baht_satang", self.config.campaign_fare_satang)

    async def tap(self, plan: DayPlan, action: Action, session: Session) -> None:
        """A tap at the bus's validator (transit decides fare, campaign, cap and double tap)."""
        self.totals.add("taps")
        pass_ = await self.call(
            "POST", f"{self.urls.wallet}/v1/transit-passes", token=session.access,
            key=f"sim-{self.config.seed}-pass-{action.actor}",
        )  # fmt: skip
        student = self.city.residents[action.resident or 0].student
        tap = {
            "tap_id": self.key(plan, action.actor, action.n), "pass": pass_["pass"],
            "tapped_at": self.clock.now().isoformat(), "fare_product": "student" if student else "regular",  # noqa: E501
        }  # fmt: skip
        device = (action.bus, action.validator)
        if action.validator == 1 and action.bus < self.config.offline_validators:
            self._batches.setdefault(device, []).append((action, tap))
            self.totals.add("taps_offline")
            return
        try:
            trip = await self.call(
                "POST", f"{self.urls.transit}/v1/taps", token=self.validators[device],
                key=tap["tap_id"], body=tap,
            )  # fmt: skip
        except Refused as error:
            self.totals.refuse("ride", error.code)
            return
        self._trip(trip, student)

    def _trip(self, trip: dict[str, Any], student: bool) -> None:
        if trip.get("status") == "paid":
            coins = int(trip.get("coins") or 0)
            self.totals.add("rides_coins" if coins else "rides_baht_only")
            self.totals.add("ride_coins", coins)
            self.totals.add("ride_baht_satang", int(trip.get("baht_satang") or 0))
            if trip.get("shortfall_covered"):
                self.totals.add("shortfalls_covered")
                self.totals.add("shortfall_coins", coins)
            return
        self.totals.refuse("ride", str(trip.get("reason") or trip.get("status")))
        self.totals.add("rides_baht_only")
        self.totals.add(
            "ride_baht_satang",
            self.config.fare_student_satang if student else self.config.fare_regular_satang,
        )

    async def upload_offline(self, plan: DayPlan) -> None:
        batches, self._batches = self._batches, {}
        for device, taps in sorted(batches.items()):
            for start in range(0, len(taps), 5_000):
                chunk = taps[start : start + 5_000]
                key = f"sim-{self.config.seed}-d{plan.index}-batch-{device[0]}-{device[1]}-{start}"
                try:
                    answer = await self.call(
                        "POST", f"{self.urls.transit}/v1/taps/batch", token=self.validators[device],
                        key=key, body={"taps": [tap for _, tap in chunk]},
                    )  # fmt: skip
                except Refused as error:
                    self.totals.refuse("offline_batch", error.code)
                    continue
                for (action, _), trip in zip(chunk, answer.get("results", []), strict=False):
                    self._trip(trip, self.city.residents[action.resident or 0].student)
        if self.direct:
            await self._upload_offline_direct(plan)

    async def _upload_offline_direct(self, plan: DayPlan) -> None:
        queued, self._offline = self._offline, []
        for day_plan, action, pass_ in queued:
            wallet_id = self.wallets.get(action.resident or 0, "")
            await self._fare(day_plan, action, pass_, wallet_id, offline=True)

    async def pay(self, plan: DayPlan, action: Action, session: Session) -> None:
        key = self.key(plan, action.actor, action.n)
        if not self.direct:
            code = await self.call(
                "POST", f"{self.urls.wallet}/v1/payment-codes", token=session.access, key=key + "-code"  # noqa: E501
            )  # fmt: skip
            assert action.shop is not None
            body = {
                "payment_code": code["code"],
                "bill_satang": action.bill_satang,
                "coins": action.coins,
            }
            done = await self.call(
                "POST", f"{self.urls.merchant}/merchant/v1/redemptions",
                token=self.tills[action.shop], key=key, body=body,
            )  # fmt: skip
            self.totals.add("redemptions")
            self.totals.add("coins_spent_at_shops", int(done["coins"]))
            self.totals.add("discount_satang", int(done["discount_satang"]))
            return
        code = await self.call(
            "POST", f"{self.urls.wallet}/v1/payment-codes", token=session.access, key=key + "-code"
        )
        assert action.shop is not None
        body = {
            "payee_id": self.shop_payees[action.shop],
            "amount": action.coins,
            "reference": key,
            "authorisation": {"kind": "payment_code", "code": code["code"]},
        }
        await self.call(
            "POST",
            f"{self.urls.wallet}/v1/spends",
            token=self.service,
            key=key + "-spend",
            body=body,
        )
        self.totals.add("redemptions")
        self.totals.add("coins_spent_at_shops", action.coins)
        self.totals.add("discount_satang", action.coins * SHOP_SATANG_PER_COIN)

    async def earn(self, plan: DayPlan, action: Action, session: Session) -> None:
        key = self.key(plan, action.actor, action.n)
        if not self.direct:
            assert action.shop is not None
            for source in ("shop", "matching"):
                code = await self.call(
                    "POST", f"{self.urls.wallet}/v1/receive-codes", token=session.access,
                    key=f"{key}-receive-{source}",
                )  # fmt: skip
                body = {"receive_code": code["code"], "coins": action.coins, "source": source}
                try:
                    await self.call(
                        "POST", f"{self.urls.merchant}/merchant/v1/rewards",
                        token=self.tills[action.shop], key=f"{key}-{source}", body=body,
                    )  # fmt: skip
                except Refused as error:
                    if source == "matching" or error.code != "insufficient_funds":
                        raise
                    self.totals.refuse("earn", error.code)
                    continue
                name = "shop" if source == "shop" else "matching"
                self.totals.add(f"{name}_rewards")
                self.totals.add(f"{name}_reward_coins", action.coins)
                return
            return
        code = await self.call(
            "POST",
            f"{self.urls.wallet}/v1/receive-codes",
            token=session.access,
            key=key + "-receive",
        )
        resolved = await self.call(
            "POST",
            f"{self.urls.wallet}/v1/receive-codes/resolve",
            token=self.service,
            key=key + "-resolve",
            body={"code": code["code"]},
        )
        assert action.shop is not None
        body = {
            "wallet_id": resolved["wallet_id"],
            "amount": action.coins,
            "reference": key,
            "payee_id": self.shop_payees[action.shop],
        }
        try:
            await self.call(
                "POST",
                f"{self.urls.wallet}/v1/rewards",
                token=self.service,
                key=key + "-reward",
                body=body,
            )
            self.totals.add("shop_rewards")
            self.totals.add("shop_reward_coins", action.coins)
        except Refused as error:
            if error.code != "insufficient_funds":
                raise
            # The shop's own balance is empty: the city's matching budget pays instead.
            self.totals.refuse("earn", "insufficient_funds")
            match = {
                "wallet_id": resolved["wallet_id"],
                "amount": action.coins,
                "reference": key,
                "programme": "shop-matching",
                "reason": "shop reward",
            }
            await self.call(
                "POST",
                f"{self.urls.wallet}/v1/rewards",
                token=self.service,
                key=key + "-matching",
                body=match,
            )
            self.totals.add("matching_rewards")
            self.totals.add("matching_reward_coins", action.coins)

    async def check_in(self, plan: DayPlan, action: Action, session: Session) -> None:
        assert plan.operators.activity
        activity_id, code = self.activities[plan.operators.activity]
        key = self.key(plan, action.actor, action.n)
        await self.call(
            "POST",
            f"{self.urls.missions}/v1/activities/{activity_id}/check-ins",
            token=session.access,
            key=key,
            body={"code": code},
        )
        self.totals.add("check_ins")

    # ---------------------------------------------------------------- operators
    async def publish_missions(self, plan: DayPlan) -> None:
        starts = plan.at(0).isoformat()
        missions = [
            (
                "first-shop-payment",
                "First payment at a shop",
                50,
                {"kind": "first_time", "event": "discount_redeemed"},
                "once",
                1,
            ),
            (
                "three-shops",
                "Pay at three different shops",
                100,
                {"kind": "distinct_shops", "shops": 3},
                "once",
                1,
            ),
            (
                "ten-rides",
                "Ride the city bus ten times",
                50,
                {"kind": "count", "event": "fare_paid", "count": 10},
                "once",
                1,
            ),
            (
                "weekly-checkin",
                "Take part in a municipal activity",
                50,
                {"kind": "check_in"},
                "once",
                1,
            ),
        ]
        for code, title, reward, rule, period, limit in missions:
            body = {
                "code": f"sim-{code}",
                "title_th": title,
                "title_en": title,
                "reward": reward,
                "starts_at": starts,
                "limit": limit,
                "period": period,
                "campaign": "welcome",
                "programme": "welcome",
                "rule": rule,
            }
            try:
                await self.call(
                    "POST",
                    f"{self.urls.missions}/v1/missions",
                    token=self.operator,
                    key=f"sim-{self.config.seed}-mission-{code}",
                    body=body,
                )
                self.totals.add("missions_published")
            except Refused as error:
                self.totals.refuse("publish_mission", error.code)

    async def schedule_activity(self, plan: DayPlan) -> None:
        name = plan.operators.activity
        assert name
        body = {
            "code": name,
            "title_th": "กิจกรรมเทศบาล",
            "title_en": "Municipal activity",
            "reward": 20,
            "starts_at": plan.at(6).isoformat(),
            "ends_at": plan.at(19).isoformat(),
        }
        activity = await self.call(
            "POST",
            f"{self.urls.missions}/v1/activities",
            token=self.operator,
            key=f"sim-{self.config.seed}-{name}",
            body=body,
        )
        activity_id = activity["activity_id"]
        code = await self.call(
            "GET", f"{self.urls.missions}/v1/activities/{activity_id}/code", token=self.operator
        )
        self.activities[name] = (activity_id, code["code"])
        self.totals.add("activities")

    async def festival(self, plan: DayPlan) -> None:
        """The festival's bulk award: one activity, its attendees paid by the operator."""
        body = {
            "code": f"sim-festival-{plan.day.isoformat()}",
            "title_th": "งานเทศกาล",
            "title_en": "City festival",
            "reward": 30,
            "starts_at": plan.at(8).isoformat(),
            "ends_at": plan.at(23).isoformat(),
        }
        activity = await self.call(
            "POST",
            f"{self.urls.missions}/v1/activities",
            token=self.operator,
            key=f"sim-{self.config.seed}-festival",
            body=body,
        )
        limit = asyncio.Semaphore(self.concurrency)

        async def award(index: int) -> None:
            wallet = self.wallets.get(index)
            if wallet is None:
                return
            async with limit:
                try:
                    await self.call(
                        "POST",
                        f"{self.urls.missions}/v1/activities/{activity['activity_id']}/attendance",
                        token=self.operator,
                        key=f"award:{activity['activity_id']}:{wallet}",
                        body={"wallet_id": wallet},
                    )
                    self.totals.add("festival_awards")
                except Refused as error:
                    self.totals.refuse("festival_award", error.code)

        await asyncio.gather(*(award(i) for i in self.city.festival_attendees(plan.index)))

    async def settle(self, plan: DayPlan) -> None:
        """Weekly: each shop returns what it holds above a float of 100 coins; the bus
        operator all its coins."""
        payees = [
            (f"shop{i}", p, SHOP_SETTLEMENT_PROGRAMME, SHOP_SATANG_PER_COIN, 100)
            for i, p in self.shop_payees.items()
        ]
        payees.append(("bus", self.bus_payee, BUS_SETTLEMENT_PROGRAMME, BUS_SATANG_PER_COIN, 0))
        for name, payee, programme, satang, keep in payees:
            account = await self.call(
                "GET", f"{self.urls.wallet}/v1/wallets/{payee}", token=self.admin
            )
            coins = int(account["available"]) - keep
            if coins <= 0:
                continue
            key = self.key(plan, name, 0, "settle")
            body = {
                "payee_id": payee,
                "amount": coins,
                "programme": programme,
                "baht_satang": coins * satang,
                "payment_reference": key,
            }
            if self.direct:
                url, who = f"{self.urls.wallet}/v1/settlements", self.service
            elif name == "bus":
                url, who = f"{self.urls.transit}/v1/settlements", self.admin
                body = {k: body[k] for k in ("programme", "baht_satang", "payment_reference")}
                body["coins"] = coins
            else:
                shop_id = self.shop_ids[int(name[4:])]
                url, who = (
                    f"{self.urls.merchant}/merchant/v1/shops/{shop_id}/settlements",
                    self.admin,
                )
                body = {k: body[k] for k in ("programme", "baht_satang", "payment_reference")}
                body["coins"] = coins
            try:
                await self.call("POST", url, token=who, key=key, body=body)
                self.totals.add("settlements")
                self.totals.add("coins_settled", coins)
                self.totals.add("baht_settled_satang", coins * satang)
            except Refused as error:
                self.totals.refuse("settlement", error.code)

    # ---------------------------------------------------------------- the summary
    async def summary(self) -> dict[str, Any]:
        """Totals plus what the wallet holds now: residents' balances and their Gini."""
        async with httpx.AsyncClient(timeout=30) as self.http:
            self.admin = (self.home / "secrets" / "admin.token").read_text().strip()
            balances = []
            for index in sorted(self.wallets):
                wallet = await self.call(
                    "GET", f"{self.urls.wallet}/v1/wallets/{self.wallets[index]}", token=self.admin
                )
                balances.append(int(wallet["available"]) + int(wallet.get("held", 0)))
            budgets = await self.call("GET", f"{self.urls.wallet}/v1/budgets", token=self.admin)
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
            "budgets": {
                b["programme"]: b["available"]
                for b in (budgets if isinstance(budgets, list) else budgets.get("budgets", []))
            },
            "totals": self.totals.as_dict(),
        }


def gini(values: list[int]) -> float:
    if not values or sum(values) == 0:
        return 0.0
    ordered = sorted(values)
    n = len(ordered)
    weighted = sum((i + 1) * v for i, v in enumerate(ordered))
    return (2 * weighted) / (n * sum(ordered)) - (n + 1) / n
