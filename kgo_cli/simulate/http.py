"""The simulator's one HTTP client: every request it makes, with retries of what the
platform asks to be retried, the count of commands answered, and the time spent per route."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

_ROUTE = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|(?<=/)[0-9]{6,}")


@dataclass
class Endpoints:
    wallet: str = "http://127.0.0.1:8101"
    missions: str = "http://127.0.0.1:8102"
    merchant: str = "http://127.0.0.1:8103"
    transit: str = "http://127.0.0.1:8104"
    projections: str = "http://127.0.0.1:8105"

    def all(self) -> dict[str, str]:
        return {
            "wallet": self.wallet,
            "missions": self.missions,
            "merchant": self.merchant,
            "transit": self.transit,
            "projections": self.projections,
        }


class Refused(Exception):
    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.code, self.status = code, status


class Api:
    """``call`` retries transport errors, 429, 502-504 and 409 ``concurrent_request`` (the
    platform's "send it again"); any other answer outside ``ok`` raises ``Refused``."""

    def __init__(self, concurrency: int) -> None:
        self._limits = httpx.Limits(
            max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2
        )
        self._http: httpx.AsyncClient | None = None
        self.commands = 0  # writes answered (reads and retries not counted)
        self.requests = 0  # every HTTP request, polls and retries included
        #: Where the time goes: route -> [requests, seconds waited for answers].
        self.timings: dict[str, list[float]] = {}
        #: Answers sent again, by what came back ("transport", "503", "409"...).
        self.retried: Counter[str] = Counter()
        self.attempts = 20
        #: Answers that mean "send it again" (a fault test adds 500 to ride out a crash).
        self.retry_statuses = {429, 502, 503, 504}
        self.on_command: Callable[[], None] | None = None
        #: When a list: every write's (route, answer) the platform gave (a fault test's
        #: record of what clients were told).
        self.journal: list[tuple[str, Any]] | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The client of the running event loop (opened on first use, closed by ``close``:
        the simulation and its summary run in separate ``asyncio.run``s)."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30, limits=self._limits)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def call(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        key: str | None = None,
        body: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
    ) -> Any:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["Idempotency-Key"] = key
        route = f"{method} " + _ROUTE.sub("{}", httpx.URL(url).path)
        for attempt in range(self.attempts):
            began = time.perf_counter()
            try:
                response = await self.http.request(method, url, json=body, headers=headers)
            except httpx.TransportError:
                self.retried["transport"] += 1
                await asyncio.sleep(min(2.0, 0.2 * (attempt + 1)))
                continue
            self.requests += 1
            spent = self.timings.setdefault(route, [0, 0.0])
            spent[0] += 1
            spent[1] += time.perf_counter() - began
            if response.status_code in self.retry_statuses or _concurrent(response):
                self.retried[str(response.status_code)] += 1
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
                continue
            if method != "GET":
                self.commands += 1
                if self.on_command is not None:
                    self.on_command()
            if response.status_code in ok:
                answer = response.json() if response.content else None
                if self.journal is not None and method != "GET":
                    self.journal.append((route, answer))
                return answer
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise Refused(
                str(problem.get("code", f"http_{response.status_code}")), response.status_code
            )
        raise Refused("unavailable", 503)

    async def ready(self, url: str) -> bool:
        try:
            return (await self.http.get(f"{url}/readyz", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    async def offers(self, url: str, route: str) -> bool:
        """Whether the service at ``url`` is up and offers ``route`` (not a placeholder)."""
        if not await self.ready(url):
            return False
        try:
            spec = (await self.http.get(f"{url}/openapi.json", timeout=5)).json()
        except (httpx.HTTPError, ValueError):
            return False
        return route in spec.get("paths", {})


def _concurrent(response: httpx.Response) -> bool:
    if response.status_code != 409:
        return False
    try:
        return bool(response.json().get("code") == "concurrent_request")
    except ValueError:
        return False
