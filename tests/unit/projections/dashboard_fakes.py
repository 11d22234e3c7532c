"""An in-memory stand-in for what the dashboard needs from the projections service: the
change signal (``app.state.changes``), ``GET /v1/public/overview`` (``?snapshot=<name>``),
``/v1/public/snapshots`` and ``/v1/public/digests``, with the real API's JSON shape.
Snapshots are named as the real service names them (``kgo replay all --until ... --name
campaign_end``: a name of 1-40 of a-z, 0-9, _; without ``--name`` the ``--until`` time,
``2026_11_15_2359``), answer with ``as_of.snapshot`` and ``as_of.snapshot_until``, and an
unknown one is the real 404 (``snapshot_unknown``). Used by the unit tests and by the
browser test's server (``python -m tests.unit.projections.dashboard_fakes PORT``)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import sys
from typing import Any

from fastapi import FastAPI

from kgo_contracts.examples_digests import examples as digest_examples
from kgo_runtime.problems import problem_response
from services.projections.entrypoints import dashboard
from services.projections.entrypoints.http.context import SNAPSHOT_NAME

#: The past city the browser test's server keeps (as after ``kgo replay all --until
#: 2026-11-15T23:59:59+07:00 --name campaign_end``).
CAMPAIGN_END = "campaign_end"


class FakeChanges:
    """``version`` grows on ``bump()``; ``wait`` returns as soon as it passed ``after``."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Condition()

    async def bump(self) -> int:
        async with self._changed:
            self.version += 1
            self._changed.notify_all()
        return self.version

    async def wait(self, after: int, timeout: float) -> int:
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.version > after), timeout
                )
            return self.version


def sample_overview() -> dict[str, Any]:
    return {
        "supply": {
            "minted": 1_000_000,
            "municipality": 612_500,
            "budgets": {"welcome": 150_000, "one-baht-bus-2022": 90_000, "shop-matching": 40_000},
            "residents": 84_210,
            "shops": 20_940,
            "operator": 1_850,
            "held": 500,
        },
        "week": {"granted": 12_400, "spent": 9_875},
        "bus_today": {"riders": 1_432, "coin_rides": 1_210, "baht_rides": 222},
        "active_residents": {"day": 815, "week": 3_120, "month": None, "suppressed": ["month"]},
        "fairness": {
            "gini_holdings": 0.41,
            "gini_received": 0.28,
            "reach_received": 0.62,
            "reach_spent": 0.47,
            "small_shop_share": 0.71,
            "top10_share": 0.33,
            "velocity": 1.35,
        },
        "shops_by_district": [
            {"district": "ในเมือง", "shops": 64},
            {"district": "ศิลา", "shops": 21},
            {"district": "บ้านเป็ด", "shops": 17},
            {"district": "พระลับ", "shops": 9},
        ],
        "as_of": {
            "business_time": "2026-12-02T03:15:00+07:00",
            "lag_seconds": 1.2,
            "records_behind": 3,
            "snapshot": None,
            "snapshot_until": None,
        },
    }


class FakeOverview:
    """The overview the fake serves; ``spend`` changes it as a redemption would."""

    def __init__(self) -> None:
        self.current = sample_overview()
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.changes = FakeChanges()

    async def spend(self, coins: int, riders: int = 1) -> dict[str, Any]:
        now = copy.deepcopy(self.current)
        now["supply"]["residents"] -= coins
        now["supply"]["shops"] += coins
        now["week"]["spent"] += coins
        now["bus_today"]["riders"] += riders
        now["bus_today"]["coin_rides"] += riders
        now["shops_by_district"][0]["shops"] += 1
        self.current = now
        await self.changes.bump()
        return now


def fake_projections_app(overview: FakeOverview | None = None) -> FastAPI:
    """The dashboard router with the fake's overview and changes, as bootstrap would wire
    the real ones."""
    overview = overview or FakeOverview()
    app = FastAPI()
    app.state.changes = overview.changes
    app.state.fake = overview

    @app.get("/v1/public/overview")
    async def public_overview(snapshot: str | None = None) -> Any:
        if snapshot is None:
            return overview.current
        found = overview.snapshots.get(snapshot) if SNAPSHOT_NAME.match(snapshot) else None
        if found is None:  # as services/projections/entrypoints/http/context.py answers
            return problem_response(404, "snapshot_unknown", f"no replayed snapshot {snapshot!r}")
        return found

    @app.get("/v1/public/snapshots")
    async def public_snapshots() -> Any:
        return {"as_of": overview.current["as_of"], "snapshots": sorted(overview.snapshots)}

    @app.get("/v1/public/digests")
    async def public_digests() -> Any:
        return {"digests": [e.model_dump(mode="json") for e in digest_examples()]}

    @app.post("/_fake/spend")
    async def fake_spend(coins: int = 25) -> Any:
        return await overview.spend(coins)

    app.include_router(dashboard.router)
    return app


def main(port: int) -> None:
    """Serve the dashboard on the fake, with a snapshot ``campaign_end`` replayed until the
    end of 15 November 2026; stops on SIGTERM with exit code 0, as ``kgo serve`` does."""
    import signal

    import uvicorn

    fake = FakeOverview()
    past = sample_overview()
    past["week"] = {"granted": 3_000, "spent": 2_500}
    past["as_of"] = {"business_time": "2026-11-15T23:41:07+07:00", "lag_seconds": 0.0,
                     "records_behind": None, "snapshot": CAMPAIGN_END,
                     "snapshot_until": "2026-11-15T23:59:59+07:00"}  # fmt: skip
    fake.snapshots[CAMPAIGN_END] = past
    config = uvicorn.Config(fake_projections_app(fake), host="127.0.0.1", port=port,
                            log_level="warning", timeout_graceful_shutdown=10)  # fmt: skip
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)  # uvicorn re-raises the signal it handled
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
