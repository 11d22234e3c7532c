"""Hostile callers on every API: each service's guarded routes, called with no token, a forged
token, and a token of every role its table (``entrypoints/http/access.toml``) leaves out, answer
401 or 403 problem+json, and nothing else; no route answers a stranger with data or a 5xx."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from kgo_runtime.access import Role
from kgo_runtime.route_table import PUBLIC, load
from kgo_runtime.settings import PROJECT_ROOT

from .five_services import SERVICES, Platform, start_platform

pytestmark = pytest.mark.e2e

PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    logs = tmp_path_factory.mktemp("five")
    with pytest.MonkeyPatch.context() as patch:
        async for running in start_platform(logs / "home", logs, patch):
            yield running


def concrete(path: str) -> str:
    """A path with every parameter filled by a well-formed value nobody owns."""
    return PARAM.sub(lambda m: "welcome" if m.group(1) == "programme" else str(uuid4()), path)


def guarded(service: str) -> list[tuple[str, str, frozenset[str]]]:
    table = load(PROJECT_ROOT / "services" / service / "entrypoints/http/access.toml")
    return [(*route.split(" ", 1), roles) for route, roles in table.items() if roles != {PUBLIC}]


async def call(client: httpx.AsyncClient, method: str, url: str, token: str | None):
    headers = {"Idempotency-Key": uuid4().hex}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = None if method in ("GET", "DELETE") else {}
    return await client.request(method, url, json=body, headers=headers)


async def refusals(
    client: httpx.AsyncClient, platform: Platform, method: str, url: str, roles: frozenset[str]
) -> list[str]:
    """What is wrong with one route's answers to strangers and to every role it leaves out."""
    forged = platform.token(Role.MUNICIPAL_ADMIN)[:-6] + "AAAAAA"  # the signature broken
    tries: list[tuple[str, str | None, int]] = [
        ("no token", None, 401), ("unknown token", "kgo_nonsense", 401), ("forged", forged, 401),
    ]  # fmt: skip
    tries += [
        (role.value, platform.token(role, subject=str(uuid4())), 403)
        for role in Role
        if role.value not in roles
    ]
    answers = await asyncio.gather(*(call(client, method, url, token) for _, token, _ in tries))
    return [
        f"{method} {url} as {who} -> {answer.status_code} {answer.text[:120]}"
        for (who, _, expected), answer in zip(tries, answers, strict=True)
        if answer.status_code != expected or "problem" not in answer.headers.get("content-type", "")
    ]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("service", SERVICES)
async def test_every_guarded_route_refuses_strangers_and_other_roles(
    platform: Platform, service: str
) -> None:
    base = platform.url(service)
    async with httpx.AsyncClient(timeout=60) as client:
        found = [
            await refusals(client, platform, method, base + concrete(path), roles)
            for method, path, roles in guarded(service)
        ]
    assert [wrong for route in found for wrong in route] == []


def _caller_for(platform: Platform, service: str, method: str, path: str) -> str | None:
    """A token of the first role the table lets through, so generated requests reach the
    route's own validation and handler instead of stopping at the guard."""
    table = load(PROJECT_ROOT / "services" / service / "entrypoints/http/access.toml")
    roles = sorted(table.get(f"{method} {path}", {PUBLIC}) - {PUBLIC})
    return platform.token(roles[0], subject=str(uuid4())) if roles else None


def probe(operation: APIOperation, base: str, headers: dict[str, str], calls: list[str]) -> str:
    """Six generated requests (valid and invalid) to one operation; the first failure, or ''."""

    @settings(max_examples=6, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        mode = data.draw(st.sampled_from(list(GenerationMode)))
        case = data.draw(operation.as_strategy(generation_mode=mode))
        calls.append(operation.label)
        case.call_and_validate(
            base_url=base, headers=headers, timeout=30,
            checks=[not_a_server_error, response_schema_conformance],
        )  # fmt: skip

    try:
        run()
    except Exception as error:  # schemathesis raises a FailureGroup, hypothesis may wrap it
        return f"{operation.label}: {str(error)[:600]}"
    return ""


@pytest.mark.timeout(900)
@pytest.mark.parametrize("service", SERVICES)
def test_generated_requests_never_get_a_server_error(platform: Platform, service: str) -> None:
    """schemathesis against the service's own OpenAPI document: whatever it generates (valid,
    out of range, oddly encoded), the answer is never a 5xx and a documented status carries its
    documented body."""
    base = platform.url(service)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    calls: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/v1/public/stream":  # an endless event stream
            continue
        token = _caller_for(platform, service, operation.method.upper(), operation.path)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        failures.append(probe(operation, base, headers, calls))
    assert len(set(calls)) >= 10, calls  # the document was read and its routes called
    assert [f for f in failures if f] == []
