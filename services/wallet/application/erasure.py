"""The ledger's half of erasing a resident (registered into ``handlers.HANDLERS``).

The wallet, its balance and every event stay; the account records ``ResidentErased`` (no
personal data, published so subscribers can drop what they hold) and moves no coin after
it. With ``return_balance`` its available coins first go back to the municipality, a
recorded treasury movement (purpose ``return``). The edge then destroys the resident's data
key and blind indexes (``application/resident_data.py``): that is what makes the sealed data
unreadable everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from ..domain import movements
from ..domain.account import RESIDENT
from ..domain.errors import Refused, WrongAccountKind
from ..domain.identity import ResidentRecord, resident_record_id
from ..domain.ids import MUNICIPALITY_ID, kgo_id
from .resident_commands import EraseResident
from .unit_of_work import UnitOfWork

Answer = tuple[int, dict[str, Any]]


def erase_resident(uow: UnitOfWork, cmd: EraseResident, receipt: UUID) -> Answer:
    wallet = uow.account(cmd.wallet_id, "wallet")
    if wallet.kind != RESIDENT:
        raise WrongAccountKind("only a resident's wallet can be erased")
    if wallet.erased:
        raise Refused("this resident was already erased", code="already_erased")
    wallet.require_erasable()
    movement_id = None
    returned = cmd.return_balance and wallet.available > 0
    if returned:
        municipality = uow.account(MUNICIPALITY_ID, "the municipality")
        movement_id = kgo_id(f"movement:{receipt}")
        movements.transfer(
            wallet, municipality, wallet.available, purpose="return",
            movement_id=movement_id, at=cmd.at, memo=f"resident erased ({cmd.reference})",
        )  # fmt: skip
    wallet.erase(reference=cmd.reference, returned=returned, at=cmd.at)
    record = uow.find(resident_record_id(wallet.id), ResidentRecord)
    legacy = record is None
    if record is None:
        # Opened before per-resident keys: an empty record, erased, so that a re-keying
        # racing this erasure conflicts with it on the record (one of them decides again).
        record = ResidentRecord.open(wallet.id, [], cmd.at)
        uow.add(record)
    record.erase(cmd.reference, cmd.at)
    return 200, {
        "wallet_id": str(wallet.id),
        "erased_at": cmd.at.isoformat(),
        "reference": cmd.reference,
        "balance_disposition": "returned" if returned else "frozen",
        "coins_frozen": wallet.available,
        "movement_id": None if movement_id is None else str(movement_id),
        # Opened before per-resident data keys and not re-keyed: no key of its own to
        # destroy until `kgo wallet rekey` (README).
        "legacy": legacy,
    }


HANDLERS: dict[type[Any], Callable[[UnitOfWork, Any, UUID], Answer]] = {
    EraseResident: erase_resident,
}
