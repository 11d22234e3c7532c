"""The relay's rate: stored wallet events read from the notification log and produced to a fresh
topic, held against the raw Kafka produce rate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application

from kgo_contracts.base import ContractEvent

from .raw import fresh_topic


@dataclass(frozen=True)
class RelayRun:
    notifications: int
    published: int
    seconds: float
    #: CPU time of this whole process (every thread) during the run.
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Records produced to Kafka per second."""
        return self.published / self.seconds if self.seconds > 0 else 0.0


def relay_available() -> str | None:
    """None if ``kgo_runtime.relay`` can be used, else why not."""
    try:
        from kgo_runtime.relay import Relay  # noqa: F401
        from services.wallet.adapters.contracts import to_contract  # noqa: F401
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


async def relay_events(
    app: Application[Any],
    *,
    dsn: str,
    schema: str,
    bootstrap: str,
    notifications: int,
    batch_size: int = 500,
    name: str = "bench",
    direct: bool = True,
) -> RelayRun:
    """Relay the first ``notifications`` stored events (at least) to a fresh topic;
    ``direct=False``: every event through its domain event (no ``read_stored``)."""
    from kgo_runtime.relay import ReadStored, Relay
    from services.wallet.adapters.contracts import is_internal_topic, read_stored, to_contract

    published = 0
    readers = read_stored(app.mapper) if direct else None

    def counting(event: Any) -> ContractEvent | None:
        nonlocal published
        contract = to_contract(event)
        published += contract is not None
        return contract

    def counting_reader(topic: str) -> ReadStored | None:
        assert readers is not None
        read = readers(topic)
        if read is None:
            return None

        def reading(notification: Any) -> tuple[ContractEvent, Any] | None:
            nonlocal published
            direct = read(notification)
            published += direct is not None
            return direct

        return reading

    async with fresh_topic(bootstrap, "relay") as topic:
        relay = Relay(
            app, counting, name=name, source="/kgo/bench", kafka_bootstrap=bootstrap,
            db=dsn, schema=schema, topic_for=lambda _event: topic, batch_size=batch_size,
            internal_topic=is_internal_topic,
            read_stored=counting_reader if readers is not None else None,
        )  # fmt: skip
        async with relay:
            started, cpu = time.perf_counter(), time.process_time()
            while relay.position < notifications and await relay.relay_once():
                pass
            seconds = time.perf_counter() - started
            return RelayRun(relay.position, published, seconds, time.process_time() - cpu)


# --- `python -m bench.relay`: the relay alone, alternating with raw produce -------------------


async def _standalone(spends: int, rounds: int, batch_size: int, records: int) -> None:
    import asyncio
    import os
    import random
    import statistics
    import sys

    from kgo_runtime.testing import fresh_schema
    from services.wallet.settings import WalletSettings

    from . import raw, wallet

    settings = WalletSettings()
    dsn, bootstrap = settings.database_url, settings.kafka_bootstrap
    async with fresh_schema(dsn, "bench_relay") as schema:
        world = await asyncio.to_thread(
            wallet.build_world, schema, residents=2000, shops=20, allocate=900_000,
            grant_each=100,
        )  # fmt: skip
        try:
            make = wallet.spend_factory(world)
            rng = random.Random(1)
            commands = [make(rng, f"relay-{i}") for i in range(spends)]
            await asyncio.to_thread(wallet._run, world.ledger, commands)
            stored = world.ledger.recorder.max_notification_id() or 0
            raws, relays, ratios = [], [], []
            for n in range(rounds):
                async with raw.fresh_topic(bootstrap, "raw") as topic:
                    produced = await raw.kafka_produce(bootstrap, topic, records, warmup=2000)
                run = await relay_events(
                    world.ledger, dsn=dsn, schema=schema, bootstrap=bootstrap,
                    notifications=stored, batch_size=batch_size, name=f"bench-{n}",
                )  # fmt: skip
                raws.append(produced)
                relays.append(run)
                ratios.append(run.rate / produced.rate)
                print(
                    f"round {n}: raw produce {produced.rate:,.0f}/s "
                    f"({produced.cpu_seconds / produced.count * 1e6:.0f} µs CPU/record); relay "
                    f"{run.rate:,.0f}/s ({run.cpu_seconds / run.published * 1e6:.0f} µs "
                    f"CPU/record, {run.published:,} records of {run.notifications:,} "
                    f"notifications); ratio {ratios[-1]:.2f}; load {os.getloadavg()[0]:.2f}",
                    file=sys.stderr, flush=True,
                )  # fmt: skip
            print(
                f"median ratio {statistics.median(ratios):.2f}; raw produce median "
                f"{statistics.median(r.rate for r in raws):,.0f}/s, relay median "
                f"{statistics.median(r.rate for r in relays):,.0f}/s"
            )
        finally:
            await asyncio.to_thread(world.close)


if __name__ == "__main__":
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(description="the relay's rate beside raw produce")
    parser.add_argument("--spends", type=int, default=15_000, help="spends stored first")
    parser.add_argument("--rounds", type=int, default=3, help="raw produce, relay; n times")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--records", type=int, default=40_000, help="raw produce records")
    args = parser.parse_args()
    asyncio.run(_standalone(args.spends, args.rounds, args.batch_size, args.records))
