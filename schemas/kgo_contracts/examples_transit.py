"""Examples of the events on ``kgo.transit.events``, in the story of ``examples.py`` (same
morning, same ids): route 7 and its bus, the 1-baht bus campaign, the validator, the 8:40
fare the wallet story pays, a double tap a minute later, an offline tap of 9:50 whose coins
were gone at upload (the loss budget's shortfall of 10:00), a pass denied at 9:30 and
reinstated at 15:10 once its rider repaid the operator, and the operator's settlement of
its 100 coins for 100 baht at 17:30."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from .base import BANGKOK, ContractEvent
from .examples import OFFLINE_TRIP, OPERATOR, OPERATOR_PAYMENT, RESIDENT, TRIP, _at, _id
from .transit import (
    BusRegistered,
    CampaignScheduled,
    FareDeclined,
    FarePaid,
    OperatorSettled,
    PassDenied,
    PassReinstated,
    RouteOpened,
    ValidatorRegistered,
)

ROUTE, BUS, VALIDATOR = "7", "KKB-07", "KKB-07-V02"
#: transit's deterministic id of its network (services/transit/domain/ids.py: NETWORK_ID).
NETWORK = UUID("6b1a8deb-2b3f-5efe-ad3c-b20688c1c057")
#: The keyed digest of the resident's pass (made up; the pass token is never published).
PASS_DIGEST = "q3Yx0p9LrT2bVwZc8mN1sA"
PASS = _id("pass-1")


def examples() -> list[ContractEvent]:
    return [
        RouteOpened(
            network_id=NETWORK,
            route_id=ROUTE,
            label="Khon Kaen city loop",
            length_m=17_000,
            occurred_at=_at(6),
        ),
        BusRegistered(network_id=NETWORK, bus_id=BUS, route_id=ROUTE, occurred_at=_at(6, 5)),
        ValidatorRegistered(
            network_id=NETWORK,
            validator_id=VALIDATOR,
            bus_id=BUS,
            route_id=ROUTE,
            occurred_at=_at(6, 10),
        ),
        CampaignScheduled(
            network_id=NETWORK,
            campaign_id="one-baht-bus-2022",
            starts_at=datetime(2022, 6, 9, 0, 0, 0, tzinfo=BANGKOK),
            ends_at=datetime(2022, 8, 31, 23, 59, 59, tzinfo=BANGKOK),
            coins=50,
            baht_satang=100,
            programme="one-baht-bus-2022",
            daily_cap=2,
            occurred_at=_at(6, 15),
        ),
        FarePaid(
            trip_id=TRIP,
            wallet_id=RESIDENT,
            validator_id=VALIDATOR,
            route_id=ROUTE,
            fare_product="one-baht-bus-2022",
            coins=50,
            baht_satang=100,
            occurred_at=_at(8, 40),
            tap_id="tap-000187",
            bus_id=BUS,
            campaign="one-baht-bus-2022",
            offline=False,
            shortfall_covered=0,
        ),
        FareDeclined(
            trip_id=_id("trip-2"),
            tap_id="tap-000188",
            pass_id=PASS,
            pass_digest=PASS_DIGEST,
            wallet_id=RESIDENT,
            validator_id=VALIDATOR,
            bus_id=BUS,
            route_id=ROUTE,
            reason="double_tap",
            fare_product="regular",
            baht_satang=0,
            offline=False,
            occurred_at=_at(8, 41),
        ),
        PassDenied(
            pass_id=_id("pass-2"),
            pass_digest="Zk4tW7yQeR0uIo3pAs5dFg",
            reason="offline_allowance_exceeded",
            shortfall=100,
            occurred_at=_at(9, 30),
        ),
        FarePaid(
            trip_id=OFFLINE_TRIP,
            wallet_id=RESIDENT,
            validator_id=VALIDATOR,
            route_id=ROUTE,
            fare_product="one-baht-bus-2022",
            coins=50,
            baht_satang=100,
            occurred_at=_at(9, 50),
            tap_id="tap-000031",
            bus_id=BUS,
            campaign="one-baht-bus-2022",
            offline=True,
            shortfall_covered=50,
        ),
        PassReinstated(
            pass_id=_id("pass-2"),
            pass_digest="Zk4tW7yQeR0uIo3pAs5dFg",
            reason="shortfall_repaid",
            forgiven_coins=100,
            occurred_at=_at(15, 10),
        ),
        OperatorSettled(
            settlement_id=_id("operator-settlement-1"),
            operator_account_id=OPERATOR,
            programme="welcome",
            coins=100,
            baht_satang=10_000,
            payment_reference=str(OPERATOR_PAYMENT),
            movement_id=_id("movement operator-settlement-1"),
            occurred_at=_at(17, 30),
        ),
    ]
