"""The simulator's ordering of grants that compete for a budget's last coins (pure)."""

from __future__ import annotations

import httpx
import pytest
from aiokafka import TopicPartition

from kgo_cli.simulate.barrier import Quiescence, Seen, Snapshot, parse_metrics, relay_names
from kgo_cli.simulate.claims import cut, day_claims, fits, shop_sources, shortfalls, waves
from kgo_cli.simulate.plan import Action
from kgo_cli.simulate.state import Progress
from kgo_runtime.targets import TARGETS_PATH

pytestmark = pytest.mark.unit


def test_claims_that_fit_together_share_a_wave_and_the_rest_waits() -> None:
    units = [(i, [("welcome", 100)]) for i in range(5)]
    wave, rest = waves(units, {"welcome": 250})
    assert wave == [0, 1] and [u for u, _ in rest] == [2, 3, 4]


def test_a_claim_larger_than_the_budget_is_refused_whatever_the_order() -> None:
    units = [(i, [("welcome", 100)]) for i in range(5)]
    wave, rest = waves(units, {"welcome": 99})
    assert wave == [0, 1, 2, 3, 4] and rest == []
    assert fits([("welcome", 100)], {"welcome": 99}) == {"welcome": False}


def test_a_unit_alone_always_makes_a_wave() -> None:
    wave, rest = waves([("a", [("welcome", 50), ("welcome", 100)])], {"welcome": 120})
    assert wave == ["a"] and rest == []


def test_one_units_own_claims_count_together() -> None:
    # Each claim fits alone, both together do not: the unit waits for a wave of its own.
    units = [("a", [("welcome", 10)]), ("b", [("welcome", 50), ("welcome", 60)])]
    assert waves(units, {"welcome": 100}) == (["a"], units[1:])


def test_a_residents_own_competing_grants_fall_in_different_waves() -> None:
    # A ride that completes ten rides (transit -> missions) and a first shop payment
    # (merchant -> missions) the same day: the welcome budget pays one of them. Which one
    # would depend on which reaction reaches the wallet first, so the day is cut after the
    # ride; the payment is weighed in the next wave against what the ride's grant left.
    ride = Action("ride", "r1", 0, 1)
    pay = Action("pay", "r1", 1, 1, shop=3, coins=20)
    days = {1: [ride, pay], 2: [Action("pay", "r2", 0, 2, shop=4, coins=20)]}
    progress = {1: Progress(trips_paid=9), 2: Progress()}

    def claims(resident: int, k: int) -> list[tuple[str, int]]:
        return day_claims(days[resident][:k], progress[resident], {})

    assert cut([(1, 2), (2, 1)], claims, {"welcome": 70}) == [(1, 1)]
    # Plenty of coins: both residents, whole days, one wave.
    assert cut([(1, 2), (2, 1)], claims, {"welcome": 150}) == [(1, 2), (2, 1)]
    # Too few for either: each refused whatever the order, so nothing waits.
    assert cut([(1, 2), (2, 1)], claims, {"welcome": 40}) == [(1, 2), (2, 1)]
    # After the ride's wave the rest of the day is weighed on its own.
    progress[1] = Progress(trips_paid=10)
    days[1] = [pay]
    assert cut([(1, 1), (2, 1)], claims, {"welcome": 20}) == [(1, 1), (2, 1)]


def test_an_offline_batch_is_cut_where_the_loss_budget_covers_only_some() -> None:
    # Transit decides a batch's taps concurrently: three riders short of the fare, a loss
    # budget of two fares. The first part holds the two it pays; the third is weighed
    # alone afterwards (refused whatever the order).
    taps = [("t1", 1), ("t2", 2), ("t3", 3), ("t4", 4)]
    short = shortfalls(taps, {1: 0, 2: 49, 3: 10, 4: 50}, 50)
    assert short == {"t1": 50, "t2": 50, "t3": 50}
    units = [(t, [("offline-loss", short[t])] if t in short else []) for t, _ in taps]
    wave, rest = waves(units, {"offline-loss": 100})
    assert wave == ["t1", "t2"] and [t for t, _ in rest] == ["t3", "t4"]
    assert waves(rest, {"offline-loss": 0}) == (["t3", "t4"], [])
    # One rider's second tap in a batch counts its first one.
    assert shortfalls([("a", 1), ("b", 1)], {1: 60}, 50) == {"b": 50}


def test_a_day_claims_only_the_missions_it_can_still_complete() -> None:
    pay = [Action("pay", "r1", 0, 1, shop=3, coins=20)]
    assert day_claims(pay, Progress(), {}) == [("welcome", 50)]
    assert day_claims(pay, Progress(redeemed=True, shops={1, 2}), {}) == [("welcome", 100)]
    assert day_claims(pay, Progress(redeemed=True, shops={1, 3}), {}) == []
    rides = [Action("ride", "r1", n, 1) for n in range(2)]
    assert day_claims(rides, Progress(trips_paid=8), {}) == [("welcome", 50)]
    assert day_claims(rides, Progress(trips_paid=10), {}) == []
    check_in = [Action("check_in", "r1", 0, 1)]
    assert day_claims(check_in, Progress(), {}) == [
        ("municipal-activities", 20),
        ("welcome", 50),
    ]


def test_shop_rewards_fall_to_the_matching_budget_in_plan_order() -> None:
    earns = [Action("earn", f"r{i}", 1, i, shop=0, coins=10) for i in range(3)]
    assert shop_sources(earns, {0: 25}) == {("r2", 1): 10}


def test_the_barrier_reads_relays_and_consumer_positions() -> None:
    text = "\n".join([
        '# HELP kgo_relay_lag_events x',
        'kgo_relay_lag_events{relay="wallet"} 0.0',
        'kgo_consumer_position{consumer="c",partition="1",topic="t"} 7.0',
    ])  # fmt: skip
    idle, positions = parse_metrics(text)
    assert idle and positions == {("c", "t", 1): 7.0}
    assert Snapshot(idle, positions, {("t", 1): 7}).caught_up
    assert not Snapshot(idle, positions, {("t", 1): 8}).caught_up
    assert not parse_metrics('kgo_relay_lag_events{relay="w"} 3.0')[0]


class _Scrapes:
    """Answers each process's ``/metrics`` from a dict (None: it does not answer), and a
    service's ``/metrics/targets`` from another (a service not there lists none: 404)."""

    def __init__(
        self, pages: dict[str, str | None], groups: dict[str, list[str]] | None = None
    ) -> None:
        self.pages, self.groups = pages, groups or {}

    async def get(self, url: str, timeout: float) -> httpx.Response:
        request = httpx.Request("GET", url)
        if url.endswith(TARGETS_PATH):
            base = url.removesuffix(TARGETS_PATH)
            if self.pages.get(base) is None:
                raise httpx.ConnectError("refused")
            if base not in self.groups:
                return httpx.Response(404, request=request)
            labels = {"role": "api", "process": "0"}
            listed = [{"targets": [t[7:]], "labels": labels} for t in self.groups[base]]
            return httpx.Response(200, json=listed, request=request)
        page = self.pages[url.removesuffix("/metrics")]
        if page is None:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, text=page, request=request)


class _Ends:
    def __init__(self, ends: dict[tuple[str, int], int]) -> None:
        self.ends = ends

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends.get((tp.topic, tp.partition), 0) for tp in tps}


async def test_what_a_scrape_leaves_out_is_never_taken_for_caught_up() -> None:
    """A service that answered before and does not now, a relay it reported before and does
    not now, and a partition its consumer reports no position for keep the barrier waiting."""
    full = "\n".join([
        'kgo_relay_lag_events{relay="wallet"} 0.0',
        'kgo_consumer_position{consumer="c",partition="0",topic="t"} 5.0',
        'kgo_consumer_position{consumer="c",partition="1",topic="t"} 7.0',
    ])  # fmt: skip
    assert relay_names(full) == {"wallet"}
    pages: dict[str, str | None] = {"http://a": full, "http://never": None}
    seen = Seen(partitions={"t": [0, 1]})
    barrier = Quiescence(lambda: _Scrapes(pages), list(pages), "unused", seen)  # type: ignore[arg-type,return-value]
    barrier._kafka = _Ends({("t", 0): 5, ("t", 1): 7})  # type: ignore[assignment]
    assert (await barrier.snapshot()).caught_up  # a service never seen answering is not running
    pages["http://a"] = None  # killed, restarting
    assert not (await barrier.snapshot()).caught_up
    pages["http://a"] = ""  # back, before its relay opened and its consumer was positioned
    assert not (await barrier.snapshot()).caught_up
    pages["http://a"] = 'kgo_relay_lag_events{relay="wallet"} 0.0'  # relay open, no positions
    assert not (await barrier.snapshot()).caught_up
    pages["http://a"] = full.rsplit("\n", 1)[0]  # one partition positioned, the other not yet
    assert not (await barrier.snapshot()).caught_up
    pages["http://a"] = full
    assert (await barrier.snapshot()).caught_up
    # The next barrier of the same run knows what this one saw.
    pages["http://a"] = None
    later = Quiescence(lambda: _Scrapes(pages), list(pages), "unused", seen)  # type: ignore[arg-type,return-value]
    later._kafka = barrier._kafka
    assert not (await later.snapshot()).caught_up


RELAY_IDLE = 'kgo_relay_lag_events{relay="wallet"} 0.0'
POSITIONED = 'kgo_consumer_position{consumer="c",partition="0",topic="t"} 5.0'


def _barrier(pages: dict[str, str | None], groups: dict[str, list[str]]) -> Quiescence:
    scrapes, seen = _Scrapes(pages, groups), Seen(partitions={"t": [0]})
    barrier = Quiescence(lambda: scrapes, ["http://wallet"], "unused", seen)  # type: ignore[arg-type,return-value]
    barrier._kafka = _Ends({("t", 0): 5})  # type: ignore[assignment]
    return barrier


async def test_the_barrier_reads_the_relay_from_the_background_process() -> None:
    """The shared HTTP port answers from the API process, which runs no relay; the relay and
    the consumer are on the background process's own port, which the service lists."""
    pages: dict[str, str | None] = {
        "http://wallet": "",  # the shared port: an API process's registry
        "http://wallet-api0": "",
        "http://wallet-background": None,  # listed, not answering yet (starting)
    }
    barrier = _barrier(pages, {"http://wallet": ["http://wallet-api0", "http://wallet-background"]})
    assert not (await barrier.snapshot()).caught_up  # a listed process never taken for idle
    pages["http://wallet-background"] = 'kgo_relay_lag_events{relay="wallet"} 3.0\n' + POSITIONED
    assert not (await barrier.snapshot()).caught_up  # the relay lags there
    pages["http://wallet-background"] = RELAY_IDLE + "\n" + POSITIONED
    assert (await barrier.snapshot()).caught_up
    pages["http://wallet"] = None  # the HTTP port down: the list it gave is still known
    assert (await barrier.snapshot()).caught_up
    pages["http://wallet-background"] = None  # killed: its relay is not running
    assert not (await barrier.snapshot()).caught_up


async def test_the_barrier_follows_the_relay_from_one_worker_to_another() -> None:
    """Only the worker holding the lock reports the relay: a relay seen before is awaited
    from the service, whichever of its processes reports it now."""
    group = {"http://wallet": ["http://w0", "http://w1"]}
    pages: dict[str, str | None] = {
        "http://wallet": "", "http://w0": RELAY_IDLE + "\n" + POSITIONED, "http://w1": "",
    }  # fmt: skip
    barrier = _barrier(pages, group)
    assert (await barrier.snapshot()).caught_up
    pages["http://w0"] = ""  # w0 let go (restarted), nobody has taken the lock yet
    assert not (await barrier.snapshot()).caught_up
    pages["http://w1"] = RELAY_IDLE + "\n" + POSITIONED  # w1 took over
    assert (await barrier.snapshot()).caught_up
    pages["http://w1"] = 'kgo_relay_lag_events{relay="wallet"} 2.0\n' + POSITIONED
    assert not (await barrier.snapshot()).caught_up
    # Both report the consumer for a moment (a successor before its predecessor stopped):
    # the lower position counts.
    pages["http://w1"] = RELAY_IDLE + "\n" + POSITIONED.replace("5.0", "4.0")
    pages["http://w0"] = POSITIONED
    assert not (await barrier.snapshot()).caught_up
