"""Where one-time codes go: the :class:`~..application.resident_access.Notifier` port.

On a developer machine (and in tests and the simulator) :class:`FileNotifier` appends each
code as a JSON line ``{"to", "code", "purpose", "at"}`` to ``$KGO_HOME/outbox/sms.jsonl``:
that file stands for the residents' phones. An SMS gateway is another adapter, for later.
The phone number in that file is the addressee, as on an SMS; nothing else personal is in it.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path

import orjson

from kgo_runtime.settings import InfraSettings

from ..domain.resident_access import Purpose


def default_outbox() -> Path:
    return Path(InfraSettings().home) / "outbox" / "sms.jsonl"


class FileNotifier:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_outbox()

    async def send_code(self, phone: str, code: str, purpose: Purpose, at: datetime) -> None:
        line = orjson.dumps(
            {"to": phone, "code": code, "purpose": str(purpose), "at": at.isoformat()}
        )
        await asyncio.to_thread(self._append, line + b"\n")

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # One write of one line with O_APPEND: lines of several processes never interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
