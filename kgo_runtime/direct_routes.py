"""Routes whose dependencies are solved by a plan made once, when the route is built, instead
of by FastAPI's general solver on every request.

FastAPI (0.16x) solves a route's dependency tree afresh for every request: for each
dependency it works out a cache key, its OAuth scopes, whether it is a generator, and it
walks every kind of parameter (path, query, header, cookie) even where there is none. For a
write that is a guard, a security scheme and an idempotency key, that bookkeeping cost more
than the route. :class:`DirectRoute` keeps the route exactly as FastAPI describes it (the same
dependant tree, so the OpenAPI document and ``kgo_runtime.route_table`` see no difference),
and answers requests with a handler that calls the same dependencies, in the same order,
validating the same parameters with FastAPI's own functions, so every answer (401, 403, 415,
400, 422 and their bodies) is the one FastAPI would give.

It takes the routes it can answer that way: every dependency an ``async def`` (no generators,
no threads), none used twice, no background tasks, response or security-scope parameters,
and an endpoint that returns a ``Response`` itself. Any other route, and every route while
dependency overrides are set, is answered by FastAPI's own handler.
"""

from __future__ import annotations

import email.message
import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@dataclass(frozen=True, slots=True)
class _Step:
    """One dependant of the tree, with what solving it needs and nothing else."""

    call: Callable[..., Awaitable[Any]]
    name: str | None
    dependencies: tuple[_Step, ...]
    path_params: list[Any]
    query_params: list[Any]
    header_params: list[Any]
    cookie_params: list[Any]
    body_params: list[Any]
    request_param: str | None
    connection_param: str | None


class DirectRoute(APIRoute):
    """An ``APIRoute`` answered by a plan of its dependencies made once (see the module)."""

    def get_route_handler(self) -> Handler:
        general = super().get_route_handler()
        route = _effective(self)
        plan = None if route is None else _plan(route.dependant, seen=set())
        if plan is None or not _returns_response(route.dependant.call):
            return general
        body_field = route.body_field
        embed = route._embed_body_fields
        strict = getattr(route, "strict_content_type", True)
        strict = getattr(strict, "value", strict)
        overrides = route.dependency_overrides_provider

        async def handle(request: Request) -> Response:
            if overrides is not None and getattr(overrides, "dependency_overrides", None):
                return await general(request)
            body = (
                await _read_body(request, strict) if body_field is not None else PydanticUndefined
            )
            errors: list[Any] = []
            values = await _solve(plan, request, body, embed, errors)
            if values is None:
                raise RequestValidationError(
                    errors, body=None if body is PydanticUndefined else body
                )
            response: Response = await plan.call(**values)
            return response

        return handle


def _effective(route: APIRoute) -> Any:
    """The route as included (a router included in another gets an effective context with
    the including router's dependencies), the route itself when it is not included, or None
    when this FastAPI does not say which (then FastAPI's own handler answers: a plan of the
    route alone could miss a dependency of the including router)."""
    context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
    if context_var is None:
        return None
    context = context_var.get()
    if context is not None and getattr(context, "original_route", None) is route:
        return context
    return route


def _plan(dependant: Dependant, *, seen: set[Any]) -> _Step | None:
    """The dependant as a plan, or None if it needs what only FastAPI's solver does."""
    call = dependant.call
    if call is None or (
        dependant.background_tasks_param_name
        or dependant.response_param_name
        or dependant.security_scopes_param_name
        or dependant.websocket_param_name
        or dependant.own_oauth_scopes
    ):
        return None
    steps = []
    for sub in dependant.dependencies:
        if sub.call in seen:
            return None  # FastAPI would call it once per request and reuse the answer
        seen.add(sub.call)
        step = _plan(sub, seen=seen)
        if step is None:
            return None
        steps.append(step)
    is_scheme = isinstance(call, SecurityBase)
    target = call.__call__ if is_scheme else call  # type: ignore[operator]
    if not inspect.iscoroutinefunction(target) or _is_generator(target):
        return None
    return _Step(
        call=call,
        name=dependant.name,
        dependencies=tuple(steps),
        path_params=dependant.path_params,
        query_params=dependant.query_params,
        header_params=dependant.header_params,
        cookie_params=dependant.cookie_params,
        body_params=dependant.body_params,
        request_param=dependant.request_param_name,
        connection_param=dependant.http_connection_param_name,
    )


def _is_generator(call: Callable[..., Any]) -> bool:
    return inspect.isasyncgenfunction(call) or inspect.isgeneratorfunction(call)


def _returns_response(endpoint: Any) -> bool:
    try:
        returned = inspect.signature(endpoint, eval_str=True).return_annotation
    except (NameError, TypeError):
        return False
    return inspect.isclass(returned) and issubclass(returned, Response)


async def _solve(
    step: _Step, request: Request, body: Any, embed: bool, errors: list[Any]
) -> dict[str, Any] | None:
    """The values ``step.call`` is called with, in the order FastAPI's solver makes them:
    its dependencies first (one with an invalid parameter is not called, and neither is any
    dependency above it), then its path, query, header and cookie parameters, then the body.
    Invalid parameters are added to ``errors``, and then None is returned."""
    values: dict[str, Any] = {}
    failed = False
    for sub in step.dependencies:
        solved = await _solve(sub, request, body, embed, errors)
        if solved is None:
            failed = True
            continue
        value = await sub.call(**solved)
        if sub.name is not None:
            values[sub.name] = value
    own: list[Any] = []
    if step.path_params:
        own += _params(values, step.path_params, request.path_params)
    if step.query_params:
        own += _params(values, step.query_params, request.query_params)
    if step.header_params:
        own += _params(values, step.header_params, request.headers)
    if step.cookie_params:
        own += _params(values, step.cookie_params, request.cookies)
    if step.body_params:
        found, invalid = await request_body_to_args(
            body_fields=step.body_params, received_body=body, embed_body_fields=embed
        )
        values.update(found)
        own += invalid
    if step.connection_param:
        values[step.connection_param] = request
    if step.request_param:
        values[step.request_param] = request
    if own:
        errors += own
        return None
    return None if failed else values


def _params(values: dict[str, Any], params: list[Any], received: Any) -> list[Any]:
    found, invalid = request_params_to_args(params, received)
    values.update(found)
    return invalid


async def _read_body(request: Request, strict: bool) -> Any:
    """The body as FastAPI reads it for a route with a body: parsed JSON when it is sent as
    JSON, the raw bytes otherwise (the body model then refuses them), Undefined when empty."""
    try:
        raw = await request.body()
        if not raw:
            return PydanticUndefined
        given = request.headers.get("content-type")
        if not given:
            return json.loads(raw) if not strict else raw
        if given == "application/json" or _is_json(given):
            return json.loads(raw)
        return raw
    except json.JSONDecodeError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": error.msg},
                }
            ],
            body=error.doc,
        ) from error
    except HTTPException:
        raise
    except Exception as error:
        raise HTTPException(
            status_code=400, detail="There was an error parsing the body"
        ) from error


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )
