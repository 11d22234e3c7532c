"""Examples of the events on ``kgo.missions.events``, in the story of ``examples.py`` (same
morning, same ids): the welcome bonus, a bus mission capped by the welcome campaign, a
clean-up day and a resident's check-in."""

from __future__ import annotations

from .base import ContractEvent
from .examples import COMPLETION, RESIDENT, _at, _id
from .missions import (
    ActivityCheckedIn,
    ActivityScheduled,
    MissionChanged,
    MissionCompleted,
    MissionPublished,
    MissionRetired,
    MissionRewardCapped,
    MissionRule,
)

RIDES = _id("mission-five-rides")
CLEAN_UP = _id("activity-clean-up")
CLEAN_UP_MISSION = _id("mission-activity-clean-up")

_RIDES = {
    "mission_id": RIDES,
    "code": "five-rides",
    "title_th": "นั่งรถเมล์ 5 เที่ยว",
    "title_en": "Five bus rides",
    "description_th": "นั่งรถเมล์ขอนแก่นครบ 5 เที่ยวในหนึ่งสัปดาห์",
    "description_en": "Ride Khon Kaen's city bus five times in a week.",
    "starts_at": _at(0),
    "ends_at": None,
    "limit": 1,
    "period": "weekly",
    "campaign": "welcome",
    "programme": "welcome",
    "rule": MissionRule(kind="count", event="fare_paid", count=5),
}


def examples() -> list[ContractEvent]:
    return [
        MissionCompleted(
            completion_id=COMPLETION,
            wallet_id=RESIDENT,
            mission_id=_id("mission-signup"),
            programme="welcome",
            period="2022-06",
            reward=100,
            occurred_at=_at(7, 30),
        ),
        MissionPublished(**_RIDES, revision=1, reward=150, occurred_at=_at(6)),
        MissionChanged(**_RIDES, revision=2, reward=200, occurred_at=_at(6, 30)),
        MissionCompleted(
            completion_id=_id("completion-rides-week-23"),
            wallet_id=RESIDENT,
            mission_id=RIDES,
            programme="welcome",
            period="2022-W23",
            reward=120,
            occurred_at=_at(9, 10),
            campaign="welcome",
            mission_revision=2,
            requested_reward=200,
            cut_reason="campaign_cap",
        ),
        MissionRewardCapped(
            completion_id=_id("completion-rides-week-24"),
            wallet_id=RESIDENT,
            mission_id=RIDES,
            mission_revision=2,
            campaign="welcome",
            programme="welcome",
            period="2022-W24",
            requested_reward=200,
            cut_reason="campaign_cap",
            occurred_at=_at(9, 40),
        ),
        MissionRetired(mission_id=RIDES, revision=2, reason="campaign-ended", occurred_at=_at(11)),
        ActivityScheduled(
            activity_id=CLEAN_UP,
            mission_id=CLEAN_UP_MISSION,
            code="bueng-kaen-nakhon-clean-up",
            title_th="วันทำความสะอาดบึงแก่นนคร",
            title_en="Bueng Kaen Nakhon clean-up day",
            reward=30,
            programme="municipal-activities",
            starts_at=_at(8),
            ends_at=_at(12),
            rotating_code=True,
            occurred_at=_at(6, 45),
        ),
        ActivityCheckedIn(
            check_in_id=_id("check-in-1"),
            activity_id=CLEAN_UP,
            wallet_id=RESIDENT,
            method="code",
            occurred_at=_at(8, 15),
        ),
    ]
