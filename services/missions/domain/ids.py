"""Deterministic ids: the same resident, mission and period always give the same completion
id, so a replayed or redelivered event lands on what was already recorded and the wallet's
grant (idempotency key = completion id) is made once."""

from __future__ import annotations

from uuid import UUID, uuid5

MISSIONS_NAMESPACE = UUID("3b0e8f5e-2f4c-5d7a-9a61-6d2b1c0e9a11")

CATALOGUE_ID = uuid5(MISSIONS_NAMESPACE, "catalogue")
#: The built-in sign-up mission (the welcome bonus).
SIGNUP_MISSION_ID = uuid5(MISSIONS_NAMESPACE, "mission:signup")


def progress_id(wallet_id: UUID) -> UUID:
    return uuid5(MISSIONS_NAMESPACE, f"progress:{wallet_id}")


def completion_id(wallet_id: UUID, mission_id: UUID, period: str, ordinal: int = 1) -> UUID:
    """One id per resident, mission and period (and ordinal, for limits above one a period)."""
    name = f"completion:{wallet_id}:{mission_id}:{period}"
    return uuid5(MISSIONS_NAMESPACE, name if ordinal == 1 else f"{name}:{ordinal}")


def activity_mission_id(activity_id: UUID) -> UUID:
    """The mission an activity's check-ins complete."""
    return uuid5(MISSIONS_NAMESPACE, f"activity-mission:{activity_id}")


def check_in_id(activity_id: UUID, wallet_id: UUID) -> UUID:
    """One check-in per resident and activity: a second save of this id conflicts."""
    return uuid5(MISSIONS_NAMESPACE, f"check-in:{activity_id}:{wallet_id}")


def receipt_id(caller: str, idempotency_key: str) -> UUID:
    return uuid5(MISSIONS_NAMESPACE, f"receipt:{caller}:{idempotency_key}")


def fact_id_of_award(mission_id: UUID, wallet_id: UUID, award_key: str) -> str:
    return str(uuid5(MISSIONS_NAMESPACE, f"award:{mission_id}:{wallet_id}:{award_key}"))
