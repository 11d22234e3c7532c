"""`kgo transit` commands: the city bus's operations from a terminal.

They work on the transit event store directly (``TRANSIT_DATABASE_URL``,
``TRANSIT_DATABASE_SCHEMA``), like `kgo wallet token`: a validator's first credential can be
made before anyone can call the API. What they record reaches Kafka through the service's
relay once `kgo serve transit` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, TypeVar

import psycopg
import typer

from kgo_runtime.clock import BANGKOK, SystemClock
from kgo_runtime.eventstore import eventstore_env
from services.transit.application.admin import Decision, NetworkAdmin
from services.transit.application.ridership import Ridership
from services.transit.application.service import TransitApplication
from services.transit.domain.errors import TransitError
from services.transit.domain.fares import Campaign
from services.transit.settings import TransitSettings

app = typer.Typer(no_args_is_help=True)
validator_app = typer.Typer(no_args_is_help=True, help="Register validators, rotate credentials.")
app.add_typer(validator_app, name="validator")

T = TypeVar("T")


@contextmanager
def _store() -> Iterator[TransitApplication]:
    settings = TransitSettings()
    try:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.database_schema}"')
    except psycopg.OperationalError as error:
        typer.echo(f"cannot reach the transit database: {error}", err=True)
        raise typer.Exit(2) from error
    env = eventstore_env(
        settings.database_url, schema=settings.database_schema, extra={"CREATE_TABLE": "y"}
    )
    store = TransitApplication(env=env)
    try:
        yield store
    finally:
        store.close()


def _decide(action: Callable[[NetworkAdmin], Decision]) -> dict[str, object]:
    with _store() as store:
        admin = NetworkAdmin(store, SystemClock())
        try:
            _, answer, aggregates = action(admin)
        except TransitError as error:
            typer.echo(f"{error.code}: {error.detail}", err=True)
            raise typer.Exit(1) from error
        store.save(*aggregates)
        return answer


@validator_app.command("create")
def create_validator(
    validator_id: Annotated[str, typer.Option("--id", help="The validator's id, e.g. KKB-07-V02.")],
    bus: Annotated[str, typer.Option(help="The bus it is installed on.")],
) -> None:
    """Register a validator; prints its device credential (shown once)."""
    answer = _decide(lambda admin: admin.register_validator(validator_id, bus))
    typer.echo(str(answer["credential"]))


@validator_app.command("rotate")
def rotate_validator(
    validator_id: Annotated[str, typer.Option("--id", help="The validator's id.")],
) -> None:
    """A new credential for a validator (the old one stops working); prints it."""
    answer = _decide(lambda admin: admin.rotate_credential(validator_id))
    typer.echo(str(answer["credential"]))


@app.command("route")
def add_route(
    route_id: Annotated[str, typer.Option("--id")],
    name: Annotated[str, typer.Option()],
    length_km: Annotated[float, typer.Option("--km")],
) -> None:
    """Open a route."""
    _decide(lambda admin: admin.open_route(route_id, name, length_km))


@app.command("bus")
def add_bus(
    bus_id: Annotated[str, typer.Option("--id")], route: Annotated[str, typer.Option()]
) -> None:
    """Put a bus on a route."""
    _decide(lambda admin: admin.register_bus(bus_id, route))


@app.command("campaign")
def add_campaign(
    campaign_id: Annotated[str, typer.Option("--id")],
    starts: Annotated[datetime, typer.Option(help="Bangkok time unless an offset is given.")],
    ends: Annotated[datetime, typer.Option(help="Inclusive, to the second.")],
    coins: Annotated[int, typer.Option()],
    baht_satang: Annotated[int, typer.Option()],
    programme: Annotated[str, typer.Option()],
    daily_cap: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Schedule a fare campaign."""
    campaign = Campaign(
        campaign_id, _aware(starts), _aware(ends), coins, baht_satang, programme, daily_cap
    )
    _decide(lambda admin: admin.schedule_campaign(campaign))


@app.command("seed")
def seed(
    buses: Annotated[int, typer.Option(help="How many buses on the route.")] = 10,
    daily_cap: Annotated[int, typer.Option(help="Coin rides per pass per day.")] = 2,
) -> None:
    """Khon Kaen's city bus as in 2022: route 'kk-1' (17 km), buses 'kkb-01'..., and the
    1-baht bus (9 June 00:00 to 31 August 2022 23:59:59: 50 KGO + 1 baht). Skips what exists."""
    campaign = Campaign(
        "one-baht-bus-2022",
        datetime(2022, 6, 9, tzinfo=BANGKOK),
        datetime(2022, 8, 31, 23, 59, 59, tzinfo=BANGKOK),
        50,
        100,
        "one-baht-bus-2022",
        daily_cap,
    )
    steps: list[Callable[[NetworkAdmin], Decision]] = [
        lambda admin: admin.open_route("kk-1", "Khon Kaen city loop", 17.0),
        *[
            (lambda admin, n=n: admin.register_bus(f"kkb-{n:02}", "kk-1"))
            for n in range(1, buses + 1)
        ],
        lambda admin: admin.schedule_campaign(campaign),
    ]
    with _store() as store:
        admin = NetworkAdmin(store, SystemClock())
        for step in steps:
            try:
                _, _, aggregates = step(admin)
            except TransitError as error:
                if error.code != "already_exists":
                    raise
                continue
            store.save(*aggregates)
    typer.echo(f"route kk-1, {buses} buses, campaign one-baht-bus-2022")


@app.command("statement")
def statement(
    route: Annotated[str | None, typer.Option(help="Only this route.")] = None,
    first: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"])] = None,
    last: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"])] = None,
) -> None:
    """Ridership per route, Bangkok day and hour: rides, coin rides, coins, baht, declines."""
    with _store() as store:
        rows = Ridership(store).statement(route_id=route, first=_day(first), last=_day(last))
    typer.echo(
        f"{'route':<8} {'day':<10} {'h':>2} {'rides':>6} {'coin':>6} {'KGO':>7} {'baht':>9}"
        "  declines"
    )
    for row in rows:
        declines = ", ".join(f"{k} {v}" for k, v in row["declines"].items())
        typer.echo(
            f"{row['route_id']:<8} {row['day']:<10} {row['hour']:>2} {row['rides']:>6} "
            f"{row['coin_rides']:>6} {row['coins']:>7} {row['baht_satang'] / 100:>9.2f}  {declines}"
        )


@app.command("deny-list")
def deny_list() -> None:
    """The pass digests on the deny list, one a line."""
    with _store() as store:
        for digest in sorted(store.deny_list().digests):
            typer.echo(digest)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=BANGKOK)


def _day(at: datetime | None) -> date | None:
    return None if at is None else at.date()
