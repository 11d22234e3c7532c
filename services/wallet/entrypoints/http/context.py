"""What a route gets from its request: the wallet's container, the authenticated caller and,
for a write, its idempotency key and a way to submit the command.

A write's dependencies run in this order, so the answer names the first thing wrong:
401 (no token), 403 (wrong role), 415 (a body that is not JSON), 400 (no Idempotency-Key),
then 422 (the body). Only a body that is not even JSON is refused before the token is read:
FastAPI parses the body before it resolves dependencies.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the annotations of the
# dependencies made in closures below at runtime, and a string could not name ``roles``.

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kgo_runtime.access import ACCESS_PREFIX
from kgo_runtime.writes import IdempotencyKey, json_only, receipt_scope

from ...application.commands import Command, Outcome
from ...application.undecided import NotDecided
from ..container import WalletContainer
from .auth import Principal, Role, forbidden, principal_of, unauthenticated
from .problems import ProblemError, outcome_response

log = logging.getLogger(__name__)


_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="kgo_...",
    description="A wallet API token (`kgo wallet token create`, or POST /v1/tokens).",
)


def wallet(request: Request) -> WalletContainer:
    container: WalletContainer | None = getattr(request.app.state, "wallet", None)
    if container is None:
        raise ProblemError(
            503,
            "not_ready",
            "the wallet is still starting; retry shortly",
            headers={"Retry-After": "1"},
        )
    return container


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def authenticate(request: Request, credentials: Credentials) -> Principal:
    if credentials is None:
        raise unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    container = wallet(request)
    presented = credentials.credentials
    if presented.startswith(ACCESS_PREFIX):
        signed = container.access.verifier.verify(presented)
        if signed is None:
            raise unauthenticated("the access token is invalid or expired")
        return signed
    return principal_of(await container.tokens.authenticate(presented))


def allow(*roles: Role, json_body: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, if its role is one of ``roles``; 403 otherwise. With
    ``json_body``, then 415 for a body that is not JSON.

    One dependency, not a chain (``authenticate`` and ``json_only`` are called, not depended
    on): FastAPI solves every dependency separately on every request, which cost a write
    more than its route. ``kgo_runtime.route_table`` reads ``roles`` from this closure."""

    async def allowed(request: Request, credentials: Credentials) -> Principal:
        principal = await authenticate(request, credentials)
        if principal.role not in roles:
            raise forbidden(f"a {principal.role} token may not do this")
        if json_body:
            await json_only(request)
        return principal

    return allowed


@dataclass(frozen=True)
class Reader:
    wallet: WalletContainer
    principal: Principal


def reader(*roles: Role) -> Callable[..., Awaitable[Reader]]:
    async def read_context(
        request: Request, principal: Annotated[Principal, Depends(allow(*roles))]
    ) -> Reader:
        return Reader(wallet(request), principal)

    return read_context


@dataclass(frozen=True)
class Writer:
    wallet: WalletContainer
    principal: Principal
    idempotency_key: str

    def stamp(self) -> dict[str, Any]:
        """The fields every command carries: the key, its scope, and the business time."""
        return {
            "idempotency_key": self.idempotency_key,
            "caller": receipt_scope(self.principal),
            "at": self.wallet.clock.now(),
        }

    async def submit(self, command: Command) -> Response:
        return outcome_response(await self.decide(command))

    async def decide(self, command: Command) -> Outcome:
        """The ledger's answer, for a route that must look at it before answering."""
        try:
            return await self.wallet.bus.submit(command)
        except Exception as error:
            log.warning("command %s not decided: %s", command.name, type(error).__name__)
            code = error.code if isinstance(error, NotDecided) else "store_unavailable"
            retry_after = error.retry_after if isinstance(error, NotDecided) else 1
            raise ProblemError(
                503,
                code,
                "the wallet could not decide this now; retry with the same Idempotency-Key",
                headers={"Retry-After": str(retry_after)},
            ) from error


@dataclass(frozen=True)
class BatchWriter:
    """A write of many commands, each with an idempotency key of its own (in the body)."""

    wallet: WalletContainer
    principal: Principal

    def item(self, idempotency_key: str) -> Writer:
        return Writer(self.wallet, self.principal, idempotency_key)


def batch_writer(*roles: Role) -> Callable[..., Awaitable[BatchWriter]]:
    """The dependency of a batch write: the guard (401, 403, then 415), no header key."""

    async def batch_context(
        request: Request,
        principal: Annotated[Principal, Depends(allow(*roles, json_body=True))],
    ) -> BatchWriter:
        return BatchWriter(wallet(request), principal)

    return batch_context


def writer(*roles: Role) -> Callable[..., Awaitable[Writer]]:
    """The write dependency: the guard (401, 403, then 415) is solved first, the key (a
    header parameter of this dependency, read after its dependencies) second."""

    async def write_context(
        request: Request,
        principal: Annotated[Principal, Depends(allow(*roles, json_body=True))],
        key: IdempotencyKey,
    ) -> Writer:
        return Writer(wallet(request), principal, key)

    return write_context
