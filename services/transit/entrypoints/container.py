"""What the routes, consumers and CLI of one transit process share."""

from __future__ import annotations

from dataclasses import dataclass

from kgo_runtime.clock import Clock

from ..adapters.devices import ValidatorDevices
from ..adapters.digest import PassDigest
from ..application.admin import NetworkAdmin, Settlements
from ..application.desk import TapDesk
from ..application.fares import FareCollector
from ..application.ports import RidershipStatements
from ..application.service import TransitApplication
from ..settings import TransitSettings


@dataclass
class TransitContainer:
    settings: TransitSettings
    store: TransitApplication
    clock: Clock
    digest: PassDigest
    collector: FareCollector
    desk: TapDesk
    admin: NetworkAdmin
    settlements: Settlements
    ridership: RidershipStatements
    devices: ValidatorDevices
