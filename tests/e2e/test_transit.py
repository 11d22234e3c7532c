"""The city bus as it runs: real `kgo serve wallet` and `kgo serve transit` processes on the
real Kafka and PostgreSQL, validators tapping over HTTP with their own credentials, the
topics read by plain consumers.

Needs the wallet's consent and circulation endpoints (transit passes, spends with a
`transit_pass` authorisation, shortfalls, settlements); skipped with the reason while the
wallet under test does not offer them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from kgo_runtime.access import AccessSettings, AccessSigner, Role, signing_key
from kgo_runtime.clock import BANGKOK
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name

from .platform import ServiceProcess, kgo, service_process

pytestmark = pytest.mark.e2e

UTC = UTC
CAMPAIGN_LAST = datetime(2022, 8, 31, 23, 59, 59, tzinfo=BANGKOK)
NEEDED = ("/v1/transit-passes", "/v1/spends", "/v1/shortfalls", "/v1/settlements", "/v1/payees")


def thai_national_id(first12: str) -> str:
    check = (11 - sum(int(d) * (13 - i) for i, d in enumerate(first12)) % 11) % 10
    return first12 + str(check)


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    async def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        return await self.client.post(
            path, json=body, headers={"Idempotency-Key": key or uuid4().hex}
        )

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params or None)


@dataclass
class City:
    wallet: ServiceProcess
    transit: ServiceProcess
    home: Path
    wallet_topic: str
    transit_topic: str
    admin: Api
    wallet_admin: Api
    grants: Api
    validators: dict[str, Api]
    residents: int = 0

    async def resident(self, coins: int) -> tuple[str, str]:
        """A registered resident granted ``coins``, with a linked transit pass."""
        self.residents += 1
        first12 = f"1{self.residents:011d}"
        made = await self.wallet_admin.post(
            "/v1/residents",
            {"national_id": thai_national_id(first12), "phone": f"08{self.residents:08d}"},
        )
        assert made.status_code == 201, made.text
        wallet_id = made.json()["wallet_id"]
        if coins:
            grant = await self.grants.post(
                "/v1/grants",
                {
                    "programme": "welcome",
                    "wallet_id": wallet_id,
                    "amount": coins,
                    "reason": "signup",
                    "reference": f"grant-{wallet_id}",
                },
            )
            assert grant.status_code == 201, grant.text
        signer = AccessSigner(signing_key(AccessSettings(home=self.home)))
        token = signer.issue(Role.RESIDENT, "resident", wallet_id, timedelta(minutes=15)).token
        linked = await Api(self.wallet.url, token).post("/v1/transit-passes", None)
        assert linked.status_code == 201, linked.text
        return wallet_id, linked.json()["pass"]

    async def balance(self, account_id: str) -> int:
        answer = await self.wallet_admin.get(f"/v1/wallets/{account_id}")
        assert answer.status_code == 200, answer.text
        return int(answer.json()["available"])

    async def tap(
        self, bus: str, pass_token: str, at: datetime, tap_id: str | None = None
    ) -> httpx.Response:
        tap_id = tap_id or uuid4().hex
        body = {"tap_id": tap_id, "pass": pass_token, "tapped_at": at.isoformat()}
        return await self.validators[bus].post("/v1/taps", body, key=tap_id)

    def restart_transit(self, **env: str) -> None:
        self.transit.stop()
        self.transit.env.update(env)
        self.transit.start()


def _wallet_offers_everything(url: str) -> list[str]:
    paths = httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]
    return [p for p in NEEDED if p not in paths]


@pytest.fixture(scope="module")
async def topics() -> AsyncIterator[tuple[str, str]]:
    bootstrap = InfraSettings().kafka_bootstrap
    names = (unique_name("e2e_wallet"), unique_name("e2e_transit"))
    await create_topics(bootstrap, list(names), partitions=3)
    yield names
    await delete_topics(bootstrap, list(names))


@pytest.fixture(scope="module")
async def city(
    topics: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[City]:
    """One wallet and one transit for the module's tests (each test has riders of its own)."""
    wallet_topic, transit_topic = topics
    logs = tmp_path_factory.mktemp("transit_e2e")
    home = logs / "home"
    wallet = service_process("wallet", home, {"WALLET_EVENTS_TOPIC": wallet_topic}, logs)
    wallet.start()
    transit: ServiceProcess | None = None
    try:
        missing = _wallet_offers_everything(wallet.url)
        if missing:
            pytest.skip(f"the wallet does not offer {', '.join(missing)} yet")
        service_token = _token(wallet.env, "service", "transit")
        transit = service_process(
            "transit",
            home,
            {
                "TRANSIT_WALLET_URL": wallet.url,
                "TRANSIT_WALLET_TOKEN": service_token,
                "TRANSIT_EVENTS_TOPIC": transit_topic,
                "TRANSIT_WALLET_TOPIC": wallet_topic,
            },
            logs,
        )
        yield await _prepare(wallet, transit, home, wallet_topic, transit_topic)
    finally:
        if transit is not None:
            transit.stop()
            transit.drop_schema()
        wallet.stop()
        wallet.drop_schema()


def _token(env: dict[str, str], role: str, name: str, subject: str | None = None) -> str:
    args = ["wallet", "token", "create", "--role", role, "--name", name]
    done = kgo(env, *args, *(["--subject", subject] if subject else []))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


async def _prepare(
    wallet: ServiceProcess,
    transit: ServiceProcess,
    home: Path,
    wallet_topic: str,
    transit_topic: str,
) -> City:
    wallet_admin = Api(wallet.url, _token(wallet.env, "municipal_admin", "e2e-admin"))
    assert (await wallet_admin.post("/v1/treasury/genesis", {})).status_code == 201
    for programme, amount in (
        ("welcome", 100_000),
        ("offline-loss", 1_000),
        ("one-baht-bus-2022", 1),
    ):
        made = await wallet_admin.post("/v1/budgets", {"programme": programme, "label": programme})
        assert made.status_code == 201, made.text
        given = await wallet_admin.post(f"/v1/budgets/{programme}/allocations", {"amount": amount})
        assert given.status_code == 201, given.text
    transit.start()
    admin = Api(transit.url, wallet_admin.client.headers["Authorization"].removeprefix("Bearer "))
    assert (
        await admin.post("/v1/routes", {"route_id": "kk-1", "name": "City loop", "length_km": 17})
    ).status_code == 201
    campaign = {
        "campaign_id": "one-baht-bus-2022",
        "starts_at": "2022-06-09T00:00:00+07:00",
        "ends_at": "2022-08-31T23:59:59+07:00",
        "coins": 50,
        "baht_satang": 100,
        "programme": "one-baht-bus-2022",
        "daily_cap": 2,
    }
    assert (await admin.post("/v1/campaigns", campaign)).status_code == 201
    validators = {}
    for n in range(1, 5):
        bus = f"kkb-{n:02}"
        made = await admin.post("/v1/buses", {"bus_id": bus, "route_id": "kk-1"})
        assert made.status_code == 201, made.text
        made = await admin.post("/v1/validators", {"validator_id": f"V-{bus}", "bus_id": bus})
        assert made.status_code == 201, made.text
        validators[bus] = Api(transit.url, made.json()["credential"])
    grants = Api(wallet.url, _token(wallet.env, "programme_operator", "e2e-grants", "welcome"))
    return City(
        wallet, transit, home, wallet_topic, transit_topic, admin, wallet_admin, grants, validators
    )


async def read_topic(
    topic: str, until: Any, timeout: float = 30
) -> list[tuple[str, dict[str, Any]]]:
    """(ce_type, payload) of every record on ``topic`` once ``until(records)`` holds."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=InfraSettings().kafka_bootstrap,
        group_id=f"e2e-{uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[tuple[str, dict[str, Any]]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not until(records) and loop.time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                for record in batch:
                    headers = {k: v.decode() for k, v in record.headers}
                    records.append((headers["ce_type"], json.loads(record.value)))
    finally:
        await consumer.stop()
    return records


async def test_three_buses_at_once_with_120_coins_pay_for_at_most_two(city: City) -> None:
    wallet_id, pass_token = await city.resident(120)
    at = datetime(2022, 6, 10, 8, 40, tzinfo=BANGKOK)
    answers = await asyncio.gather(
        *(city.tap(bus, pass_token, at) for bus in ("kkb-01", "kkb-02", "kkb-03"))
    )
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    paid = [a.json() for a in answers if a.json()["status"] == "paid"]
    assert len(paid) == 2 and all(p["coins"] == 50 for p in paid)
    assert await city.balance(wallet_id) == 20


async def test_campaign_boundaries_in_bangkok_time_and_utc(city: City) -> None:
    _, rider_a = await city.resident(500)
    _, rider_b = await city.resident(500)
    cases = [
        ("kkb-01", rider_a, CAMPAIGN_LAST, 50),
        ("kkb-02", rider_b, datetime(2022, 8, 31, 16, 59, 59, tzinfo=UTC), 50),
        ("kkb-03", rider_a, datetime(2022, 9, 1, 0, 0, 0, tzinfo=BANGKOK), 0),
        ("kkb-04", rider_b, datetime(2022, 8, 31, 17, 0, 0, tzinfo=UTC), 0),
    ]
    for bus, rider, at, coins in cases:
        answer = await city.tap(bus, rider, at)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert (body["status"], body["coins"]) == ("paid", coins), (at, body)
        assert body["baht_satang"] == (100 if coins else 1500)


async def test_an_offline_batch_uploaded_after_the_campaign_ended(city: City) -> None:
    wallet_id, pass_token = await city.resident(100)
    taps = [
        {
            "tap_id": "off-1",
            "pass": pass_token,
            "tapped_at": (CAMPAIGN_LAST - timedelta(hours=2)).isoformat(),
        },
        {
            "tap_id": "off-2",
            "pass": pass_token,
            "tapped_at": (CAMPAIGN_LAST + timedelta(hours=9)).isoformat(),
        },
    ]
    validator = city.validators["kkb-01"]
    first = await validator.post("/v1/taps/batch", {"taps": taps})
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [(r["status"], r["coins"]) for r in results] == [("paid", 50), ("paid", 0)]
    again = await validator.post("/v1/taps/batch", {"taps": taps})
    assert [r["replayed"] for r in again.json()["results"]] == [True, True]
    assert await city.balance(wallet_id) == 50


async def test_coins_gone_by_upload_time_go_to_the_loss_budget(city: City) -> None:
    wallet_id, pass_token = await city.resident(50)
    morning = datetime(2022, 6, 11, 8, 0, tzinfo=BANGKOK)
    online = await city.tap("kkb-02", pass_token, morning + timedelta(hours=1))  # spends all 50
    assert online.json()["coins"] == 50
    offline = [{"tap_id": "early", "pass": pass_token, "tapped_at": morning.isoformat()}]
    uploaded = await city.validators["kkb-01"].post("/v1/taps/batch", {"taps": offline})
    (result,) = uploaded.json()["results"]
    assert (result["status"], result["shortfall_covered"]) == ("paid", 50)
    assert await city.balance(wallet_id) == 0


async def test_kill_9_between_the_wallets_answer_and_the_record(city: City) -> None:
    """Transit dies right after the wallet took the coins; restarted, it finishes the trip
    from the wallet topic: every coin taken has its trip."""
    riders = [await city.resident(100) for _ in range(3)]
    city.transit.stop()
    city.transit.env["TRANSIT_FAULT_KILL_AFTER_SPEND"] = "1"
    city.transit.start()
    at = datetime(2022, 7, 1, 7, 30, tzinfo=BANGKOK)
    with pytest.raises(httpx.HTTPError):
        await city.tap("kkb-01", riders[0][1], at, tap_id="crash-1")
    assert city.transit.process is not None
    assert city.transit.process.wait(timeout=30) == -9
    city.transit.env["TRANSIT_FAULT_KILL_AFTER_SPEND"] = "0"
    city.transit.start()
    for n, (_, pass_token) in enumerate(riders[1:], start=2):
        assert (await city.tap("kkb-01", pass_token, at, tap_id=f"after-{n}")).status_code == 201

    ours = {wallet_id for wallet_id, _ in riders}

    def fares_of(records: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        return [p for t, p in records if t == "kgo.transit.FarePaid.v1" and p["wallet_id"] in ours]

    def spends_of(records: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        return [
            p for t, p in records if t == "kgo.wallet.CoinsSpent.v1" and p["account_id"] in ours
        ]

    fares = fares_of(await read_topic(city.transit_topic, lambda r: len(fares_of(r)) >= 3))
    spends = spends_of(await read_topic(city.wallet_topic, lambda r: len(spends_of(r)) >= 3))
    assert len(spends) == 3  # every coin taken ...
    assert {s["reference"] for s in spends} == {f["trip_id"] for f in fares}  # ... has its trip
    assert len(fares) == 3
    for wallet_id, _ in riders:
        assert await city.balance(wallet_id) == 50


async def test_the_operator_settles_its_coins(city: City) -> None:
    _, pass_token = await city.resident(100)
    await city.tap("kkb-01", pass_token, datetime(2022, 6, 12, 9, 0, tzinfo=BANGKOK))
    body = {
        "programme": "one-baht-bus-2022",
        "coins": 50,
        "baht_satang": 5_000,
        "payment_reference": "KKC-PV-2022-06-0001",
    }
    settled = await city.admin.post("/v1/settlements", body)
    assert settled.status_code == 201, settled.text
    again = await city.admin.post("/v1/settlements", body)
    assert again.headers.get("Idempotent-Replayed") == "true"
    statement = await city.admin.get("/v1/statements/ridership", route_id="kk-1")
    assert statement.json()["totals"]["coins"] >= 50


async def test_a_denied_pass_comes_off_the_list_and_statements_survive_a_restart(
    city: City,
) -> None:
    """Over its offline allowance a pass is denied; an operator takes it off the deny list
    (`PassReinstated` on the topic), and the validators' download no longer lists it. The
    ridership statement is the same after transit restarts."""
    wallet_id, pass_token = await city.resident(50)
    first = datetime(2022, 7, 10, 8, 0, tzinfo=BANGKOK)
    assert (await city.tap("kkb-03", pass_token, first)).json()["coins"] == 50  # spends all
    offline = [
        {"tap_id": f"deny-{d}", "pass": pass_token,
         "tapped_at": (first + timedelta(days=d)).isoformat()}
        for d in (1, 2, 3)
    ]  # fmt: skip
    uploaded = await city.validators["kkb-03"].post("/v1/taps/batch", {"taps": offline})
    assert [r["status"] for r in uploaded.json()["results"]] == ["paid", "paid", "declined"]
    validator = city.validators["kkb-03"]
    listed = (await validator.get("/v1/deny-list")).json()

    def denied(records: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        return [p for t, p in records if t == "kgo.transit.PassDenied.v1"]

    records = await read_topic(city.transit_topic, lambda r: len(denied(r)) >= 1)
    ours = [p for p in denied(records) if p["pass_digest"] in listed["digests"]]
    (deny,) = ours
    removed = await city.admin.client.delete(
        f"/v1/deny-list/{deny['pass_id']}", params={"reason": "shortfall_repaid"},
        headers={"Idempotency-Key": uuid4().hex},
    )  # fmt: skip
    assert removed.status_code == 200, removed.text
    assert removed.json()["forgiven_coins"] == 100
    now = (await validator.get("/v1/deny-list")).json()
    assert deny["pass_digest"] not in now["digests"] and now["version"] > listed["version"]

    def reinstated(records: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        return [p for t, p in records if t == "kgo.transit.PassReinstated.v1"]

    back = reinstated(await read_topic(city.transit_topic, lambda r: len(reinstated(r)) >= 1))
    assert [p["pass_id"] for p in back] == [deny["pass_id"]]
    assert pass_token not in json.dumps(back) and wallet_id not in json.dumps(back)

    before = (await city.admin.get("/v1/statements/ridership", route_id="kk-1")).json()
    city.restart_transit()
    after = (await city.admin.get("/v1/statements/ridership", route_id="kk-1")).json()
    assert after == before and before["rows"]
