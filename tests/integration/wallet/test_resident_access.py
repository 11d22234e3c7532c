"""Residents' access on the real PostgreSQL: the code store, the shared rate limiter and the
refresh-token rotation, each where only a real database shows it (row locks across
connections, counters shared by processes), then a whole signup and sign-in on the real
ledger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kgo_runtime.access import AccessSigner
from kgo_runtime.clock import ManualClock
from services.wallet.adapters.one_time_codes import PostgresChallenges
from services.wallet.adapters.personal_data import PersonalDataVault
from services.wallet.adapters.rate_limits import PostgresRateLimiter
from services.wallet.adapters.resident_keys import PostgresResidentKeys
from services.wallet.adapters.sessions import PostgresRefreshTokens
from services.wallet.application.bus import CommandBus
from services.wallet.application.ledger import WalletLedger
from services.wallet.application.resident_access import (
    AccessPolicy,
    AccessRefused,
    ResidentAccess,
    refresh_hash,
)
from services.wallet.domain.resident_access import (
    Challenge,
    Purpose,
    RefreshGrant,
    RefreshVerdict,
    Verdict,
    attempt,
    rotate,
)
from services.wallet.domain.signup_origin import signup_origin
from services.wallet.entrypoints.container import resident_data
from services.wallet.settings import WalletSettings

pytestmark = pytest.mark.integration

T0 = datetime.fromisoformat("2026-03-02T09:00:00+07:00")


@pytest.fixture
async def pools(wallet_settings: WalletSettings) -> AsyncIterator[list[asyncpg.Pool]]:
    """Two pools: two wallet processes sharing one database."""
    opened = [
        await asyncpg.create_pool(wallet_settings.database_url, min_size=1, max_size=6)
        for _ in range(2)
    ]
    yield opened
    for pool in opened:
        await pool.close()


async def test_two_processes_count_against_one_limit(
    pools: list[asyncpg.Pool], wallet_settings: WalletSettings
) -> None:
    schema = wallet_settings.database_schema
    a, b = (PostgresRateLimiter(pool, schema=schema) for pool in pools)
    await asyncio.gather(a.create_tables(), b.create_tables())
    window = timedelta(minutes=15)
    at = T0 + timedelta(minutes=1)

    answers = await asyncio.gather(
        *(limiter.hit("send:phone:x", limit=3, window=window, now=at) for limiter in [a, b] * 3)
    )

    assert sorted(answers, key=lambda w: w is not None)[:3] == [None, None, None]
    waits = [w for w in answers if w is not None]
    assert len(waits) == 3 and all(w == timedelta(minutes=14) for w in waits)
    assert await a.hit("send:phone:y", limit=3, window=window, now=at) is None
    assert await b.hit("send:phone:x", limit=3, window=window, now=at + window) is None


def _challenge(code_hash: str = "right") -> Challenge:
    return Challenge(
        challenge_id=uuid4(), purpose=Purpose.SIGNUP, phone_index="phone-index",
        code_hash=code_hash, created_at=T0, expires_at=T0 + timedelta(minutes=5),
        max_attempts=5, sealed_request="sealed",
    )  # fmt: skip


async def test_a_code_is_accepted_once_across_processes(
    pools: list[asyncpg.Pool], wallet_settings: WalletSettings
) -> None:
    schema = wallet_settings.database_schema
    a, b = (PostgresChallenges(pool, schema=schema) for pool in pools)
    await asyncio.gather(a.create_tables(), b.create_tables())
    challenge = _challenge()
    assert await a.add(challenge, request_key="rk", request_hash="rh")
    assert not await b.add(_challenge(), request_key="rk", request_hash="rh")
    found = await b.find_request("rk")
    assert found is not None and found == (challenge, "rh")

    async def confirm(store: PostgresChallenges, n: int) -> Verdict | None:
        decided = await store.decide(
            challenge.challenge_id, Purpose.SIGNUP,
            lambda c: attempt(c, "right", f"key-{n}", T0 + timedelta(seconds=1)),
        )  # fmt: skip
        return None if decided is None else decided[0]

    verdicts = await asyncio.gather(*(confirm(s, n) for n, s in enumerate([a, b] * 5)))

    assert sorted(verdicts) == sorted([Verdict.CONFIRMED] + [Verdict.USED] * 9)
    wrong_purpose = await a.decide(
        challenge.challenge_id, Purpose.SIGN_IN, lambda c: attempt(c, "right", "k", T0)
    )
    assert wrong_purpose is None


async def test_wrong_codes_are_counted_under_the_lock(
    pools: list[asyncpg.Pool], wallet_settings: WalletSettings
) -> None:
    store = PostgresChallenges(pools[0], schema=wallet_settings.database_schema)
    await store.create_tables()
    challenge = _challenge()
    await store.add(challenge, request_key="rk2", request_hash="rh")

    async def guess(n: int) -> Verdict:
        decided = await store.decide(
            challenge.challenge_id, Purpose.SIGNUP, lambda c: attempt(c, f"g{n}", "k", T0)
        )
        assert decided is not None
        return decided[0]

    verdicts = await asyncio.gather(*(guess(n) for n in range(8)))

    assert verdicts.count(Verdict.INCORRECT) == 5
    assert verdicts.count(Verdict.EXHAUSTED) == 3
    assert await store.prune(T0 + timedelta(days=2)) == 1


async def test_one_refresh_token_rotates_once_and_its_reuse_revokes_the_family(
    pools: list[asyncpg.Pool], wallet_settings: WalletSettings
) -> None:
    schema = wallet_settings.database_schema
    a, b = (PostgresRefreshTokens(pool, schema=schema) for pool in pools)
    await asyncio.gather(a.create_tables(), b.create_tables())
    family, wallet = uuid4(), uuid4()
    await a.add(RefreshGrant("t0", family, wallet, T0, T0 + timedelta(days=30)))

    async def refresh(store: PostgresRefreshTokens, n: int) -> RefreshVerdict:
        rotation = await store.decide(
            "t0",
            lambda p, s: rotate(p, s, new_hash=f"t{n + 1}", key_hash=f"k{n}", now=T0,
                                ttl=timedelta(days=30)),
        )  # fmt: skip
        return rotation.verdict

    verdicts = await asyncio.gather(refresh(a, 0), refresh(b, 1))

    assert sorted(verdicts) == sorted([RefreshVerdict.ROTATED, RefreshVerdict.REUSED])
    revoked = await pools[0].fetch(
        f"SELECT token_hash, revoked FROM {schema}.wallet_refresh_tokens ORDER BY token_hash"
    )
    assert [r["revoked"] for r in revoked] == [True, True]


@dataclass
class Outbox:
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send_code(self, phone: str, code: str, purpose: Purpose, at: datetime) -> None:
        self.sent.append((phone, code))


async def test_signup_and_sign_in_on_the_real_ledger(
    pools: list[asyncpg.Pool], wallet_settings: WalletSettings, bus: CommandBus,
    ledger: WalletLedger,
) -> None:  # fmt: skip
    schema, pool = wallet_settings.database_schema, pools[0]
    clock = ManualClock(T0)
    stores = (
        PostgresChallenges(pool, schema=schema),
        PostgresRateLimiter(pool, schema=schema),
        PostgresRefreshTokens(pool, schema=schema),
    )
    for store in stores:
        await store.create_tables()
    keys = PostgresResidentKeys(pool, schema=schema)
    await keys.create_tables()
    outbox, vault = Outbox(), PersonalDataVault(bytes(32), bytes(range(32)))
    access = ResidentAccess(
        policy=AccessPolicy(terms_version="t1"), clock=clock, secret=b"k" * 32,
        vault=vault, ledger=ledger, bus=bus,
        issuer=AccessSigner(Ed25519PrivateKey.generate(), clock), notifier=outbox,
        challenges=stores[0], limiter=stores[1], refresh_tokens=stores[2],
        data=resident_data(wallet_settings, vault, keys, ledger, bus, clock),
    )  # fmt: skip
    nid, phone = "3100100123452", "0812345678"

    started = await access.begin_signup(
        national_id=nid, phone=phone, terms_version="t1", client="10.0.0.1", key="s1"
    )
    session = await access.confirm(
        Purpose.SIGNUP, started.challenge_id, outbox.sent[-1][1], client="10.0.0.1", key="c1",
        device="app-device-7",
    )  # fmt: skip
    # the stored (then published) AccountOpened carries the origins, never the device id
    from services.wallet.adapters.contracts import published_history

    opened = published_history(ledger, session.wallet_id)[0]
    expected = signup_origin(b"k" * 32, client="10.0.0.200", device="app-device-7", at=T0)
    assert (opened["origin_network"], opened["origin_device"]) == (
        expected.network, expected.device,
    )  # fmt: skip
    assert "app-device-7" not in repr(opened) and "10.0.0" not in repr(opened)
    challenge = await access.begin_sign_in(phone=phone, client="10.0.0.1", key="s2")
    signed_in = await access.confirm(
        Purpose.SIGN_IN, challenge.challenge_id, outbox.sent[-1][1], client="10.0.0.1", key="c2"
    )

    assert signed_in.wallet_id == session.wallet_id
    assert ledger.account(session.wallet_id) is not None
    rows = await pool.fetch(f"SELECT * FROM {schema}.wallet_code_challenges")
    stored = repr([dict(r) for r in rows])
    assert nid not in stored and phone not in stored
    assert all(code not in stored for _, code in outbox.sent)
    refreshed = await access.refresh(signed_in.refresh_token, key="r1")
    assert refreshed.wallet_id == session.wallet_id
    tokens = await pool.fetch(f"SELECT token_hash FROM {schema}.wallet_refresh_tokens")
    assert refresh_hash(signed_in.refresh_token) in {r["token_hash"] for r in tokens}
    assert signed_in.refresh_token not in repr([dict(r) for r in tokens])
    with pytest.raises(AccessRefused) as reused:
        await access.refresh(signed_in.refresh_token, key="r2")
    assert reused.value.code == "refresh_token_reused"
