"""A wallet and a merchant as real `kgo serve` processes on topics and schemas of their own,
sharing one KGO_HOME, with a treasury, a welcome budget, residents with coins, and one
enrolled shop with a till: what the merchant's end-to-end tests and bench start from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import httpx

from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name

from .platform import ServiceProcess, kgo, service_process

BOOTSTRAP = InfraSettings().kafka_bootstrap


def thai_national_id(first12: str) -> str:
    check = (11 - sum(int(d) * (13 - i) for i, d in enumerate(first12)) % 11) % 10
    return first12 + str(check)


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    async def post(self, path: str, body: dict | None = None, key: str | None = None):
        return await self.client.post(
            path, json=body or {}, headers={"Idempotency-Key": key or uuid4().hex}
        )

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.client.get(path, params=params or None)


def token(process: ServiceProcess, role: str, name: str, subject: str | None = None) -> str:
    args = ["wallet", "token", "create", "--role", role, "--name", name]
    done = kgo(process.env, *args, *(["--subject", subject] if subject else []))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Shopfloor:
    wallet: ServiceProcess
    merchant: ServiceProcess
    topics: dict[str, str]
    admin_token: str
    operator_token: str
    wallet_admin: Api = field(init=False)
    granter: Api = field(init=False)
    admin: Api = field(init=False)
    shop_id: str = ""
    payee_id: str = ""
    till: Api | None = None
    _people: int = 0

    def __post_init__(self) -> None:
        self.wallet_admin = Api(self.wallet.url, self.admin_token)
        self.granter = Api(self.wallet.url, self.operator_token)
        self.admin = Api(self.merchant.url, self.admin_token)

    async def treasury(self) -> None:
        assert (await self.wallet_admin.post("/v1/treasury/genesis")).status_code == 201
        for programme in ("welcome", "shop-matching", "municipal-activities"):
            await self.wallet_admin.post(
                "/v1/budgets", {"programme": programme, "label": programme}
            )
            await self.wallet_admin.post(
                f"/v1/budgets/{programme}/allocations", {"amount": 100_000}
            )

    async def resident(self, coins: int) -> tuple[str, Api]:
        """A registered resident with ``coins`` and the API their phone uses."""
        self._people += 1
        first12 = f"1{self._people:011d}"
        answer = await self.wallet_admin.post(
            "/v1/residents",
            {"national_id": thai_national_id(first12), "phone": f"+66 8{self._people:08d}"},
        )
        assert answer.status_code == 201, answer.text
        wallet_id = answer.json()["wallet_id"]
        grant = await self.granter.post(
            "/v1/grants", {"programme": "welcome", "wallet_id": wallet_id, "amount": coins,
                           "reason": "signup", "reference": f"signup-{wallet_id}"},
        )  # fmt: skip
        assert grant.status_code == 201, grant.text
        phone = Api(self.wallet.url, token(self.wallet, "resident", f"phone-{self._people}",
                                           wallet_id))  # fmt: skip
        return wallet_id, phone

    async def enrol(self, **rules: object) -> tuple[str, Api]:
        body = {
            "name": "Som Tam Bueng Kaen Nakhon", "category": "food_and_drink",
            "district": "Mueang Khon Kaen", "latitude": 16.4164, "longitude": 102.8369,
            "size_class": "small", "rules": {"matching_programme": "shop-matching", **rules},
            "contact": {"person": "Khun Somchai", "phone": "+66 81 234 5678"},
        }  # fmt: skip
        answer = await self.admin.post("/merchant/v1/shops", body)
        assert answer.status_code == 201, answer.text
        shop_id = answer.json()["shop_id"]
        till = await self.admin.post(f"/merchant/v1/shops/{shop_id}/tills", {"label": "counter-1"})
        assert till.status_code == 201, till.text
        return shop_id, Api(self.merchant.url, till.json()["secret"])


async def start_shopfloor(
    home: Path, logs: Path, wallet_env: dict[str, str] | None = None, **merchant_env: str
) -> Shopfloor:
    topics = {name: unique_name(f"e2e.{name}") for name in ("wallet", "missions", "merchant")}
    await create_topics(BOOTSTRAP, list(topics.values()), partitions=3)
    wallet = service_process("wallet", home, {
        "WALLET_EVENTS_TOPIC": topics["wallet"], "WALLET_MISSIONS_TOPIC": topics["missions"],
        "WALLET_HOLD_SWEEP_SECONDS": "0.5", **(wallet_env or {}),
    }, logs)  # fmt: skip
    wallet.start()
    service = token(wallet, "service", "merchant")
    merchant = service_process("merchant", home, {
        "MERCHANT_EVENTS_TOPIC": topics["merchant"],
        "MERCHANT_WALLET_EVENTS_TOPIC": topics["wallet"], "MERCHANT_WALLET_URL": wallet.url,
        "MERCHANT_WALLET_TOKEN": service, "MERCHANT_RECOVERY_GRACE_SECONDS": "0",
        "MERCHANT_RECOVERY_INTERVAL_SECONDS": "0.5", **merchant_env,
    }, logs)  # fmt: skip
    try:
        merchant.start()
        floor = Shopfloor(
            wallet, merchant, topics, token(wallet, "municipal_admin", "e2e-admin"),
            token(wallet, "programme_operator", "e2e-operator", "welcome"),
        )  # fmt: skip
        await floor.treasury()
    except BaseException:  # a failed start (or a test timeout) must not leave processes behind
        for process in (merchant, wallet):
            process.stop()
        raise
    return floor


async def stop_shopfloor(floor: Shopfloor) -> None:
    for process in (floor.merchant, floor.wallet):
        process.stop()
        process.drop_schema()
    await delete_topics(BOOTSTRAP, list(floor.topics.values()))


async def shopfloor_fixture(
    home: Path, logs: Path, wallet_env: dict[str, str] | None = None, **env: str
) -> AsyncIterator[Shopfloor]:
    floor = await start_shopfloor(home, logs, wallet_env, **env)
    try:
        yield floor
    finally:
        await stop_shopfloor(floor)
