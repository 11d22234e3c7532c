"""What a route gets from its request: the container, the caller, and for a write its
idempotency key and a way to run the command.

A write's dependencies run in this order, so the answer names the first thing wrong: 401 (no
token), 403 (wrong role), 415 (a body that is not JSON), 400 (no Idempotency-Key), then 422.
"""

# No ``from __future__ import annotations``: FastAPI reads the annotations of the
# dependencies made in closures below at runtime.

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from kgo_runtime.access import Principal, Role, allow, forbidden
from kgo_runtime.problems import REPLAYED_HEADER, ProblemError
from kgo_runtime.writes import IdempotencyKey, receipt_scope

from ...application.commands import Command
from ...domain.errors import MissionsError
from ..container import MissionsContainer
from .problems import problem_of


def container(request: Request) -> MissionsContainer:
    found: MissionsContainer | None = getattr(request.app.state, "missions", None)
    if found is None:
        raise ProblemError(
            503,
            "not_ready",
            "missions is still starting; retry shortly",
            headers={"Retry-After": "1"},
        )
    return found


@dataclass(frozen=True)
class Reader:
    container: MissionsContainer
    principal: Principal

    def require_reader_of(self, wallet_id: UUID) -> None:
        """A resident reads only its own wallet's missions (decided before any lookup)."""
        if self.principal.role is Role.RESIDENT and self.principal.subject != str(wallet_id):
            raise forbidden("this token may read its own wallet's missions only")

    async def run(self, query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(query, *args, **kwargs)
        except MissionsError as error:
            raise problem_of(error) from None


def reader(*roles: Role) -> Callable[..., Awaitable[Reader]]:
    async def read_context(
        request: Request, principal: Annotated[Principal, Depends(allow(*roles))]
    ) -> Reader:
        return Reader(container(request), principal)

    return read_context


@dataclass(frozen=True)
class Writer(Reader):
    idempotency_key: str

    def stamp(self) -> dict[str, Any]:
        """The fields every command carries: key, its scope (the caller), business time, and
        the programme a programme operator's token is bound to."""
        scope = self.principal.subject if self.principal.role is Role.PROGRAMME_OPERATOR else None
        return {
            "idempotency_key": self.idempotency_key,
            "caller": receipt_scope(self.principal),
            "at": self.now(),
            "scope": scope,
        }

    def now(self) -> datetime:
        return self.container.clock.now()

    async def submit(self, command: Command, status: int = 201) -> JSONResponse:
        try:
            outcome = await asyncio.to_thread(self.container.missions.execute, command)
        except MissionsError as error:
            raise problem_of(error, replayed=error.replayed) from None
        headers = {REPLAYED_HEADER: "true"} if outcome.replayed else None
        return JSONResponse(outcome.body, status_code=status, headers=headers)


def writer(*roles: Role) -> Callable[..., Awaitable[Writer]]:
    async def write_context(
        request: Request,
        principal: Annotated[Principal, Depends(allow(*roles, json_body=True))],
        key: IdempotencyKey,
    ) -> Writer:
        return Writer(container(request), principal, key)

    return write_context
