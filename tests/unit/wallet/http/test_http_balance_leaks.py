"""Answers carry only what the caller may read (a defect found from outside).

A payee refused ``GET /v1/wallets/{w}`` used to learn the balance from a refused spend
("account has 1000 coins available, 1000000 needed"), and whether the wallet existed (404
versus 409); successful spends, holds, captures and grants answered the resident's balance
to shops and programme operators.
"""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import uuid4

import pytest

pytestmark = pytest.mark.unit


def carries_no_balance(response: Any, *figures: int) -> None:
    text = response.text
    body = response.json()
    assert "available" not in text and "held" not in text, body
    # Figures as values or words, not as digits inside an id or a timestamp ("...0.840").
    words = {w for leaf in _leaves(body) for w in re.findall(r"\d[\d,]*", _prose(leaf))}
    for figure in figures:
        assert str(figure) not in words and f"{figure:,}" not in words, body
        assert figure not in [leaf for leaf in _leaves(body) if isinstance(leaf, int)], body
    json.dumps(body)  # a plain document


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _prose(leaf: Any) -> str:
    """A string leaf without its ids and timestamps."""
    if not isinstance(leaf, str):
        return ""
    leaf = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", " ", leaf)
    return re.sub(r"\d{4}-\d{2}-\d{2}T[\d:.]+([+-]\d{2}:\d{2}|Z)?", " ", leaf)


async def test_a_payee_learns_neither_balance_nor_existence_from_a_refused_spend(
    city: Any,
) -> None:
    city.api.problem(
        await city.api.get(f"/v1/wallets/{city.wallet_id}", city.shop), 403, "forbidden"
    )
    answers = []
    for wallet_id in (city.wallet_id, str(uuid4())):
        body = {"wallet_id": wallet_id, "payee_id": city.shop_id, "amount": 1_000_000,
                "reference": "probe"}  # fmt: skip
        answers.append(await city.api.post("/v1/spends", body, city.shop))
    real, made_up = answers
    carries_no_balance(real, 1_000)
    assert real.status_code == made_up.status_code
    assert real.json()["code"] == made_up.json()["code"]


async def test_a_refused_spend_names_no_figure_even_to_the_service(city: Any) -> None:
    refused = await city.api.post("/v1/spends", await city.pay(1_000_000), city.service)
    city.api.problem(refused, 409, "insufficient_funds")
    carries_no_balance(refused, 1_000)


async def test_payments_answer_the_wallet_never_its_balance(city: Any) -> None:
    spent = await city.api.post("/v1/spends", await city.pay(100), city.service)
    placed = await city.api.post("/v1/holds", await city.pay(200), city.service)
    hold = f"/v1/wallets/{city.wallet_id}/holds/{placed.json()['hold_id']}"
    captured = await city.api.post(
        f"{hold}/capture", {"payee_id": city.shop_id, "amount": 50}, city.service
    )
    placed_again = await city.api.post("/v1/holds", await city.pay(10), city.service)
    released = await city.api.post(
        f"/v1/wallets/{city.wallet_id}/holds/{placed_again.json()['hold_id']}/release",
        None, city.service,
    )  # fmt: skip

    for answer in (spent, placed, captured, released):
        assert answer.is_success, answer.text
        carries_no_balance(answer, 900, 700, 850, 840)


async def test_a_grant_answers_a_programme_operator_without_the_residents_balance(
    city: Any,
) -> None:
    grant = {"programme": "welcome", "wallet_id": city.wallet_id, "amount": 7,
             "reason": "walk", "reference": "walk:1"}  # fmt: skip
    granted = await city.api.post("/v1/grants", grant, city.operator)
    assert granted.status_code == 201, granted.text
    carries_no_balance(granted, 1_007)
    assert granted.json()["wallet_id"] == city.wallet_id


async def test_an_exhausted_budget_does_not_tell_a_service_its_balance(city: Any) -> None:
    """A service may not read budgets (GET /v1/budgets is admin, operator and auditor)."""
    grant = {"programme": "welcome", "wallet_id": city.wallet_id, "amount": 9_001,
             "reason": "festival", "reference": "festival:1"}  # fmt: skip
    refused = await city.api.post("/v1/grants", grant, city.service)
    city.api.problem(refused, 409, "budget_exhausted")
    carries_no_balance(refused, 9_000)
