"""`kgo wallet` commands: the wallet's operations from a terminal.

`kgo wallet token create|list|revoke` work on the wallet database directly
(``WALLET_DATABASE_URL``, ``WALLET_DATABASE_SCHEMA``), so the first administrator token can
be made before anyone can call the API. `kgo wallet erase` and `kgo wallet data` (a
resident's erasure and access request) and `kgo wallet rekey` (the one-time re-keying of
wallets opened before per-resident data keys) open the ledger in this process, with the
wallet's keys from the same settings.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar
from uuid import UUID, uuid4

import asyncpg
import typer

from services.wallet.adapters.tokens import ApiToken, PostgresTokenStore
from services.wallet.entrypoints.http.auth import Role, check_subject
from services.wallet.settings import WalletSettings

app = typer.Typer(no_args_is_help=True)
token_app = typer.Typer(no_args_is_help=True, help="Issue, list and revoke wallet API tokens.")
app.add_typer(token_app, name="token")

T = TypeVar("T")


def _with_tokens(action: Callable[[PostgresTokenStore], Awaitable[T]]) -> T:
    """Run ``action`` on the token store of the wallet database, creating its table if needed."""

    async def run() -> T:
        settings = WalletSettings()
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
        try:
            store = PostgresTokenStore(pool, schema=settings.database_schema)
            await store.create_tables()
            return await action(store)
        finally:
            await pool.close()

    try:
        return asyncio.run(run())
    except (OSError, asyncpg.PostgresError) as error:
        typer.echo(f"cannot reach the wallet database: {error}", err=True)
        raise typer.Exit(2) from error


def _line(token: ApiToken) -> str:
    revoked = f"  revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else ""
    return (
        f"{token.token_id}  {token.role:<18}  {token.name:<24}  {token.subject or '-':<36}  "
        f"{token.created_at:%Y-%m-%d %H:%M}{revoked}"
    )


@token_app.command("create")
def create_token(
    role: Annotated[Role, typer.Option(help="What the token may do.")],
    name: Annotated[str, typer.Option(help="Who holds it, e.g. 'till-7' or 'missions'.")],
    subject: Annotated[
        str | None,
        typer.Option(help="The account (payee, resident) or programme (operator) it acts for."),
    ] = None,
) -> None:
    """Issue a token and print it once: the wallet keeps only its hash."""
    try:
        subject = check_subject(role, subject)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--subject") from None
    issued = _with_tokens(lambda store: store.issue(role.value, name, subject))
    typer.echo(f"token {issued.record.token_id} ({role.value}, {name}): shown once", err=True)
    typer.echo(issued.token)


@token_app.command("list")
def list_tokens(
    include_revoked: Annotated[bool, typer.Option("--all", help="Show revoked ones too.")] = False,
) -> None:
    """The tokens, oldest first (never their secrets)."""
    for token in _with_tokens(lambda store: store.list(include_revoked=include_revoked)):
        typer.echo(_line(token))


@token_app.command("revoke")
def revoke_token(
    token_id: Annotated[UUID, typer.Argument(help="The token's id (from `list`).")],
) -> None:
    """Revoke a token: refused at once by new processes, within seconds by running ones."""
    token = _with_tokens(lambda store: store.revoke(token_id))
    if token is None:
        typer.echo(f"no token {token_id}", err=True)
        raise typer.Exit(1)
    typer.echo(_line(token))


@app.command("rebuild")
def rebuild_balances(
    topic: str | None = typer.Option(None, help="The topic to fold [default: the wallet's]."),
    wait: float = typer.Option(30.0, help="Seconds to wait for the relay to publish everything."),
) -> None:
    """Recompute every balance from the Kafka topic alone (the fold of schemas/README.md),
    compare it with the wallet's own event store, print the differences; exit 1 if any."""
    from services.wallet.entrypoints.rebuild import rebuild

    settings = WalletSettings()
    differences = asyncio.run(
        rebuild(settings, topic=topic or settings.events_topic, wait_seconds=wait, echo=typer.echo)
    )
    raise typer.Exit(1 if differences else 0)


def _with_resident_data(action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action`` on the wallet's residents' data, with the ledger opened in this process
    (a second writer beside a running wallet is safe: saves are optimistic)."""
    from kgo_runtime.access import AccessKeyError
    from kgo_runtime.clock import SystemClock
    from services.wallet.adapters.event_store import open_ledger
    from services.wallet.adapters.personal_data import vault_from
    from services.wallet.adapters.resident_keys import PostgresResidentKeys
    from services.wallet.entrypoints.container import resident_data

    class Direct:
        def __init__(self, ledger: Any) -> None:
            self.ledger = ledger

        async def submit(self, command: Any) -> Any:
            return (await asyncio.to_thread(self.ledger.execute, [command]))[0]

    async def run() -> T:
        settings = WalletSettings()
        vault = vault_from(settings)
        ledger = await asyncio.to_thread(open_ledger, settings)
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            keys = PostgresResidentKeys(pool, schema=settings.database_schema)
            await keys.create_tables()
            data = resident_data(settings, vault, keys, ledger, Direct(ledger), SystemClock())
            return await action(data)
        finally:
            await pool.close()
            await asyncio.to_thread(ledger.close)

    try:
        return asyncio.run(run())
    except AccessKeyError as error:
        typer.echo(f"wallet keys refused: {error}", err=True)
        raise typer.Exit(2) from error
    except (OSError, asyncpg.PostgresError) as error:
        typer.echo(f"cannot reach the wallet database: {error}", err=True)
        raise typer.Exit(2) from error


@app.command("erase")
def erase_resident(
    wallet_id: Annotated[UUID, typer.Argument(help="The resident's wallet id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the erasure log, not published).")],
    reference: Annotated[
        str, typer.Option(help="The request's case number, e.g. PDPA-2026-0042 (published).")
    ],
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: the same again retries safely.")
    ] = None,
) -> None:
    """Erase a resident (administrator): the wallet is frozen or its coins returned
    (WALLET_ERASURE_BALANCE), ResidentErased is published, and the resident's data key and
    blind indexes are destroyed. Prints the ledger's answer; exit 1 if refused."""
    from kgo_runtime.clock import SystemClock
    from services.wallet.entrypoints.http.routes_resident_data import ErasureRequest

    try:
        body = ErasureRequest(reason=reason, reference=reference)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    stamp = {"idempotency_key": key or str(uuid4()), "caller": "cli:municipal_admin",
             "at": SystemClock().now()}  # fmt: skip

    async def erase(data: Any) -> Any:
        return await data.erase(
            stamp, wallet_id=wallet_id, reason=body.reason, reference=body.reference
        )

    outcome = _with_resident_data(erase)
    typer.echo(json.dumps(outcome.body, indent=2, ensure_ascii=False))
    raise typer.Exit(0 if outcome.ok else 1)


@app.command("data")
def resident_data_download(
    wallet_id: Annotated[UUID, typer.Argument(help="The resident's wallet id.")],
    out: Annotated[Path | None, typer.Option(help="Write the JSON here [default: stdout].")] = None,
) -> None:
    """Everything the wallet holds about a resident, as JSON (an access request): personal
    data, the account, every movement. An erased resident's says so, without personal data."""
    from services.wallet.application.resident_data import DataRefused

    async def download(data: Any) -> dict[str, Any]:
        result: dict[str, Any] = await data.download(wallet_id)
        return result

    try:
        found = _with_resident_data(download)
    except DataRefused as refused:
        typer.echo(refused.reason, err=True)
        raise typer.Exit(1) from None
    text = json.dumps(found, indent=2, ensure_ascii=False)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"wrote {out}", err=True)


@app.command("rekey")
def rekey_residents(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be done; change nothing.")
    ] = False,
) -> None:
    """Re-key the wallets opened before per-resident data keys (administrator, once): each
    gets its own data key, its legacy sealed values re-sealed under it bound to the wallet,
    and claims of the new kind, so download, erasure and one-wallet-per-person work as for
    new wallets; then data keys wrapped by WALLET_PII_PREVIOUS_KEY are wrapped again under
    WALLET_PII_KEY. Safe while the wallet serves; run it again after a crash (what was done
    stays done). Prints a summary (JSON on stdout); exit 1 if a wallet failed."""
    from services.wallet.application.rekeying import Rekeying, RekeyReport

    async def run(data: Any) -> RekeyReport:
        job = Rekeying(data, dry_run=dry_run)
        wallets = await job.legacy_wallets()
        label = "legacy wallets (dry run)" if dry_run else "re-keying legacy wallets"
        with typer.progressbar(length=len(wallets), label=label, file=sys.stderr) as bar:
            for legacy in wallets:
                await job.rekey(legacy)
                bar.update(1)
        await job.rewrap_keys()
        await job.remaining()
        return job.report

    report = _with_resident_data(run)  # a store outage: exit 2, run again
    _summary(report, dry_run=dry_run)
    typer.echo(json.dumps(report.as_dict(), indent=2))
    raise typer.Exit(1 if report.failed else 0)


def _summary(report: Any, *, dry_run: bool) -> None:
    r, say = report, lambda line: typer.echo(line, err=True)
    say(f"legacy wallets found: {r.legacy_wallets}")
    if dry_run:
        say(f"  to re-key: {r.planned}; already done: {r.already}; "
            f"data keys to wrap again: {r.keys_to_rewrap}")  # fmt: skip
    else:
        say(f"  re-keyed: {r.rekeyed}; erased (indexes destroyed): {r.erased}; "
            f"already done: {r.already}; data keys wrapped again: {r.keys_rewrapped}")  # fmt: skip
    for wallet_id, code in sorted(r.failed.items()):
        say(f"  failed: {wallet_id} {code}")
    if r.done:
        say("nothing needs the legacy format nor WALLET_PII_PREVIOUS_KEY any more: set "
            "WALLET_LEGACY_SEALS=retired, then remove WALLET_PII_PREVIOUS_KEY and destroy "
            "that key (docs/runbook.md)")  # fmt: skip
    else:
        say(f"still needed: {r.legacy_left} legacy claims, {r.previous_key_left} data keys "
            "under the retiring key; run `kgo wallet rekey` again")  # fmt: skip
