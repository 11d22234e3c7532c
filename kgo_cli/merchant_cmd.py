"""`kgo merchant` commands: a shop's daily statements and its till credentials, from a
terminal, on the merchant database directly (``MERCHANT_DATABASE_URL``,
``MERCHANT_DATABASE_SCHEMA``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, TypeVar
from uuid import UUID, uuid4

import asyncpg
import typer

from kgo_runtime.clock import SystemClock
from kgo_runtime.eventstore import open_application
from services.merchant.adapters.book import MerchantBook, statement_csv
from services.merchant.adapters.tills import TillRegistry
from services.merchant.application.service import MerchantApplication
from services.merchant.application.store import Store
from services.merchant.domain.shops import Shop
from services.merchant.settings import MerchantSettings

app = typer.Typer(no_args_is_help=True)
till_app = typer.Typer(no_args_is_help=True, help="Issue, rotate and revoke till credentials.")
app.add_typer(till_app, name="till")

T = TypeVar("T")
Context = tuple[MerchantApplication, asyncpg.Pool, MerchantSettings]


def _run(action: Callable[[Context], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = MerchantSettings()
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        application = await open_application(
            MerchantApplication, settings.database_url, schema=settings.database_schema, pool=pool
        )
        try:
            return await action((application, pool, settings))
        finally:
            await asyncio.to_thread(application.close)
            await pool.close()

    try:
        return asyncio.run(run())
    except (OSError, asyncpg.PostgresError) as error:
        typer.echo(f"cannot reach the merchant database: {error}", err=True)
        raise typer.Exit(2) from error


def _require_shop(application: MerchantApplication, shop: UUID) -> None:
    if Store(application).get_now(shop, Shop) is None:
        typer.echo(f"no shop {shop}", err=True)
        raise typer.Exit(1)


@app.command("statement")
def statement(
    shop: Annotated[UUID, typer.Option(help="The shop's id.")],
    day: Annotated[str, typer.Option(help="A Bangkok day, YYYY-MM-DD (the first, with --to).")],
    to: Annotated[str | None, typer.Option(help="The last day of a range.")] = None,
) -> None:
    """Print the shop's daily statement(s) as CSV: coins accepted, discount value, coins
    issued, voids, settlements and the closing balance, per Bangkok day."""

    async def action(ctx: Context) -> str:
        application, pool, settings = ctx
        _require_shop(application, shop)
        book = MerchantBook(application, pool, schema=settings.database_schema)
        await book.catch_up()
        first = date.fromisoformat(day)
        return statement_csv(await book.statements(shop, first, date.fromisoformat(to or day)))

    typer.echo(_run(action), nl=False)


@till_app.command("create")
def create_till(
    shop: Annotated[UUID, typer.Option(help="The shop the till belongs to.")],
    label: Annotated[str, typer.Option(help="A name for the till, e.g. 'counter-1'.")] = "till",
) -> None:
    """Issue a till credential; its secret is printed once (last line)."""

    async def action(ctx: Context) -> str:
        application, pool, settings = ctx
        _require_shop(application, shop)
        tills = TillRegistry(pool, SystemClock(), schema=settings.database_schema)
        await tills.create_tables()
        till, _ = await tills.issue(shop, label, key=f"cli:{uuid4()}")
        return f"till {till.till_id} of shop {shop}\n{till.secret}"

    typer.echo(_run(action))


@till_app.command("revoke")
def revoke_till(
    shop: Annotated[UUID, typer.Option(help="The shop.")],
    till: Annotated[UUID, typer.Option(help="The till to revoke.")],
) -> None:
    async def action(ctx: Context) -> bool:
        _, pool, settings = ctx
        tills = TillRegistry(pool, SystemClock(), schema=settings.database_schema)
        await tills.create_tables()
        return await tills.revoke(shop, till)

    typer.echo("revoked" if _run(action) else "no such active till")
