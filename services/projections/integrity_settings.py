"""Thresholds of the integrity read model (env prefix ``PROJECTIONS_INTEGRITY_``).

The defaults are starting points for Khon Kaen's programme (see the README's table); each
is a setting so the city can tune it without a release.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntegritySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROJECTIONS_INTEGRITY_", extra="ignore")

    #: Its own consumer group and inbox (positions beside the read models' own).
    consumer_name: str = "projections_integrity"
    #: The rolling window of the redemption and cycle rules, in days.
    window_days: int = Field(default=7, ge=1)
    #: A resident-shop pair at the bill's limit this often in the window is flagged.
    pair_at_cap_min: int = Field(default=5, ge=1)
    #: "Just under" the per-bill cap: within this percent of it (at least one coin).
    just_under_percent: int = Field(default=10, ge=1, le=100)
    #: A shop with at least this many just-under redemptions in the window ...
    just_under_min: int = Field(default=5, ge=1)
    #: ... that are at least this share of all its redemptions there is flagged.
    just_under_share_percent: int = Field(default=50, ge=1, le=100)
    #: A shop whose top ``few_residents_top`` residents brought ...
    few_residents_top: int = Field(default=3, ge=1)
    #: ... at least this share of its coins in the window ...
    few_residents_percent: int = Field(default=80, ge=1, le=100)
    #: ... of at least this many coins is flagged (small shops are left alone).
    few_residents_min_coins: int = Field(default=500, ge=1)
    #: Cycles of at most this many accounts (residents and shops) are looked for.
    cycle_max_accounts: int = Field(default=4, ge=2, le=6)
    #: A cycle is flagged when every hop carried at least this many coins in the window.
    cycle_min_coins: int = Field(default=100, ge=1)
    #: At least this many resident wallets opened ...
    signup_burst_min: int = Field(default=50, ge=2)
    #: ... in one fixed window of this many minutes is a burst.
    signup_window_minutes: int = Field(default=10, ge=1)
    #: At least this many resident wallets opened from one device (the app's id, as the
    #: wallet's day-keyed ``origin_device``) ... (a household sharing a phone opens two or three)
    signup_device_min: int = Field(default=4, ge=2)
    #: ... or from one network (``origin_network``: an IPv4 /24 or IPv6 /56; set higher,
    #: since a mobile carrier's NAT puts many residents behind one network) ...
    signup_network_min: int = Field(default=20, ge=2)
    #: ... within this many minutes (a rolling window, inside one Bangkok day).
    signup_origin_minutes: int = Field(default=60, ge=1, le=1440)
    #: One rider's fares on at least this many validators ...
    tap_validators_min: int = Field(default=3, ge=2)
    #: ... within this many minutes.
    tap_validators_minutes: int = Field(default=10, ge=1)
    #: At least this many fares of one rider ...
    rapid_taps_min: int = Field(default=3, ge=2)
    #: ... within this many seconds.
    rapid_taps_seconds: int = Field(default=60, ge=1)
