"""Validators (the card readers on the buses) and their device credentials.

A credential is ``kgo_val_`` + a random secret, shown once; only its SHA-256 is stored, in a
small aggregate whose id is derived from the hash, so a validator's request is authenticated
with one keyed read and no table scan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from .ids import credential_key, validator_key


class Validator(Aggregate):
    TOPIC = "kgo.transit.Validator"

    class Created(Aggregate.Created):
        TOPIC = "kgo.transit.Validator.Created"

    class Registered(Aggregate.Created):
        TOPIC = "kgo.transit.Validator.Registered"
        validator_id: str
        bus_id: str
        route_id: str
        credential_hash: str
        occurred_at: datetime

    class CredentialRotated(Aggregate.Event):
        TOPIC = "kgo.transit.Validator.CredentialRotated"
        credential_hash: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.credential_hash = self.credential_hash

    def __init__(
        self,
        validator_id: str,
        bus_id: str,
        route_id: str,
        credential_hash: str,
        occurred_at: datetime,
    ) -> None:
        self.validator_id = validator_id
        self.bus_id = bus_id
        self.route_id = route_id
        self.credential_hash = credential_hash
        self.registered_at = occurred_at

    @classmethod
    def register(
        cls, validator_id: str, bus_id: str, route_id: str, credential_hash: str, at: datetime
    ) -> Validator:
        return cls._create(
            cls.Registered,
            id=validator_key(validator_id),
            validator_id=validator_id,
            bus_id=bus_id,
            route_id=route_id,
            credential_hash=credential_hash,
            occurred_at=at,
        )

    def rotate(self, credential_hash: str, at: datetime) -> None:
        self.trigger_event(self.CredentialRotated, credential_hash=credential_hash, occurred_at=at)


class Credential(Aggregate):
    """Points a credential's hash at its validator (superseded when the validator rotates)."""

    TOPIC = "kgo.transit.Credential"

    class Created(Aggregate.Created):
        TOPIC = "kgo.transit.Credential.Created"

    class Issued(Aggregate.Created):
        TOPIC = "kgo.transit.Credential.Issued"
        validator_id: str

    def __init__(self, validator_id: str) -> None:
        self.validator_id = validator_id

    @classmethod
    def issue(cls, credential_hash: str, validator_id: str) -> Credential:
        return cls._create(
            cls.Issued, id=credential_key(credential_hash), validator_id=validator_id
        )
