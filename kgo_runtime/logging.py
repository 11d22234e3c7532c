"""Structured JSON logs: one object per line with ``service``, ``level``, ``timestamp`` (UTC)
and ``correlation_id`` when one is set.

The correlation id lives in a contextvar: the HTTP middleware sets it from the
``X-Correlation-ID`` request header (or a new id), the consumer sets it to the record's
``ce_id`` while its handler runs. Logs of the libraries (uvicorn, aiokafka, eventsourcing)
go through the same JSON formatter.
"""

from __future__ import annotations

import logging
import random
import sys
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson
import structlog

CORRELATION_HEADER = "X-Correlation-ID"

correlation_id: ContextVar[str | None] = ContextVar("kgo_correlation_id", default=None)

_service: str = "kgo"


def new_correlation_id() -> str:
    """A new id in uuid4's hex form, from ``random`` rather than ``os.urandom``: it names a
    request in the logs and is no secret, and ``os.urandom`` lets go of the GIL, so on a busy
    process (the wallet's writer thread) each call can cost a wait for the GIL back."""
    return uuid.UUID(int=random.getrandbits(128), version=4).hex


@contextmanager
def correlation(value: str | None = None) -> Iterator[str]:
    """Run a block with a correlation id (a new one unless given)."""
    cid = value or new_correlation_id()
    token = correlation_id.set(cid)
    try:
        yield cid
    finally:
        correlation_id.reset(token)


def _add_context(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict.setdefault("service", _service)
    cid = correlation_id.get()
    if cid is not None:
        event_dict.setdefault("correlation_id", cid)
    return event_dict


def _dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record, ours and the libraries', to stderr as JSON lines.

    Idempotent: calling it again (e.g. a second app in one test process) replaces the handler.
    """
    global _service
    _service = service
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_context,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("kgo")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "kgo"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiokafka narrates every group join and fetch at INFO; keep its warnings and errors.
    logging.getLogger("aiokafka").setLevel(max(root.level, logging.WARNING))


def get_logger(name: str | None = None, **bound: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **bound)
    return logger
