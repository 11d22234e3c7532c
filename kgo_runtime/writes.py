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
from typing import TYPE_CHECKING, Annotated

from fastapi import Header, Request

from kgo_runtime.problems import IDEMPOTENCY_HEADER, ProblemError

if TYPE_CHECKING:  # kgo_runtime.access uses json_only
    from kgo_runtime.access import Principal

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "IdempotencyKey",
    "idempotency_key",
    "json_only",
    "receipt_scope",
]

#: What an idempotency key may be: 1 to 128 visible ASCII characters (the header's, and a
#: batch item's own key).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"


async def json_only(request: Request) -> None:
    """415 for a body sent as anything but JSON (no body at all is left to the schema).
    Async, like every dependency here: a plain ``def`` would run on a worker thread."""
    headers = request.headers
    if headers.get("content-length", "0") == "0" and not headers.get("transfer-encoding"):
        return
    given = headers.get("content-type", "")
    if given == "application/json":  # what nearly every client sends: no parsing needed
        return
    message = email.message.Message()
    message["content-type"] = given
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (
        subtype == "json" or subtype.endswith("+json")
    ):
        raise ProblemError(415, "unsupported_media_type", "send the body as application/json")


#: The write's key, as a parameter of a route or of its write dependency (read with the
#: route's own parameters, after its dependencies: a missing token still answers 401 first).
#: Missing or malformed, it is answered 400 (kgo_runtime.problems).
IdempotencyKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="1 to 128 visible ASCII characters, unique per request of this caller; "
        "a retry with the same key and body gets the first answer.",
    ),
]


async def idempotency_key(key: IdempotencyKey) -> str:
    """The write's key as a dependency of its own (a parameter typed :data:`IdempotencyKey`
    costs less: FastAPI solves every dependency separately, on every request)."""
    return key


def receipt_scope(principal: "Principal") -> str:
    """The caller's idempotency scope: ``<role>:<subject or name, percent-encoded>``."""
    who = principal.subject or principal.name
    return f"{principal.role}:{who.replace('%', '%25').replace(':', '%3A')}"
