"""`kgo report`: the research report built from an export (see services/research/README.md)."""

from services.research.entrypoints.cli import report

__all__ = ["report"]
