"""`kgo export`: research exports (see services/research/README.md)."""

from services.research.entrypoints.cli import export_app as app

__all__ = ["app"]
