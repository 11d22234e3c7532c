"""The simulator's own set-up on a running platform (repeated on resume, so every step is
idempotent): its API tokens, the shops enrolled at the merchant service with a till each,
the bus network, its 1-baht campaign and two validators per bus at transit; or, without
those services, the shops' and the bus operator's payee accounts at the wallet."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime
from datetime import time as dtime
from typing import TYPE_CHECKING, Any

from kgo_runtime.clock import BANGKOK

from .http import Refused
from .operators import BUS_SETTLEMENT_PROGRAMME, SHOP_SATANG_PER_COIN
from .plan import Shop

if TYPE_CHECKING:
    from .runner import Simulator

BUS_OPERATOR_REF = "khon-kaen-city-bus"
#: The merchant service's districts (the province's amphoe) and categories.
MERCHANT_DISTRICTS = ("Ban Phai", "Chum Phae", "Nam Phong", "Phon", "Ban Fang", "Kranuan")
MERCHANT_CATEGORY = {
    "food": "food_and_drink", "grocery": "grocery", "market stall": "market_stall",
    "pharmacy": "health_and_beauty", "café": "food_and_drink", "salon": "services",
    "hardware": "retail",
}  # fmt: skip


async def setup(sim: Simulator) -> None:
    sim.admin = (sim.home / "secrets" / "admin.token").read_text().strip()
    sim.service = await token(sim, "service", "service")
    sim.operator = await token(sim, "programme_operator", "operator")
    if sim.direct is None:
        sim.direct = not (
            await sim.api.offers(sim.urls.merchant, "/merchant/v1/redemptions")
            and await sim.api.offers(sim.urls.transit, "/v1/taps/batch")
        )
    if not sim.direct:
        await shops(sim)
        await bus_network(sim)
        return
    seed = sim.config.seed
    for shop in sim.city.shops:
        sim.shop_payees[shop.index] = await payee(
            sim, "shop", shop.external_ref, f"{shop.category} in {shop.district}",
            f"sim-{seed}-payee-{shop.index}",
        )  # fmt: skip
    sim.bus_payee = await payee(
        sim, "operator", BUS_OPERATOR_REF, "Khon Kaen city bus", f"sim-{seed}-payee-bus"
    )


async def token(sim: Simulator, role: str, name: str) -> str:
    path = sim.home / "secrets" / f"simulator-{name}.token"
    if path.exists():
        kept = path.read_text().strip()
        check = await sim.api.http.get(
            f"{sim.urls.wallet}/v1/budgets/welcome", headers={"Authorization": f"Bearer {kept}"}
        )
        if check.status_code != 401:
            return kept
    issued = await sim.api.call(
        "POST", f"{sim.urls.wallet}/v1/tokens", token=sim.admin,
        key=f"sim-token-{name}-{time.time_ns()}", body={"role": role, "name": f"simulator-{name}"},
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(issued["token"] + "\n")
    path.chmod(0o600)
    return str(issued["token"])


async def once(sim: Simulator, url: str, key: str, body: dict[str, Any]) -> Any:
    """A set-up write an earlier run may have done: 409 already_exists is fine."""
    try:
        return await sim.api.call("POST", url, token=sim.admin, key=key, body=body)
    except Refused as error:
        if error.code != "already_exists":
            raise
        return None


async def shops(sim: Simulator) -> None:
    """Shops enrolled at the merchant service, each with a till (several at once)."""
    devices = sim.state.devices()
    limit = asyncio.Semaphore(sim.concurrency)

    async def one(shop: Shop) -> None:
        async with limit:
            await enrol(sim, shop, devices)

    await asyncio.gather(*(one(shop) for shop in sim.city.shops))
    sim.state.keep_devices(devices)


async def enrol(sim: Simulator, shop: Shop, devices: dict[str, str]) -> None:
    seed, url = sim.config.seed, sim.urls.merchant
    r = random.Random(f"{seed}:shop-place:{shop.index}")
    district = "Mueang Khon Kaen" if r.random() < 0.8 else r.choice(MERCHANT_DISTRICTS)
    body = {
        "name": f"{shop.category.title()} {shop.index} ({shop.district})",
        "category": MERCHANT_CATEGORY[shop.category], "district": district,
        "latitude": round(16.43 + r.uniform(-0.05, 0.05), 5),
        "longitude": round(102.83 + r.uniform(-0.05, 0.05), 5),
        "size_class": "small" if shop.small else "large",
        "rules": {"coin_value_satang": SHOP_SATANG_PER_COIN, "max_coin_share_percent": 50,
                  "matching_programme": "shop-matching"},
        "contact": {"person": f"Owner of shop {shop.index}", "phone": "+66 43 000 000"},
    }  # fmt: skip
    enrolled = await sim.api.call(
        "POST", f"{url}/merchant/v1/shops", token=sim.admin,
        key=f"sim-{seed}-shop-{shop.index}", body=body,
    )  # fmt: skip
    sim.shop_ids[shop.index] = enrolled["shop_id"]
    sim.shop_payees[shop.index] = enrolled["payee_account_id"]
    name = f"till-{seed}-{shop.index}"
    if name not in devices:
        till = await sim.api.call(
            "POST", f"{url}/merchant/v1/shops/{enrolled['shop_id']}/tills", token=sim.admin,
            key=f"sim-{seed}-{name}-{time.time_ns()}", body={"label": "till"},
        )  # fmt: skip
        devices[name] = till["secret"]
    sim.tills[shop.index] = devices[name]


async def bus_network(sim: Simulator) -> None:
    """The route, the 1-baht campaign, the buses and two validators a bus at transit."""
    from services.wallet.domain.ids import payee_id

    t, c, devices = sim.urls.transit, sim.config, sim.state.devices()
    await once(sim, f"{t}/v1/routes", "sim-route",
               {"route_id": "kk-1", "name": "Khon Kaen city bus", "length_km": float(c.route_km)})  # fmt: skip # noqa: E501
    await once(sim, f"{t}/v1/campaigns", "sim-campaign", {
        "campaign_id": "one-baht-bus-2022", "programme": BUS_SETTLEMENT_PROGRAMME,
        "starts_at": datetime.combine(c.campaign_start, dtime(0), BANGKOK).isoformat(),
        "ends_at": datetime.combine(c.campaign_end, dtime(23, 59, 59), BANGKOK).isoformat(),
        "coins": c.campaign_fare_coins, "baht_satang": c.campaign_fare_satang, "daily_cap": 2,
    })  # fmt: skip
    for bus in range(c.buses):
        bus_id = f"kkb-{bus + 1:02d}"
        await once(
            sim, f"{t}/v1/buses", f"sim-bus-{bus_id}", {"bus_id": bus_id, "route_id": "kk-1"}
        )
        for door in range(2):
            validator = f"{bus_id}-v{door + 1}"
            name = f"validator-{validator}"
            if name not in devices:
                made = await once(sim, f"{t}/v1/validators", f"sim-{name}",
                                  {"validator_id": validator, "bus_id": bus_id})  # fmt: skip
                if made is None or not made.get("credential"):
                    made = await sim.api.call(
                        "POST", f"{t}/v1/validators/{validator}/credential", token=sim.admin,
                        key=f"sim-{name}-{time.time_ns()}",
                    )  # fmt: skip
                devices[name] = made["credential"]
            sim.validators[(bus, door)] = devices[name]
    sim.state.keep_devices(devices)
    sim.bus_payee = str(payee_id("operator", BUS_OPERATOR_REF))


async def payee(sim: Simulator, kind: str, ref: str, label: str, key: str) -> str:
    from services.wallet.domain.ids import payee_id

    await once(sim, f"{sim.urls.wallet}/v1/payees", key,
               {"kind": kind, "external_ref": ref, "label": label})  # fmt: skip
    return str(payee_id(kind, ref))
