"""`kgo dlq`: what a consumer dead-lettered, and how to have it applied again once the cause
is fixed (see docs/runbook.md, "Recovering a stuck consumer or a full DLQ").

``show`` reads ``<topic>.dlq`` from the beginning and prints, per consumer and reason code,
how many records and where they came from; only the ``kgo_dlq_*`` and ``ce_*`` headers are
printed, never a record's value. ``rewind`` moves a consumer's stored position on one
partition back to a dead-lettered offset: when the service starts again, the consumer reads
from there, applies the record that failed (its ``ce_id`` was never remembered) and skips
every later one it had applied already (they are in its inbox).
"""

from __future__ import annotations

import asyncio
import importlib
from collections import Counter
from typing import Annotated

import asyncpg
import typer
from aiokafka import AIOKafkaConsumer

from kgo_contracts.topics import dlq
from kgo_runtime.envelope import header_map
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.kafka_security import kafka_client_options
from kgo_runtime.postgres import schema_name
from kgo_runtime.settings import SERVICE_NAMES, InfraSettings, ServiceSettings

app = typer.Typer(no_args_is_help=True)


@app.command()
def show(
    topic: Annotated[str, typer.Argument(help="The source topic (or its .dlq topic).")],
    last: Annotated[int, typer.Option(help="How many of the latest dead letters to list.")] = 10,
) -> None:
    """Dead letters of a topic by consumer and reason code, and the latest ones."""
    name = topic if topic.endswith(".dlq") else dlq(topic)
    letters = asyncio.run(_read_all(InfraSettings().kafka_bootstrap, name))
    if not letters:
        typer.echo(f"{name}: no dead letters")
        return
    counts = Counter((h.get("kgo_dlq_consumer", "?"), h.get("kgo_dlq_reason_code", "?"))
                     for h in letters)  # fmt: skip
    typer.echo(f"{name}: {len(letters)} dead letters")
    for (consumer, code), count in counts.most_common():
        typer.echo(f"  {count:>7}  consumer={consumer}  reason_code={code}")
    typer.echo(f"latest {min(last, len(letters))}:")
    for h in letters[-last:]:
        where = f"{h.get('kgo_dlq_source_topic')}/{h.get('kgo_dlq_source_partition')}"
        typer.echo(
            f"  {where}@{h.get('kgo_dlq_source_offset')}  {h.get('ce_type', '?')}  "
            f"ce_id={h.get('ce_id', '?')}  {h.get('kgo_dlq_reason', '')[:200]}"
        )


@app.command()
def rewind(
    service: Annotated[str, typer.Option(help="The service whose consumer it is.")],
    consumer: Annotated[str, typer.Option(help="The consumer (kgo_dlq_consumer).")],
    topic: Annotated[str, typer.Option(help="The source topic (kgo_dlq_source_topic).")],
    partition: Annotated[int, typer.Option(help="kgo_dlq_source_partition.")],
    offset: Annotated[int, typer.Option(help="kgo_dlq_source_offset: read again from here.")],
) -> None:
    """Move a consumer's stored position back to a dead-lettered offset. Stop the service
    first: a running consumer keeps its position in memory and would store it again."""
    settings = _settings(service)
    table = f"{schema_name(settings.database_schema)}.consumer_positions"
    moved = asyncio.run(_rewind(settings.database_url, table, consumer, topic, partition, offset))
    if moved is None:
        typer.echo(f"{consumer} has no stored position on {topic}/{partition} at or past {offset}")
        raise typer.Exit(1)
    typer.echo(f"{consumer} on {topic}/{partition}: next offset {moved} -> {offset}")


def _settings(service: str) -> ServiceSettings:
    if service not in SERVICE_NAMES:
        typer.echo(f"unknown service {service!r}; one of: {', '.join(SERVICE_NAMES)}", err=True)
        raise typer.Exit(2)
    module = importlib.import_module(f"services.{service}.settings")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, ServiceSettings)
            and getattr(value, "service_name", None) == service
        ):
            return value()
    raise typer.Exit(2)


async def _rewind(
    url: str, table: str, consumer: str, topic: str, partition: int, offset: int
) -> int | None:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            before = await conn.fetchval(
                f"SELECT next_offset FROM {table} WHERE consumer = $1 AND topic = $2 "
                "AND partition = $3 AND next_offset > $4 FOR UPDATE",
                consumer, topic, partition, offset,
            )  # fmt: skip
            if before is None:
                return None
            await conn.execute(
                f"UPDATE {table} SET next_offset = $4 WHERE consumer = $1 AND topic = $2 "
                "AND partition = $3",
                consumer, topic, partition, offset,
            )  # fmt: skip
            return int(before)
    finally:
        await conn.close()


async def _read_all(bootstrap: str, topic: str) -> list[dict[str, str]]:
    """The headers of every record of ``topic`` now (no consumer group), oldest first."""
    try:
        partitions = await topic_partitions(bootstrap, topic)
    except LookupError:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_client_options()
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records = []
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                for part in (await consumer.getmany(tp, timeout_ms=500)).values():
                    records.extend(part)
        records.sort(key=lambda r: r.timestamp)
        return [header_map(r.headers) for r in records]
    finally:
        await consumer.stop()
