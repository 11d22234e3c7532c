"""Missions entry points: HTTP routes, Kafka handlers, CLI commands."""
