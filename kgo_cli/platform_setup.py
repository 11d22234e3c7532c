"""The treasury's one-time preparation on a running platform, through the wallet's own API:
an administrator token (kept in $KGO_HOME/secrets/admin.token, 0600), the genesis mint, and
the programme budgets. Every step carries an idempotency key, so running it again changes
nothing."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import httpx

from kgo_runtime.settings import InfraSettings
from kgo_runtime.wallet_client import token_file
from services.wallet.adapters.tokens import PostgresTokenStore
from services.wallet.settings import WalletSettings

#: Services that call the wallet as ``service``; each gets its own token file.
CALLERS_OF_THE_WALLET = ("missions", "merchant", "transit", "projections")

#: (programme, label, initial allocation): 860,000 of the 1,000,000 supply. The rest stays
#: with the municipality.
DEFAULT_BUDGETS: tuple[tuple[str, str, int], ...] = (
    ("welcome", "Welcome bonus and missions (up to 400 KGO per resident)", 400_000),
    ("municipal-activities", "Municipal activities all year", 200_000),
    ("one-baht-bus-2022", "1-baht city bus, 9 June - 31 August 2022", 200_000),
    ("shop-matching", "Shops' rewards matched by the city", 50_000),
    ("offline-loss", "Bus fares offline riders could no longer pay", 10_000),
)


async def admin_token(settings: WalletSettings, path: Path) -> str:
    """The platform administrator's token: the stored one if it still works, else a new one."""
    return await stored_token(settings, path, "municipal_admin", "platform-admin")


async def stored_token(settings: WalletSettings, path: Path, role: str, name: str) -> str:
    """A wallet API token kept in ``path`` (0600): the stored one if it still works, else a
    new one."""
    pool = await asyncpg.create_pool(settings.database_url, min_size=0, max_size=2)
    try:
        store = PostgresTokenStore(pool, schema=settings.database_schema)
        await store.create_tables()
        if path.exists():
            token = path.read_text().strip()
            if await store.authenticate(token) is not None:
                return token
        issued = await store.issue(role, name)
        assert issued.token is not None
    finally:
        await pool.close()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(issued.token + "\n")
    return issued.token


async def prepare_treasury(settings: WalletSettings | None = None) -> list[str]:
    settings = settings or WalletSettings()
    token_path = InfraSettings().home / "secrets" / "admin.token"
    token = await admin_token(settings, token_path)
    lines = [f"  admin token   {token_path} (role municipal_admin)"]
    for service in CALLERS_OF_THE_WALLET:
        await stored_token(settings, token_file(service), "service", service)
    base = f"http://{settings.http_host}:{settings.http_port}"
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as api:

        async def post(path: str, key: str, body: dict[str, object]) -> httpx.Response:
            response = await api.post(path, json=body, headers={"Idempotency-Key": key})
            if response.status_code >= 400 and response.json().get("code") not in (
                "already_minted",
                "already_exists",
            ):
                response.raise_for_status()
            return response

        await post("/v1/treasury/genesis", "platform-genesis", {})
        for programme, label, amount in DEFAULT_BUDGETS:
            await post(
                "/v1/budgets",
                f"platform-open-{programme}",
                {"programme": programme, "label": label},
            )
            await post(
                f"/v1/budgets/{programme}/allocations",
                f"platform-allocate-{programme}",
                {"amount": amount, "memo": "initial allocation"},
            )
        supply = (await api.get("/v1/treasury/supply")).json()
    lines.append(f"  supply        {supply}")
    lines.append(f"  wallet API    {base}/docs")
    return lines
