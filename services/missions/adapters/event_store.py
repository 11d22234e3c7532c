"""The missions event store: eventsourcing on PostgreSQL, configured from MissionsSettings."""

from __future__ import annotations

import psycopg

from kgo_runtime.eventstore import eventstore_env, short_analyze

from ..application.policy import MissionsPolicy, signup_mission
from ..application.service import MissionsApplication
from ..domain.campaigns import Campaign
from ..settings import MissionsSettings


def policy_of(settings: MissionsSettings) -> MissionsPolicy:
    return MissionsPolicy(
        campaigns={code: Campaign(code, cap) for code, cap in settings.campaign_caps.items()},
        signup=signup_mission(
            settings.signup_reward, settings.signup_campaign, settings.signup_programme
        ),
        activities_programme=settings.activities_programme,
        activities_campaign=settings.activities_campaign,
        guess_attempts=settings.guess_attempts,
        guess_window_seconds=settings.guess_window_seconds,
    )


def store_env(settings: MissionsSettings) -> dict[str, str]:
    return eventstore_env(
        settings.database_url,
        schema=settings.database_schema,
        extra={
            "POSTGRES_POOL_SIZE": str(settings.event_store_pool_size),
            "POSTGRES_MAX_OVERFLOW": "5",
            "CREATE_TABLE": "y",
            # A cached aggregate is brought up to date from the store on every get, so a
            # second missions process's saves are seen (and a stale save still conflicts).
            "AGGREGATE_CACHE_MAXSIZE": str(settings.cache_size),
            "AGGREGATE_CACHE_FASTFORWARD": "y",
        },
    )


def open_missions(settings: MissionsSettings) -> MissionsApplication:
    """Connect the store (blocking: call it in a worker thread from async code)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.database_schema}"')
    app = MissionsApplication(env=store_env(settings), policy=policy_of(settings))
    short_analyze(app)
    return app
