"""A pass on the deny list comes off it by an operator's decision: recorded once per
Idempotency-Key (``PassReinstated``, pseudonymous), gone from the list validators download,
its loss cover forgiven so the offline allowance starts again; over it again, denied again."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from kgo_contracts.transit import PassDenied, PassReinstated
from services.transit.adapters.contracts import to_contract
from services.transit.application.batches import upload
from services.transit.domain.errors import NotDenied
from services.transit.domain.ids import pass_key

from .conftest import MORNING, Transit, build_transit
from .test_http import Api, api  # noqa: F401  (the HTTP fixture)

pytestmark = pytest.mark.unit


async def _denied(transit: Transit, token: str = "pass-A") -> None:
    rider = transit.wallet.resident(100, token)
    await transit.tap(token, MORNING - timedelta(days=1))  # online: the wallet is known
    transit.wallet.balances[rider] = 0  # spent elsewhere before the upload
    batch = [
        transit.request(token, MORNING + timedelta(minutes=m), bus=b, offline=True)
        for m, b in ((0, "bus-01"), (30, "bus-02"), (60, "bus-03"))
    ]
    await upload(transit.collector, batch)
    assert transit.digest(token) in transit.store.deny_list().digests


def _published(transit: Transit) -> list[object]:
    events = (
        to_contract(transit.store.mapper.to_domain_event(n))
        for n in transit.store.recorder.select_notifications(1, 10_000)
    )
    return [e for e in events if e is not None]


async def test_an_operator_takes_a_pass_off_the_deny_list() -> None:
    transit = build_transit(offline_allowance=50)
    await _denied(transit)
    pass_id = pass_key(transit.digest("pass-A"))
    answer = await transit.admin.once(
        "admin", "k1", "reinstate_pass", {"pass_id": str(pass_id)},
        lambda: transit.admin.reinstate_pass(pass_id, "shortfall_repaid"),
    )  # fmt: skip
    assert answer.status == 200 and answer.body["forgiven_coins"] == 50
    again = await transit.admin.once(
        "admin", "k1", "reinstate_pass", {"pass_id": str(pass_id)},
        lambda: transit.admin.reinstate_pass(pass_id, "shortfall_repaid"),
    )  # fmt: skip
    assert again.replayed and again.body == answer.body
    assert transit.store.deny_list().digests == {}
    with pytest.raises(NotDenied):
        transit.admin.reinstate_pass(pass_id, "appeal_upheld")
    [denied] = [e for e in _published(transit) if isinstance(e, PassDenied)]
    [back] = [e for e in _published(transit) if isinstance(e, PassReinstated)]
    assert back.pass_id == denied.pass_id == pass_id and back.reason == "shortfall_repaid"
    assert back.forgiven_coins == 50 and b"pass-A" not in back.model_dump_json().encode()

    # Riding again; the allowance starts again, and over it the pass is denied again.
    rider = transit.wallet.passes["pass-A"]
    transit.wallet.balances[rider] = 50
    paid = await transit.tap("pass-A", MORNING + timedelta(hours=5), bus="bus-05")
    assert (paid.status, paid.coins) == ("paid", 50)
    transit.wallet.balances[rider] = 0
    later = MORNING + timedelta(days=1)
    offline = [
        transit.request("pass-A", later + timedelta(minutes=m), bus=b, offline=True)
        for m, b in ((0, "bus-01"), (30, "bus-02"))
    ]
    covered, over = await upload(transit.collector, offline)
    assert (covered.status, covered.shortfall_covered) == ("paid", 50)
    assert (over.status, over.reason) == ("declined", "insufficient_coins")
    assert transit.digest("pass-A") in transit.store.deny_list().digests


async def test_reinstating_over_http_and_the_validators_download(api: Api) -> None:  # noqa: F811
    transit = api.transit
    transit.collector.policy = replace(transit.collector.policy, offline_allowance=50)
    await _denied(transit, "pass-DDDD4444")
    device = await api.validator("val-04", "bus-04")
    listed = (await api.client.get("/v1/deny-list", headers=device)).json()
    assert listed["digests"] == [transit.digest("pass-DDDD4444")]
    pass_id = pass_key(transit.digest("pass-DDDD4444"))
    path = f"/v1/deny-list/{pass_id}"
    headers = api.admin | {"Idempotency-Key": "r1"}
    done = await api.client.delete(path, params={"reason": "appeal_upheld"}, headers=headers)
    assert done.status_code == 200, done.text
    replay = await api.client.delete(path, params={"reason": "appeal_upheld"}, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    other = await api.client.delete(path, params={"reason": "denied_in_error"}, headers=headers)
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    gone = await api.client.delete(
        path, params={"reason": "appeal_upheld"}, headers=api.admin | {"Idempotency-Key": "r2"}
    )
    assert (gone.status_code, gone.json()["code"]) == (404, "not_denied")
    bad = await api.client.delete(path, params={"reason": "because"}, headers=headers)
    assert bad.status_code == 422
    now = (await api.client.get("/v1/deny-list", headers=device)).json()
    assert now["digests"] == [] and now["version"] > listed["version"]
    refused = await api.client.delete(
        path, params={"reason": "appeal_upheld"}, headers=device | {"Idempotency-Key": "r3"}
    )
    assert refused.status_code == 403
