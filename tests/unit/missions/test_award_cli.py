"""`kgo missions award`: 40 attendees of a clean-up day, among them a malformed row, a
duplicate row and a stranger; the job is cut off after 15 requests and run again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from kgo_cli.missions_cmd import run_award
from kgo_runtime.access import Role

from .conftest import Api, ConsumerHarness, opened
from .test_http import ACTIVITY

pytestmark = pytest.mark.unit


class CutOff(httpx.AsyncBaseTransport):
    """The real app until ``after`` requests, then a network that is gone."""

    def __init__(self, inner: httpx.AsyncBaseTransport, after: int) -> None:
        self.inner, self.after, self.sent = inner, after, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        if self.sent > self.after:
            raise httpx.ConnectError("gone")
        return await self.inner.handle_async_request(request)


async def test_award_pays_each_attendee_once_across_an_interruption(
    api: Api, harness: ConsumerHarness, tmp_path: Path
) -> None:
    attendees = [uuid4() for _ in range(40)]
    for wallet in attendees:
        await harness.feed(opened(wallet))
    op = api.token(Role.PROGRAMME_OPERATOR, "municipal-activities")
    token = op["Authorization"].removeprefix("Bearer ")
    activity = UUID((await api.post("/v1/activities", ACTIVITY, op)).json()["activity_id"])
    api.clock.advance(hours=2)
    lines = ["name_ignored,wallet_id", *(f"x,{w}" for w in attendees)]
    lines += ["x,not-a-wallet", f"x,{attendees[3]}", f"x,{uuid4()}"]
    csv_file = tmp_path / "attendees.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    app_transport = api.client._transport

    first, rows = await run_award(csv_file, activity, "http://missions", token, 4,
                                  CutOff(app_transport, after=15), attempts=1)  # fmt: skip
    assert rows == 41
    assert first.outcomes["unreachable"] > 0
    assert first.outcomes["malformed"] == first.outcomes["duplicate_row"] == 1

    second, _ = await run_award(csv_file, activity, "http://missions", token, 4, app_transport)
    assert second.outcomes["unreachable"] == 0
    assert second.outcomes["unknown_resident"] == 1
    assert second.outcomes["done_in_an_earlier_run"] == first.outcomes["paid"]
    assert first.outcomes["paid"] + second.outcomes["paid"] + second.outcomes["paid_earlier"] == 40

    paid = [d for w in attendees for d in harness.missions.completions(w)
            if d.programme == "municipal-activities"]  # fmt: skip
    assert len(paid) == 40 and {d.reward for d in paid} == {30}
    assert timedelta(0) <= api.clock.now() - paid[0].occurred_at


class FakeCards:
    """The wallet's card look-up, in a dict."""

    def __init__(self, cards: dict[str, UUID]) -> None:
        self.cards = cards

    async def resolve(self, card_number: str) -> UUID | None:
        return self.cards.get(card_number)


async def test_attendees_named_by_card_number(
    api: Api, harness: ConsumerHarness, tmp_path: Path
) -> None:
    holders = {f"6001{n:08d}": uuid4() for n in range(5)}
    for wallet in holders.values():
        await harness.feed(opened(wallet))
    api.client._transport.app.state.missions.cards = FakeCards(holders)  # type: ignore[attr-defined]
    op = api.token(Role.MUNICIPAL_ADMIN)
    token = op["Authorization"].removeprefix("Bearer ")
    activity = UUID((await api.post("/v1/activities", ACTIVITY, op)).json()["activity_id"])
    api.clock.advance(hours=2)
    csv_file = tmp_path / "cards.csv"
    csv_file.write_text("card_number\n" + "\n".join([*holders, "6001-9999-9999", "12"]) + "\n")
    tally, rows = await run_award(csv_file, activity, "http://missions", token, 2,
                                  api.client._transport)  # fmt: skip
    assert (rows, tally.outcomes["paid"], tally.outcomes["unknown_card"]) == (6, 5, 1)
    assert tally.outcomes["malformed"] == 1
    for wallet in holders.values():
        assert [d.reward for d in harness.missions.completions(wallet)] == [100, 30]
