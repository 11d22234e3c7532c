"""Projections adapters: the read models' Postgres tables and queries."""
