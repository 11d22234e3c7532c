"""The merchant's HTTP edge on the in-memory application: statuses, problem codes, the
Idempotency-Key, roles, the till's shop binding. The app comes from ``bootstrap.create_app``;
its state is filled with the unit harness instead of running the lifespan."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from kgo_runtime.access import AccessSigner, Authenticator, Principal, Role
from services.merchant.adapters.tills import till_principal
from services.merchant.bootstrap import create_app
from services.merchant.entrypoints.container import MerchantContainer
from services.merchant.settings import MerchantSettings

from .conftest import Harness

pytestmark = pytest.mark.unit

ENROL = {
    "name": "Khao Niao Ban Phai", "category": "food_and_drink", "district": "Ban Phai",
    "latitude": 16.06, "longitude": 102.73, "size_class": "small",
    "contact": {"person": "Khun Malee", "phone": "+66 81 234 5678"},
}  # fmt: skip


class Edge:
    def __init__(self) -> None:
        self.h = Harness()
        signer = AccessSigner(Ed25519PrivateKey.generate(), clock=self.h.clock)
        self.tills: dict[str, Principal] = {}

        async def till(token: str) -> Principal | None:
            return self.tills.get(token)

        app = create_app(MerchantSettings(), clock=self.h.clock, wallet=self.h.wallet)
        app.state.access = Authenticator(verifier=signer.verifier, devices=(till,))
        app.state.merchant = MerchantContainer(
            settings=MerchantSettings(), clock=self.h.clock, shops=self.h.shops,
            redemptions=self.h.redemptions, circulation=self.h.circulation,
            tills=None, book=None,  # type: ignore[arg-type]
        )  # fmt: skip
        self.client = TestClient(app)
        admin = signer.issue(Role.MUNICIPAL_ADMIN, "admin", None, timedelta(hours=1)).token
        self.admin = {"Authorization": f"Bearer {admin}"}

    def post(self, path: str, body: dict, who: dict, key: str | None = None):
        headers = who | ({"Idempotency-Key": key} if key else {})
        return self.client.post(path, json=body, headers=headers)

    def shop_with_till(self) -> tuple[str, dict]:
        answer = self.post("/merchant/v1/shops", ENROL, self.admin, uuid4().hex)
        assert answer.status_code == 201, answer.text
        shop = answer.json()["shop_id"]
        secret = f"kgo_till_{uuid4().hex}"
        self.tills[secret] = till_principal(uuid4(), UUID(shop), "t")
        return shop, {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def edge() -> Edge:
    return Edge()


def test_a_redemption_over_http_and_its_retry(edge: Edge):
    shop, till = edge.shop_with_till()
    code = edge.h.wallet.payment_code(edge.h.wallet.resident(100))
    body = {"payment_code": code, "bill_satang": 12_000, "coins": 25}
    first = edge.post("/merchant/v1/redemptions", body, till, "k1")
    assert first.status_code == 201 and first.json()["shop_id"] == shop
    again = edge.post("/merchant/v1/redemptions", body, till, "k1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    other = edge.post("/merchant/v1/redemptions", body | {"coins": 1}, till, "k1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    used = edge.post("/merchant/v1/redemptions", body, till, "k2")
    assert used.status_code == 409 and used.json()["code"] == "payment_code_used"
    assert used.headers["content-type"].startswith("application/problem+json")
    assert edge.post("/merchant/v1/redemptions", body, till).json()["code"] == (
        "idempotency_key_required"
    )
    scanned = edge.h.wallet.payment_code(edge.h.wallet.resident(100))
    qr = edge.post("/merchant/v1/redemptions", body | {"payment_code": f"kgo:pay:{scanned}"},
                   till, "k3")  # fmt: skip
    assert qr.status_code == 201, qr.text


def test_roles_and_the_tills_shop(edge: Edge):
    shop, till = edge.shop_with_till()
    other, _ = edge.shop_with_till()
    body = {"payment_code": "12345678", "bill_satang": 1_000, "coins": 1}
    assert edge.post("/merchant/v1/redemptions", body, edge.admin, "k").status_code == 403
    assert edge.post("/merchant/v1/shops", ENROL, till, "k").status_code == 403
    assert edge.client.get(f"/merchant/v1/shops/{shop}", headers=till).status_code == 200
    assert edge.client.get(f"/merchant/v1/shops/{other}", headers=till).status_code == 403
    no_token = edge.client.post("/merchant/v1/redemptions", json=body)
    assert no_token.status_code == 401


def test_rule_errors_lockout_and_an_unanswering_wallet(edge: Edge):
    bad = edge.post("/merchant/v1/shops", ENROL | {"district": "Bang Rak"}, edge.admin, "e")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_shop"
    _, till = edge.shop_with_till()
    for guess in range(5):
        body = {"payment_code": f"{guess:08d}", "bill_satang": 1_000, "coins": 1}
        assert edge.post("/merchant/v1/redemptions", body, till, f"g{guess}").status_code == 409
    locked = edge.post("/merchant/v1/redemptions", body, till, "g-last")
    assert locked.status_code == 429 and locked.json()["code"] == "till_locked"
    assert int(locked.headers["Retry-After"]) >= 1
    _, fresh = edge.shop_with_till()
    edge.h.wallet.down = True
    down = edge.post("/merchant/v1/redemptions", body, fresh, "d")
    assert down.status_code == 503 and down.json()["code"] == "wallet_unavailable"
    assert down.headers["Retry-After"] == "1"


def test_a_card_and_pin_pay_over_http_and_the_wallets_refusals_keep_their_codes(edge: Edge):
    _, till = edge.shop_with_till()
    card = edge.h.wallet.card(edge.h.wallet.resident(100), "2580")
    spaced = f"{card[:4]} {card[4:8]}-{card[8:12]} {card[12:]}"
    body = {"card": {"card_number": spaced, "pin": "2580"}, "bill_satang": 12_000, "coins": 25}
    paid = edge.post("/merchant/v1/redemptions", body, till, "c1")
    assert paid.status_code == 201, paid.text
    wrong = body | {"card": {"card_number": card, "pin": "1111"}}
    refused = edge.post("/merchant/v1/redemptions", wrong, till, "c2")
    assert refused.status_code == 409
    assert refused.json()["code"] == "pin_incorrect" and refused.json()["attempts_left"] == 4
    assert "1111" not in refused.text and card not in refused.text
    for key in ("c3", "c4", "c5"):
        edge.post("/merchant/v1/redemptions", wrong, till, key)
    locked = edge.post("/merchant/v1/redemptions", wrong, till, "c6")  # the fifth wrong PIN
    assert locked.status_code == 423 and locked.json()["code"] == "card_locked"
    # Five guesses (MERCHANT_GUESS_LIMIT) lock the till out too.
    locked_till = edge.post("/merchant/v1/redemptions", body, till, "c7")
    assert locked_till.status_code == 429 and locked_till.json()["code"] == "till_locked"


@pytest.mark.parametrize("both", [True, False])
def test_exactly_one_of_payment_code_or_card(edge: Edge, both: bool):
    _, till = edge.shop_with_till()
    body: dict = {"bill_satang": 12_000, "coins": 25}
    if both:
        body |= {"payment_code": "12345678", "card": {"card_number": "4" * 16, "pin": "2580"}}
    answer = edge.post("/merchant/v1/redemptions", body, till, "x1")
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_request"
    assert "exactly one of payment_code or card" in answer.json()["detail"]


def test_the_till_and_shop_routes_are_answered_by_a_plan_of_their_dependencies() -> None:
    """kgo_runtime.direct_routes.DirectRoute takes every merchant route (every dependency
    async, none twice), not FastAPI's solver on every request."""
    from fastapi.routing import APIRoute

    from services.merchant.entrypoints.http import routes_shops, routes_till

    for router in (routes_till.router, routes_shops.router):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            cells = route.app.__closure__ or ()
            names = {getattr(c.cell_contents, "__qualname__", "") for c in cells}
            assert any("DirectRoute" in name for name in names), route.path
