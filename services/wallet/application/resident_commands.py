"""Commands of residents' self-service (the rest of the wallet's commands: commands.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar
from uuid import UUID

from .commands import Command


@dataclass(frozen=True, kw_only=True)
class LinkPhone(Command):
    """Give a wallet opened without a phone (at a municipal counter) its phone number, once
    its holder proved the phone with a one-time code."""

    name: ClassVar[str] = "link_phone"
    unhashed: ClassVar[frozenset[str]] = Command.unhashed | {"sealed_phone", "key_id"}
    wallet_id: UUID
    phone_index: str
    sealed_phone: str = field(repr=False)
    key_id: str
