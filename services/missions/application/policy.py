"""What the municipality configures rather than publishes: campaign caps, the built-in sign-up
mission, and where activities are paid from (see ``settings.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kgo_contracts.base import BANGKOK

from ..domain.campaigns import Campaign
from ..domain.catalogue import Mission, validated_spec
from ..domain.ids import SIGNUP_MISSION_ID


def signup_mission(
    reward: int = 100, campaign: str = "welcome", programme: str = "welcome"
) -> Mission:
    spec = validated_spec(
        {
            "code": "signup",
            "title_th": "สมัครใช้งานกระเป๋าเงิน KGO",
            "title_en": "Open your KGO wallet",
            "description_th": "รับโบนัสต้อนรับเมื่อลงทะเบียน",
            "description_en": "The welcome bonus, paid once when you register.",
            "reward": reward,
            "starts_at": datetime(2020, 1, 1, tzinfo=BANGKOK),
            "period": "once",
            "limit": 1,
            "campaign": campaign,
            "programme": programme,
            "rule": {"kind": "signup"},
        },
        builtin=True,
    )
    return Mission(SIGNUP_MISSION_ID, spec, revision=1, builtin=True)


@dataclass(frozen=True)
class MissionsPolicy:
    campaigns: Mapping[str, Campaign] = field(
        default_factory=lambda: {"welcome": Campaign("welcome", 400)}
    )
    signup: Mission = field(default_factory=signup_mission)
    activities_programme: str = "municipal-activities"
    activities_campaign: str = "activities"
    #: Wrong check-in codes a resident may send per activity in ``guess_window_seconds``.
    guess_attempts: int = 5
    guess_window_seconds: int = 600
