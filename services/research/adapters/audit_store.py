"""The export audit log: one row per export in the projections database (schema a setting),
created on first use. Rows are only ever appended."""

from __future__ import annotations

import json
import re

import asyncpg

from ..application.ports import AuditRecord

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresAuditLog:
    def __init__(self, database_url: str, schema: str) -> None:
        if not _NAME.match(schema):
            raise ValueError(f"not a plain schema name: {schema!r}")
        self.database_url = database_url
        self.table = f"{schema}.export_audit"
        self.schema = schema

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self.database_url)
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {self.table} (
                export_id text PRIMARY KEY,
                created_at timestamptz NOT NULL,
                os_user text NOT NULL,
                requested_by text,
                purpose text NOT NULL,
                until timestamptz,
                key_id text NOT NULL,
                out text NOT NULL,
                tables jsonb NOT NULL,
                manifest_sha256 text NOT NULL
            )"""
        )
        return conn

    async def ready(self) -> None:
        conn = await self._connect()
        await conn.close()

    async def append(self, record: AuditRecord) -> None:
        conn = await self._connect()
        try:
            await conn.execute(
                f"INSERT INTO {self.table} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)",
                record.export_id,
                record.created_at,
                record.os_user,
                record.requested_by,
                record.purpose,
                record.until,
                record.key_id,
                record.out,
                json.dumps(record.tables),
                record.manifest_sha256,
            )
        finally:
            await conn.close()

    async def records(self) -> list[AuditRecord]:
        conn = await self._connect()
        try:
            rows = await conn.fetch(f"SELECT * FROM {self.table} ORDER BY created_at, export_id")
        finally:
            await conn.close()
        return [
            AuditRecord(
                export_id=r["export_id"],
                created_at=r["created_at"],
                os_user=r["os_user"],
                requested_by=r["requested_by"],
                purpose=r["purpose"],
                until=r["until"],
                key_id=r["key_id"],
                out=r["out"],
                tables=json.loads(r["tables"]),
                manifest_sha256=r["manifest_sha256"],
            )
            for r in rows
        ]
