"""Why a command was not decided now. Nothing of it was stored: the caller may send it again
with the same idempotency key and gets the one answer the ledger decides then.

They subclass ``ConnectionError``, one of the errors the service's HTTP layer answers 503
``store_unavailable`` by default; the writer's routes answer each with its own code.
"""

from __future__ import annotations


class NotDecided(ConnectionError):
    code = "store_unavailable"
    #: Seconds a caller should wait before sending it again.
    retry_after = 1


class StoreUnavailable(NotDecided):
    """The event store could not be reached while the command's batch was decided."""


class Overloaded(NotDecided):
    """Too many commands already wait for the writer: back-pressure, refused at once."""

    code = "overloaded"


class DeadlineExceeded(NotDecided):
    """The command waited longer than its deadline; it will not be decided later."""

    code = "deadline_exceeded"
