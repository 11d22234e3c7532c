"""`kgo missions` commands: operators' tools that use the missions HTTP API, so they work
against a running service with an operator's token.

`kgo missions award --activity A --file attendees.csv` pays every attendee of an activity:

* CSV with a header row and a ``wallet_id`` column (the resident's pseudonymous wallet id),
  or a ``card_number`` column (printed cards, resolved to wallets by the missions service
  through the wallet); other columns are ignored.
* Each row is one ``POST /v1/activities/{A}/attendance`` with the Idempotency-Key
  ``award:{A}:{wallet_id}`` (``award:{A}:card:<hash of the number>`` for a card), so a
  resident is paid once however often the job runs.
* Resumable: every paid row is appended to ``<file>.progress``; run the same command again
  after an interruption and it continues where it stopped (rows already done are skipped,
  and the keys make any row that was in flight when it stopped land once).
* Unknown residents, malformed ids and duplicate rows are reported (and written to
  ``--report``), not fatal. Exit code 0 when every row was decided, 1 when some could not be
  reached (the service down: run again).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from uuid import UUID

import httpx
import segno
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kgo_runtime.settings import SERVICE_PORTS

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)

DEFAULT_URL = os.environ.get("MISSIONS_URL", f"http://127.0.0.1:{SERVICE_PORTS['missions']}")
Url = Annotated[str, typer.Option(help="The missions API.", envvar="MISSIONS_URL")]
Token = Annotated[str, typer.Option(help="An operator's API or access token.", envvar="KGO_TOKEN")]


@dataclass
class Row:
    line: int
    #: The wallet id, or the card number when ``column`` is ``card_number``.
    wallet_id: str
    column: str = "wallet_id"

    def key(self, activity: UUID) -> str:
        if self.column == "wallet_id":
            return f"award:{activity}:{self.wallet_id}"
        return f"award:{activity}:card:{hashlib.sha256(self.wallet_id.encode()).hexdigest()[:32]}"


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    report: list[tuple[int, str, str]] = field(default_factory=list)

    def note(self, row: Row, outcome: str) -> None:
        self.outcomes[outcome] += 1
        if outcome != "paid":
            self.report.append((row.line, row.wallet_id, outcome))


def read_rows(path: Path, tally: Tally) -> list[Row]:
    """The rows to pay: well-formed, first occurrence of each wallet; the rest reported."""
    seen: set[str] = set()
    rows: list[Row] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        names = reader.fieldnames or []
        column = next((c for c in ("wallet_id", "card_number") if c in names), None)
        if column is None:
            raise typer.BadParameter(f"{path} needs a header with a wallet_id or card_number")
        for line, record in enumerate(reader, start=2):
            raw = (record.get(column) or "").strip()
            try:
                value = str(UUID(raw)) if column == "wallet_id" else _card(raw)
            except ValueError:
                tally.note(Row(line, raw, column), "malformed")
                continue
            if value in seen:
                tally.note(Row(line, value, column), "duplicate_row")
                continue
            seen.add(value)
            rows.append(Row(line, value, column))
    return rows


def _card(raw: str) -> str:
    digits = raw.replace(" ", "").replace("-", "")
    if not (digits.isdigit() and 8 <= len(digits) <= 19):
        raise ValueError(raw)
    return digits


#: Refusal codes of the attendance route -> the outcome reported for the row.
OUTCOME_OF = {
    "resident_unknown": "unknown_resident",
    "card_unknown": "unknown_card",
    "already_checked_in": "already_checked_in",
}


def progress_file(path: Path) -> Path:
    return path.with_name(path.name + ".progress")


async def pay(client: httpx.AsyncClient, activity: UUID, row: Row, attempts: int = 5) -> str:
    """One attendee: ``paid``, ``paid_earlier``, ``already_checked_in``, ``unknown_resident``,
    ``refused:<code>``, or ``unreachable`` (after retries)."""
    delay = 0.2
    for attempt in range(attempts):
        try:
            answer = await client.post(
                f"/v1/activities/{activity}/attendance",
                json={row.column: row.wallet_id},
                headers={"Idempotency-Key": row.key(activity)},
            )
        except httpx.HTTPError:
            answer = None
        if answer is not None and answer.status_code < 500 and answer.status_code != 429:
            if answer.status_code == 201:
                return "paid_earlier" if answer.headers.get("Idempotent-Replayed") else "paid"
            code = answer.json().get("code", str(answer.status_code))
            if answer.status_code in (401, 403):
                raise typer.BadParameter(f"the token may not award this activity ({code})")
            return OUTCOME_OF.get(code, f"refused:{code}")
        if attempt < attempts - 1:
            await asyncio.sleep(delay)
            delay *= 2
    return "unreachable"


async def award_all(
    url: str, token: str, activity: UUID, rows: list[Row], done_file: Path, tally: Tally,
    concurrency: int, transport: httpx.AsyncBaseTransport | None = None, attempts: int = 5,
) -> None:  # fmt: skip
    queue: asyncio.Queue[Row] = asyncio.Queue()
    for row in rows:
        queue.put_nowait(row)
    headers = {"Authorization": f"Bearer {token}"}
    columns = (TextColumn("[bold]awarding"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())  # fmt: skip
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=10, transport=transport
    ) as client:
        with (
            done_file.open("a", encoding="utf-8") as done,
            Progress(*columns, console=console) as bar,
        ):
            task = bar.add_task("award", total=len(rows))

            async def worker() -> None:
                while not queue.empty():
                    row = queue.get_nowait()
                    outcome = await pay(client, activity, row, attempts)
                    tally.note(row, outcome)
                    if outcome in ("paid", "paid_earlier", "already_checked_in"):
                        done.write(row.wallet_id + "\n")
                        done.flush()
                    bar.advance(task)

            await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_award(
    file: Path, activity: UUID, url: str, token: str, concurrency: int = 8,
    transport: httpx.AsyncBaseTransport | None = None, attempts: int = 5,
) -> tuple[Tally, int]:  # fmt: skip
    """Award the rows of ``file`` not done in an earlier run; (the tally, attendees)."""
    tally = Tally()
    rows = read_rows(file, tally)
    done_file = progress_file(file)
    done = set(done_file.read_text().split()) if done_file.exists() else set()
    todo = [r for r in rows if r.wallet_id not in done]
    tally.outcomes["done_in_an_earlier_run"] += len(rows) - len(todo)
    await award_all(url, token, activity, todo, done_file, tally, concurrency, transport, attempts)
    return tally, len(rows)


@app.command("award")
def award(
    activity: Annotated[UUID, typer.Option(help="The activity's id.")],
    file: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="attendees.csv")],
    url: Url = DEFAULT_URL,
    token: Token = "",
    report: Annotated[Path | None, typer.Option(help="Write the rows not paid here (CSV).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=32)] = 8,
) -> None:
    """Pay every attendee listed in a CSV file (column wallet_id), once each; resumable."""
    if not token:
        raise typer.BadParameter("give an operator token with --token or KGO_TOKEN")
    tally, rows = asyncio.run(run_award(file, activity, url, token, concurrency))
    table = Table("outcome", "rows", title=f"{file.name}: {rows} attendees")
    for outcome, count in sorted(tally.outcomes.items()):
        if count:
            table.add_row(outcome, str(count))
    Console().print(table)
    if report is not None:
        with report.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "wallet_id", "outcome"])
            writer.writerows(sorted(tally.report))
    if tally.outcomes["unreachable"]:
        console.print("[yellow]some rows could not be sent: run the same command again")
        raise typer.Exit(1)


@app.command("code")
def code(
    activity: Annotated[UUID, typer.Option(help="The activity's id.")],
    url: Url = DEFAULT_URL,
    token: Token = "",
    qr: Annotated[Path | None, typer.Option(help="Also save the QR code here (SVG).")] = None,
) -> None:
    """Print an activity's current check-in code and its QR code (to show or print)."""
    headers = {"Authorization": f"Bearer {token}"}
    answer = httpx.get(f"{url}/v1/activities/{activity}/code", headers=headers)
    if answer.status_code != 200:
        console.print(answer.text)
        raise typer.Exit(1)
    body = answer.json()
    typer.echo(f"code {body['code']}  valid until {body['valid_until']}\n{body['qr_payload']}")
    segno.make(body["qr_payload"], error="m").terminal(compact=True)
    if qr is not None:
        svg = httpx.get(f"{url}/v1/activities/{activity}/code.svg", headers=headers)
        qr.write_bytes(svg.content)
