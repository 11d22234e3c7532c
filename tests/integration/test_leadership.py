"""Background leadership on the real PostgreSQL: of several processes' leaders with one key,
exactly one runs the components; when it stops, another takes over; a leader whose session
dies stops its components and gives up (its process is then replaced)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from kgo_runtime.leadership import BackgroundLeader, lock_key
from kgo_runtime.settings import InfraSettings

pytestmark = pytest.mark.integration

DSN = InfraSettings().database_url("wallet")


class Probe:
    """A component that counts how many copies of it are running."""

    name = "probe"
    running = 0

    def __init__(self) -> None:
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        self._stopping.clear()
        Probe.running += 1
        try:
            await self._stopping.wait()
        finally:
            Probe.running -= 1

    async def stop(self) -> None:
        self._stopping.set()


async def _until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def test_one_leader_runs_the_components_and_another_takes_over():
    key = lock_key("test", uuid.uuid4().hex)
    leaders = [
        BackgroundLeader([Probe()], DSN, key, retry_seconds=0.2, check_seconds=0.2)
        for _ in range(3)
    ]
    tasks = [asyncio.create_task(leader.run()) for leader in leaders]
    try:
        await _until(lambda: Probe.running == 1)
        await asyncio.sleep(0.6)  # the others have tried again meanwhile
        assert Probe.running == 1 and sum(leader.leading for leader in leaders) == 1
        first = next(leader for leader in leaders if leader.leading)
        await first.stop()
        await tasks[leaders.index(first)]
        await _until(lambda: Probe.running == 1 and any(x.leading for x in leaders))
        assert sum(leader.leading for leader in leaders) == 1
    finally:
        for leader in leaders:
            await leader.stop()
        await asyncio.gather(*tasks)
    assert Probe.running == 0


async def test_a_leader_whose_session_dies_stops_its_components_and_gives_up():
    key = lock_key("test", uuid.uuid4().hex)
    lost: list[bool] = []
    leader = BackgroundLeader(
        [Probe()], DSN, key, retry_seconds=0.2, check_seconds=0.2,
        on_lost=lambda: lost.append(True),
    )  # fmt: skip
    task = asyncio.create_task(leader.run())
    try:
        await _until(lambda: leader.leading)
        conn = await asyncpg.connect(DSN)
        try:
            high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = "
                "'advisory' AND classid::bigint = $1 AND objid::bigint = $2",
                high, low,
            )  # fmt: skip
            assert killed == 1
        finally:
            await conn.close()
        await asyncio.wait_for(task, 10)
        assert lost == [True] and Probe.running == 0 and not leader.leading
    finally:
        await leader.stop()
