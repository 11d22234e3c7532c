"""Local infrastructure of `kgo infra`: a real Kafka broker and a PostgreSQL cluster, started
by the project itself (no Docker), with reusable functions for tests and other commands."""

from __future__ import annotations

from kgo_cli.infra.errors import InfraError, PrereqError
from kgo_cli.infra.lifecycle import ensure_down, ensure_up
from kgo_cli.infra.status import InfraStatus, status

__all__ = ["InfraError", "InfraStatus", "PrereqError", "ensure_down", "ensure_up", "status"]
