"""The projections' query API (``/v1/...``): public figures without a token, with small
counts suppressed; balances for auditors and administrators; a resident's own figures."""

from services.projections.entrypoints.http.routes import API_METADATA, build_router

__all__ = ["API_METADATA", "build_router"]
