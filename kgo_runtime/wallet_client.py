"""How another service calls the wallet: as ``service``, with an idempotency key derived
from its own id for the thing (redemption id, tap id), so a retry at any hop lands once.

The service's wallet token is ``<SERVICE>_WALLET_TOKEN``; on a developer machine `kgo run`
writes one to ``$KGO_HOME/secrets/<service>.wallet-token`` once the wallet is up, and the
client reads it when it first needs it (until then a call answers
:class:`WalletUnavailable`). Connection errors and 503s are retried a few times with the
same key; every other answer is returned as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from kgo_runtime.access import WalletIntrospection
from kgo_runtime.logging import get_logger
from kgo_runtime.settings import InfraSettings, ServiceSettings

log = get_logger(__name__)


class WalletUnavailable(Exception):
    """The wallet did not answer (or answered 503) after the retries: try again later."""


def token_file(service: str) -> Path:
    return InfraSettings().home / "secrets" / f"{service}.wallet-token"


def token_source(settings: ServiceSettings) -> Callable[[], str | None]:
    """The service's wallet token: from its settings, else from the file `kgo run` writes."""
    if settings.wallet_token is not None:
        configured = settings.wallet_token.get_secret_value()
        return lambda: configured
    path = token_file(settings.service_name)

    def from_file() -> str | None:
        try:
            return path.read_text().strip() or None
        except FileNotFoundError:
            return None

    return from_file


class WalletClient:
    def __init__(
        self,
        base_url: str,
        token: Callable[[], str | None],
        *,
        timeout: float = 5.0,
        attempts: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token
        self._attempts = attempts
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    @classmethod
    def for_service(cls, settings: ServiceSettings, **options: Any) -> WalletClient:
        return cls(settings.wallet_url, token_source(settings), **options)

    async def close(self) -> None:
        await self.http.aclose()

    def introspection(self, **options: Any) -> WalletIntrospection:
        """API tokens presented to this service, checked at the wallet with this client."""
        return WalletIntrospection(_Authorised(self), **options)

    async def post(
        self, path: str, body: Mapping[str, Any] | None, *, idempotency_key: str
    ) -> httpx.Response:
        return await self.request("POST", path, json=body, idempotency_key=idempotency_key)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.request("GET", path, params=params or None)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        token = self._token()
        if token is None:
            raise WalletUnavailable("this service has no wallet token yet")
        headers = {"Authorization": f"Bearer {token}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        delay = 0.1
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self.http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.HTTPError as error:
                failure: str = repr(error)
            else:
                if response.status_code != 503:
                    return response
                failure = f"503 {response.text[:200]}"
            if attempt < self._attempts:
                await asyncio.sleep(delay)
                delay *= 3
        log.warning("wallet unavailable", method=method, path=path, failure=failure)
        raise WalletUnavailable(failure)


class _Authorised:
    """The slice of httpx.AsyncClient that :class:`WalletIntrospection` uses, with the
    service's token."""

    def __init__(self, client: WalletClient) -> None:
        self._client = client

    async def post(self, path: str, json: Mapping[str, Any]) -> httpx.Response:
        try:
            return await self._client.request("POST", path, json=json)
        except WalletUnavailable as error:
            raise httpx.TransportError(str(error)) from error
