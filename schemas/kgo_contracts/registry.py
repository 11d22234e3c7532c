"""Every published event contract, by CloudEvents type."""

from __future__ import annotations

from .base import ContractEvent
from .digests import DIGEST_EVENTS
from .merchant import MERCHANT_EVENTS
from .missions import MISSIONS_EVENTS
from .transit import TRANSIT_EVENTS
from .wallet import WALLET_EVENTS

ALL_EVENTS: tuple[type[ContractEvent], ...] = (
    *WALLET_EVENTS,
    *MISSIONS_EVENTS,
    *MERCHANT_EVENTS,
    *TRANSIT_EVENTS,
    *DIGEST_EVENTS,
)

BY_CE_TYPE: dict[str, type[ContractEvent]] = {e.ce_type(): e for e in ALL_EVENTS}


class UnknownEventType(LookupError):
    pass


def contract_for(ce_type: str) -> type[ContractEvent]:
    try:
        return BY_CE_TYPE[ce_type]
    except KeyError:
        raise UnknownEventType(f"no published contract for ce_type {ce_type!r}") from None
