"""The one error `kgo infra` shows to people: a single sentence, never a traceback."""

from __future__ import annotations


class InfraError(Exception):
    """Something the operator has to act on; ``str(error)`` is one clear sentence."""


class PrereqError(InfraError):
    """A program the local infrastructure needs is missing or too old."""
