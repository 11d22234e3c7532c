"""What every KGO write request needs at the edge, the same in every service: a JSON body,
an ``Idempotency-Key``, and the scope its receipt is kept under.

The receipt scope is ``<role>:<subject or name>`` (a rotated token of the same shop keeps its
keys; two shops may both use key "1"). Names, subjects and keys may contain ``:``, so the
second part is percent-encoded (``%`` and ``:`` only): a receipt id derived from
``receipt:{scope}:{key}`` then reads back one way only, and token ``a:b`` with key ``c`` can
no longer share a receipt with token ``a`` and key ``b:c``. Scopes without ``%`` or ``:`` are
unchanged, so their receipts stored before this encoding still answer retries.
"""

# No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations.

import email.message
from typing import Annotated

from fastapi import Header, Request

from kgo_runtime.access import Principal
from kgo_runtime.problems import IDEMPOTENCY_HEADER, ProblemError

__all__ = ["idempotency_key", "json_only", "receipt_scope"]


async def json_only(request: Request) -> None:
    """415 for a body sent as anything but JSON (no body at all is left to the schema).
    Async, like every dependency here: a plain ``def`` would run on a worker thread."""
    if request.headers.get("content-length", "0") == "0" and not request.headers.get(
        "transfer-encoding"
    ):
        return
    message = email.message.Message()
    message["content-type"] = request.headers.get("content-type", "")
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (
        subtype == "json" or subtype.endswith("+json")
    ):
        raise ProblemError(415, "unsupported_media_type", "send the body as application/json")


async def idempotency_key(
    key: Annotated[
        str,
        Header(
            alias=IDEMPOTENCY_HEADER,
            pattern=r"^[\x21-\x7e]{1,128}$",
            description="1 to 128 visible ASCII characters, unique per request of this caller; "
            "a retry with the same key and body gets the first answer.",
        ),
    ],
) -> str:
    """The write's key. Missing or malformed, it is answered 400 (kgo_runtime.problems)."""
    return key


def receipt_scope(principal: Principal) -> str:
    """The caller's idempotency scope: ``<role>:<subject or name, percent-encoded>``."""
    who = principal.subject or principal.name
    return f"{principal.role}:{who.replace('%', '%25').replace(':', '%3A')}"
