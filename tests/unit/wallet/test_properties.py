"""Random command sequences never break conservation and never take a balance below zero,
and the published events fold (schemas' reference fold) to exactly the ledger's balances."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgo_contracts.fold import fold
from services.wallet.adapters.contracts import to_contract
from services.wallet.application import commands as c
from services.wallet.domain.account import Account

from .conftest import Treasury

pytestmark = pytest.mark.unit

amounts = st.integers(min_value=1, max_value=400)
op = st.one_of(
    st.tuples(st.just("grant"), st.integers(0, 3), amounts),
    st.tuples(st.just("spend"), st.integers(0, 3), amounts),
    st.tuples(st.just("hold"), st.integers(0, 3), amounts),
    st.tuples(st.just("capture"), st.integers(0, 9), st.one_of(st.none(), amounts)),
    st.tuples(st.just("release"), st.integers(0, 9), st.none()),
    st.tuples(st.just("tick"), st.integers(1, 120), st.none()),
    st.tuples(st.just("expire"), st.integers(0, 9), st.none()),
    st.tuples(st.just("retry"), st.integers(0, 50), st.none()),
)


def published_fold(ledger) -> dict[str, tuple[int, int]]:
    records = []
    for n in ledger.recorder.select_notifications(1, 1_000_000):
        contract = to_contract(ledger.mapper.to_domain_event(n))
        if contract is not None:
            records.append((str(n.id), contract.ce_type(), contract.model_dump(mode="json")))
    folded = fold(records)
    folded.check_conservation()
    return {k: (b.available, b.held) for k, b in folded.balances.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=60), batch=st.integers(1, 8))
def test_random_commands_conserve_coins(ops, batch):
    t = Treasury()
    t.budget("welcome", 2_000)
    residents = [t.resident(i) for i in range(4)]
    shop = t.shop("shop")
    holds: list[tuple[UUID, UUID]] = []
    sent: list[c.Command] = []
    pending: list[c.Command] = []

    def flush() -> None:
        for cmd, out in zip(pending, t.ledger.execute(pending), strict=True):
            if isinstance(cmd, c.PlaceHold) and out.status == 201:
                holds.append((cmd.wallet_id, UUID(out.body["hold_id"])))
        pending.clear()

    for kind, i, amount in ops:
        if kind == "tick":
            flush()
            t.now += timedelta(seconds=i)
            continue
        if kind == "retry" and sent:
            pending.append(sent[i % len(sent)])
        elif kind == "grant":
            pending.append(
                t.cmd(
                    c.Grant,
                    programme="welcome",
                    wallet_id=residents[i],
                    amount=amount,
                    reason="r",
                    reference="g",
                )
            )
        elif kind == "spend":
            pending.append(
                t.cmd(c.Spend, wallet_id=residents[i], payee_id=shop, amount=amount, reference="s")
            )
        elif kind == "hold":
            pending.append(
                t.cmd(
                    c.PlaceHold,
                    wallet_id=residents[i],
                    payee_id=shop,
                    amount=amount,
                    reference="h",
                    ttl_seconds=60,
                )
            )
        elif holds and kind in ("capture", "release", "expire"):
            wallet, hold_id = holds[i % len(holds)]
            if kind == "capture":
                pending.append(
                    t.cmd(
                        c.CaptureHold,
                        wallet_id=wallet,
                        hold_id=hold_id,
                        payee_id=shop,
                        amount=amount,
                    )
                )
            elif kind == "release":
                pending.append(t.cmd(c.ReleaseHold, wallet_id=wallet, hold_id=hold_id))
            else:
                pending.append(t.cmd(c.ExpireHold, wallet_id=wallet, hold_id=hold_id))
        if pending and kind != "retry":
            sent.append(pending[-1])
        if len(pending) >= batch:
            flush()
    flush()

    accounts = {UUID(k): v for k, v in published_fold(t.ledger).items()}
    total = 0
    for account_id, (available, held) in accounts.items():
        account = t.ledger.repository.get(account_id)
        assert isinstance(account, Account)
        assert account.available >= 0 and account.held >= 0
        assert (account.available, account.held) == (available, held)
        assert account.held == sum(h["amount"] for h in account.holds.values())
        total += available + held
    assert total == 1_000_000
