"""Every read model of an export, computed from the export's own event tables."""

from __future__ import annotations

from . import read_models_activity as activity
from . import read_models_money as money
from .read_model_base import EventRows, Table


def all_read_models(events: EventRows, k: int) -> list[Table]:
    return [
        money.balances(events),
        money.weekly_flows(events, k),
        money.daily_programmes(events, k),
        money.daily_settlements(events),
        money.holdings_weekly(events, k),
        money.shop_lorenz(events),
        activity.ridership(events, k),
        activity.ridership_daily(events, k),
        activity.shop_redemptions(events, k),
        activity.district_redemptions(events, k),
        activity.mission_funnel(events, k),
    ]
