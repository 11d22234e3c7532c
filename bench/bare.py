"""The framework's own ceiling: a bare FastAPI + uvicorn app that only validates a spend.

It takes ``POST /v1/spends`` with the wallet's own ``SpendRequest`` body model (pydantic), a
bearer header and an idempotency key, and answers 201 with a spend-sized JSON answer; no
database, no Kafka, no token lookup. It runs as its own process under uvicorn with the same
settings as `kgo serve` (no access log) and the same FastAPI configuration as every service
(FastAPI's native OpenTelemetry off, ``kgo_runtime.http.NO_TELEMETRY``), and `bench.http`
drives it with the same wrk script and connection counts as the wallet's HTTP spends, so the
wallet's rate is held against it.

    uv run uvicorn bench.bare:app --port 8099 --no-access-log
"""

from __future__ import annotations

from typing import Annotated
from uuid import uuid4

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

from kgo_runtime.http import NO_TELEMETRY
from services.wallet.entrypoints.http.api_models_consent import SpendRequest

app = FastAPI(title="bare spend (bench)", telemetry=NO_TELEMETRY)


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/v1/spends", status_code=201)
async def spend(
    body: SpendRequest,
    authorization: Annotated[str, Header()],
    idempotency_key: Annotated[str, Header()],
) -> JSONResponse:
    return JSONResponse(
        {"movement_id": str(uuid4()), "wallet_id": str(uuid4()), "amount": body.amount},
        status_code=201,
    )
