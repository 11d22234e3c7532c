"""The development notifier: one JSON line per code, in the outbox file the tests read."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pytest

from services.wallet.adapters.notifier import FileNotifier
from services.wallet.domain.resident_access import Purpose

pytestmark = pytest.mark.unit

AT = datetime.fromisoformat("2026-03-02T09:00:00+07:00")


async def test_each_code_is_one_line_of_the_outbox(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox" / "sms.jsonl"
    notifier = FileNotifier(outbox)

    await asyncio.gather(
        *(
            notifier.send_code(f"08123456{n:02d}", f"{n:06d}", Purpose.SIGN_IN, AT)
            for n in range(20)
        )
    )

    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert len(lines) == 20
    assert lines[0].keys() == {"to", "code", "purpose", "at"}
    assert {(line["to"][-2:], line["code"][-2:]) for line in lines} == {
        (f"{n:02d}", f"{n:02d}") for n in range(20)
    }
    assert {line["purpose"] for line in lines} == {"sign_in"}
    assert outbox.stat().st_mode & 0o077 == 0
