"""DirectRoute and the literal-path index answer exactly what FastAPI's own solver and route
walk answer: the same app built both ways, the same requests, the same answers."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from kgo_runtime.direct_routes import DirectRoute
from kgo_runtime.http import LiteralPaths, add_routes, index_literal_paths
from kgo_runtime.problems import ProblemError, install_error_handlers
from kgo_runtime.writes import IdempotencyKey, json_only

_bearer = HTTPBearer(auto_error=False)


async def guard(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    if credentials is None:
        raise ProblemError(401, "unauthenticated", "no token")
    if credentials.credentials != "good":
        raise ProblemError(403, "forbidden", "not this token")
    await json_only(request)
    return credentials.credentials


async def write(principal: Annotated[str, Depends(guard)], key: IdempotencyKey) -> str:
    return f"{principal}:{key}"


class Pay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Annotated[int, Field(strict=True, gt=0)]
    reference: str


def build(route_class: type[APIRoute], index: bool) -> FastAPI:
    router = APIRouter(prefix="/v1", route_class=route_class)

    @router.post("/wallets/{wallet_id}/pay", status_code=201)
    async def pay(wallet_id: UUID, body: Pay, who: Annotated[str, Depends(write)]) -> Response:
        return JSONResponse({"wallet": str(wallet_id), "who": who, **body.model_dump()}, 201)

    @router.post("/ping")
    async def ping(who: Annotated[str, Depends(write)]) -> Response:
        return JSONResponse({"who": who})

    @router.get("/things/{name}")
    async def thing(name: str) -> dict[str, str]:  # a model answer: FastAPI's own handler
        return {"name": name}

    @router.get("/things/special")  # shadowed by the route above: never indexed
    async def special() -> dict[str, str]:
        return {"name": "special"}

    app = FastAPI()
    install_error_handlers(app)
    add_routes(app, router)
    if index:
        index_literal_paths(app)
    return app


WALLET = "2f0b2f3e-1b8e-4c1e-9a55-0d7c1c5f2a10"
JSON = {"content-type": "application/json"}
GOOD = {"authorization": "Bearer good", "idempotency-key": "k-1", **JSON}
BODY = b'{"amount": 3, "reference": "r"}'

CASES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("POST", f"/v1/wallets/{WALLET}/pay", GOOD, BODY),
    ("POST", f"/v1/wallets/{WALLET}/pay", {**GOOD, "authorization": ""}, BODY),
    ("POST", f"/v1/wallets/{WALLET}/pay", {**GOOD, "authorization": "Basic abc"}, BODY),
    ("POST", f"/v1/wallets/{WALLET}/pay", {**GOOD, "authorization": "Bearer bad"}, BODY),
    ("POST", f"/v1/wallets/{WALLET}/pay", {**GOOD, "content-type": "text/plain"}, BODY),
    ("POST", f"/v1/wallets/{WALLET}/pay", {**GOOD, "content-type": "application/vnd+json"}, BODY),
    ("POST", f"/v1/wallets/{WALLET}/pay", {**GOOD, "content-type": ""}, BODY),
    ("POST", f"/v1/wallets/{WALLET}/pay", {"authorization": "Bearer good", **JSON}, BODY),
    ("POST", f"/v1/wallets/{WALLET}/pay", {**GOOD, "idempotency-key": "a b"}, BODY),
    ("POST", f"/v1/wallets/{WALLET}/pay", GOOD, b'{"amount": "3", "reference": 1, "x": 1}'),
    ("POST", f"/v1/wallets/{WALLET}/pay", GOOD, b'{"amount": 3,'),
    ("POST", f"/v1/wallets/{WALLET}/pay", GOOD, b""),
    ("POST", "/v1/wallets/not-a-uuid/pay", {**GOOD, "idempotency-key": ""}, b"[]"),
    ("POST", "/v1/wallets/not-a-uuid/pay", {**GOOD, "authorization": ""}, b"{"),
    ("POST", "/v1/ping", GOOD, b""),
    ("POST", "/v1/ping", {**GOOD, "idempotency-key": ""}, b""),
    ("GET", "/v1/ping", GOOD, b""),
    ("GET", "/v1/things/special", {}, b""),
    ("GET", "/v1/things/other", {}, b""),
    ("GET", "/v1/nothing", {}, b""),
    ("POST", "/v1/ping/", GOOD, b""),
]


async def _answers(app: FastAPI) -> list[tuple[int, dict[str, str], bytes]]:
    answers = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method, path, headers, body in CASES:
            sent = {k: v for k, v in headers.items() if v != ""}
            response = await client.request(method, path, headers=sent, content=body)
            kept = {k: v for k, v in response.headers.items() if k != "content-length"}
            answers.append((response.status_code, kept, response.content))
    return answers


async def test_direct_routes_and_the_index_answer_as_fastapi_does() -> None:
    expected = await _answers(build(APIRoute, index=False))
    assert {status for status, _, _ in expected} >= {
        200,
        201,
        307,
        400,
        401,
        403,
        404,
        405,
        415,
        422,
    }
    for route_class, index in ((DirectRoute, False), (APIRoute, True), (DirectRoute, True)):
        answers = await _answers(build(route_class, index))
        for case, got, want in zip(CASES, answers, expected, strict=True):
            assert got == want, case


def test_direct_routes_take_only_what_they_can_answer() -> None:
    app = build(DirectRoute, index=False)
    general = {route.path: route for route in app.routes if isinstance(route, APIRoute)}
    handler = general["/v1/wallets/{wallet_id}/pay"].app
    assert handler is not None
    # The model-answering route is answered by FastAPI's own handler, the others directly:
    # seen from the handler's qualified name inside request_response's closure.
    names = {
        path: {
            getattr(cell.cell_contents, "__qualname__", "")
            for cell in (route.app.__closure__ or ())
        }
        for path, route in general.items()
    }
    assert any("DirectRoute" in n for n in names["/v1/wallets/{wallet_id}/pay"])
    assert any("DirectRoute" in n for n in names["/v1/ping"])
    assert not any("DirectRoute" in n for n in names["/v1/things/{name}"])


def test_the_index_leaves_shadowed_paths_to_the_walk() -> None:
    app = build(APIRoute, index=True)
    index = app.router.routes[0]
    assert isinstance(index, LiteralPaths)
    index.matches({"type": "http", "path": "/v1/ping", "root_path": "", "method": "POST"})
    assert set(index._index) >= {"/v1/ping"}
    assert "/v1/things/special" not in index._index
    assert list(app.openapi()["paths"]) == list(build(APIRoute, index=False).openapi()["paths"])


@pytest.mark.parametrize("path", ["/v1/ping"])
def test_url_path_for_still_finds_routes(path: str) -> None:
    app = build(DirectRoute, index=True)
    assert app.url_path_for("ping") == path
