"""The missions HTTP API (``/v1``). Same conventions as the wallet: a bearer token on every
route, an ``Idempotency-Key`` on every write, problem+json errors with a stable ``code``.

| Route                                         | admin | oper  | audit | resid |
|-----------------------------------------------|:-----:|:-----:|:-----:|:-----:|
| GET  /v1/missions, /v1/missions/{id}          |   x   |   x   |   x   |   x   |
| POST /v1/missions                             |   x   | own¹  |       |       |
| PATCH /v1/missions/{id}, POST .../retire      |   x   | own¹  |       |       |
| POST /v1/missions/{id}/awards                 |   x   | own¹  |       |       |
| GET  /v1/residents/{w}/missions|completions|check-ins | x | x |   x   | own²  |
| POST /v1/activities                           |   x   | own¹  |       |       |
| GET  /v1/activities, /v1/activities/{id}      |   x   |   x   |   x   |   x   |
| GET  /v1/activities/{id}/code, .../code.svg   |   x   | own¹  |       |       |
| POST /v1/activities/{id}/check-ins            |       |       |       |   x   |
| POST /v1/activities/{id}/attendance           |   x   | own¹  |       |       |

¹ A programme operator's token bound to a programme (its subject) acts only on missions paid
  from that programme; activities are paid from ``MISSIONS_ACTIVITIES_PROGRAMME``.
² A resident (``kgoa_`` access token, subject = wallet id) reads only its own wallet.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kgo_runtime.http import flat_router

from . import routes_activities, routes_missions, routes_residents

API_METADATA: dict[str, Any] = {
    "title": "KGO missions",
    "version": "1.0.0",
    "summary": "Missions, municipal activities and residents' progress.",
    "description": (
        "Every `/v1` route needs `Authorization: Bearer <token>` (a KGO API token or a "
        "resident's access token); every write needs an `Idempotency-Key` header (a retry with "
        "the same key and body gets the first answer, marked `Idempotent-Replayed: true`). "
        "Coins are whole numbers. Errors are `application/problem+json` with a stable `code`."
    ),
    "openapi_tags": [
        {"name": "missions", "description": "The catalogue the municipality manages."},
        {"name": "activities", "description": "Municipal activities and check-ins."},
        {"name": "residents", "description": "A resident's progress and completions."},
    ],
}


def build_router() -> APIRouter:
    return flat_router(routes_missions.router, routes_activities.router, routes_residents.router)
