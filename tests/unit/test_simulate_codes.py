"""The simulated phone asks for a new code when none comes (pure: a fake API and outbox)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kgo_cli.simulate.residents import challenge
from kgo_cli.simulate.state import SmsOutbox

pytestmark = pytest.mark.unit


class Wallet:
    """Answers every request; the first one's code is never sent (a wallet killed after
    storing the challenge), a retry of the same key is answered from the store."""

    def __init__(self, outbox: Path, lost: int) -> None:
        self.outbox, self.lost = outbox, lost
        self.keys: list[str] = []

    async def call(self, method: str, url: str, *, key: str, body: dict[str, Any]) -> Any:
        self.keys.append(key)
        if len(set(self.keys)) > self.lost:
            with self.outbox.open("a") as handle:
                handle.write(json.dumps({"to": body["phone"], "code": f"{len(self.keys):06d}"}))
                handle.write("\n")
        return {"signup_id": f"s{len(self.keys)}"}


def simulator(tmp_path: Path, lost: int) -> Any:
    outbox = tmp_path / "sms.jsonl"
    return SimpleNamespace(api=Wallet(outbox, lost), outbox=SmsOutbox(outbox))


def test_a_code_that_never_came_is_asked_for_again_with_a_new_key(tmp_path: Path) -> None:
    sim = simulator(tmp_path, lost=1)
    sim.outbox.code = with_timeout(sim.outbox.code, 0.05)
    started, code = asyncio.run(challenge(sim, "0812345678", "u", "k", {"phone": "0812345678"}))
    assert sim.api.keys == ["k", "k-again1"]
    assert (started, code) == ({"signup_id": "s2"}, "000002")


def test_a_code_that_came_is_used_with_one_request(tmp_path: Path) -> None:
    sim = simulator(tmp_path, lost=0)
    _, code = asyncio.run(challenge(sim, "0812345678", "u", "k", {"phone": "0812345678"}))
    assert sim.api.keys == ["k"] and code == "000001"


def test_a_wallet_that_never_sends_ends_the_run_with_a_reason(tmp_path: Path) -> None:
    sim = simulator(tmp_path, lost=99)
    sim.outbox.code = with_timeout(sim.outbox.code, 0.01)
    with pytest.raises(RuntimeError, match="no one-time code arrived for 4 requests"):
        asyncio.run(challenge(sim, "0812345678", "u", "k", {"phone": "0812345678"}))


def with_timeout(code: Any, timeout: float) -> Any:
    async def short(phone: str) -> str | None:
        found: str | None = await code(phone, timeout=timeout)
        return found

    return short
