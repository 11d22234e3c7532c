"""Exports on the real broker and PostgreSQL: the contract examples and a synthetic history
on topics of their own, exported, read back with pyarrow, and reported on."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaProducer
from markupsafe import escape as html_escape
from pydantic import SecretStr

from kgo_contracts import topics as contract_topics
from kgo_contracts.examples import ERASED_RESIDENT, example_ce_id, examples
from kgo_contracts.registry import ALL_EVENTS
from kgo_runtime.envelope import encode
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from services.research.adapters.export_folder import ExportFiles
from services.research.bootstrap import audit_log, run_export
from services.research.domain.dictionary import event_table_name
from services.research.entrypoints.cli import parse_until
from services.research.settings import ResearchSettings
from services.research.testing import at, erasure_record, synthetic_story

pytestmark = pytest.mark.integration

INFRA = InfraSettings()
KEY = "research-test-key-0123456789abcdef"


def history_examples() -> list[Any]:
    """The contract examples on the event topics (the public digests are not history)."""
    return [e for e in examples() if type(e).topic in contract_topics.EVENT_TOPICS]


@pytest.fixture(scope="module")
async def history() -> AsyncIterator[dict[str, Any]]:
    names = {t: unique_name(f"t_research_{t.split('.')[1]}") for t in contract_topics.EVENT_TOPICS}
    await create_topics(INFRA.kafka_bootstrap, list(names.values()))
    story = synthetic_story()
    producer = AIOKafkaProducer(bootstrap_servers=INFRA.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in [*history_examples(), *story.events]:
            record = encode(
                event,
                ce_id=example_ce_id(event),
                source=event.ce_source(),
                topic_for=lambda e: names[type(e).topic],
            )
            await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
        duplicate = story.events[-1]  # at-least-once: the same record again
        record = encode(
            duplicate,
            ce_id=example_ce_id(duplicate),
            source="/kgo/merchant",
            topic_for=lambda e: names[type(e).topic],
        )
        await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
        assert story.erased is not None
        headers, value = erasure_record(story.erased, at(10, 1))
        await producer.send(
            names[contract_topics.WALLET],
            value,
            key=str(story.erased).encode(),
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
        await producer.send(
            names[contract_topics.TRANSIT],
            b"not json",
            key=b"x",
            headers=[("ce_specversion", b"1.0")],
        )
        # filed under another wallet's key (its partition and history): rejected, as the
        # consumers dead-letter it
        await producer.send(record.topic, record.value, key=b"another-key", headers=record.headers)
        await producer.flush()
    finally:
        await producer.stop()
    schema = f"t_research_audit_{uuid.uuid4().hex[:8]}"
    yield {"topics": list(names.values()), "story": story, "schema": schema}
    await delete_topics(INFRA.kafka_bootstrap, list(names.values()))
    with psycopg.connect(INFRA.database_url("projections"), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def settings_for(history: dict[str, Any], key: str = KEY) -> ResearchSettings:
    return ResearchSettings(
        topics=history["topics"], audit_schema=history["schema"], pseudonym_key=SecretStr(key)
    )


def raw_resident_ids(history: dict[str, Any]) -> set[str]:
    """The residents of the story and of the contract examples (their accounts and every
    wallet id an example names)."""
    from_examples = {str(getattr(e, "wallet_id", None)) for e in examples()} | {
        str(e.account_id) for e in examples() if getattr(e, "account_kind", None) == "resident"
    }
    return {str(w) for w in history["story"].residents} | (from_examples - {"None"})


def every_value(out: Path) -> list[str]:
    """Every value of every Parquet file, every text file's content and the Parquet files'
    metadata, as text."""
    values: list[str] = []
    for path in out.rglob("*"):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            values.append(str(table.schema))
            values += [str(v) for column in table.to_pydict().values() for v in column]
        if path.is_file():
            values.append(path.read_bytes().decode("latin-1"))
    return values


@pytest.fixture(scope="module")
async def exported(history: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    await run_export(
        purpose="integration test",
        out=out,
        requested_by="tester",
        csv=True,
        settings=settings_for(history),
    )
    return out


async def test_round_trip_tables_dictionary_and_counts(exported: Path, history: dict[str, Any]):
    files = ExportFiles(exported)
    manifest = files.manifest()
    names = {t["name"] for t in manifest["tables"]}
    # Erasure records are not exported (the manifest counts them).
    exported_types = [c for c in ALL_EVENTS if c.ce_type() != "kgo.wallet.ResidentErased.v1"]
    assert {event_table_name(c.ce_type()) for c in exported_types} <= names
    assert "wallet.ResidentErased.v1" not in names
    assert {"balances", "weekly_flows", "ridership", "mission_funnel"} <= names
    story = history["story"]
    # the erased residents' own records go (the story's and the contract examples'); a
    # budget's leg paying them stays, without them
    gone = {story.erased, ERASED_RESIDENT}
    expected = [
        e
        for e in [*history_examples(), *story.events]
        if not gone & {getattr(e, "account_id", None), getattr(e, "wallet_id", None)}
    ]
    assert manifest["counts"]["exported_rows"] == len(expected)
    assert manifest["counts"]["duplicates"] == 1
    assert manifest["counts"]["undecodable"] == {"missing_header": 1, "wrong_key": 1}
    assert manifest["counts"]["erased_residents"] == 2
    dictionary = list(csv.DictReader((exported / "dictionary.csv").open()))
    described = {(r["table"], r["field"]) for r in dictionary if r["meaning"]}
    for table in manifest["tables"]:
        arrow = files.arrow(table["name"])
        assert arrow.num_rows == table["rows"]
        assert {(table["name"], n) for n in arrow.schema.names} <= described
    granted = files.arrow("wallet.CoinsGranted.v1")
    assert str(granted.schema.field("ce_time").type) == "timestamp[us, tz=Asia/Bangkok]"
    assert str(granted.schema.field("amount").type) == "int64"
    assert granted.num_rows == sum(
        1 for e in expected if e.ce_type() == "kgo.wallet.CoinsGranted.v1"
    )
    assert (exported / "events" / "wallet.CoinsGranted.v1.csv").exists()
    disbursed = files.table("wallet.GrantDisbursed.v1")
    assert sum(1 for r in disbursed if r["counter_account_id"] is None) == 1


async def test_no_raw_wallet_id_anywhere_and_erased_resident_absent(
    exported: Path, history: dict[str, Any]
):
    text = "\n".join(every_value(exported)).lower()
    for wallet in raw_resident_ids(history):
        assert wallet not in text
    for event in [*history_examples(), *history["story"].events]:  # event ids are keyed too
        assert example_ce_id(event) not in text
    files = ExportFiles(exported)
    erased = str(history["story"].erased)
    from services.research.domain.pseudonyms import Pseudonymiser

    pseudonym = Pseudonymiser(settings_for(history).key_bytes(), set()).pseudonym(erased)
    assert pseudonym not in text
    residents = {
        r["account_id"] for r in files.table("balances") if r["account_kind"] == "resident"
    }
    assert len(residents) == len(history["story"].residents)  # 29 left plus the examples' one
    assert all(r.startswith("p-") for r in residents)
    # public accounts keep their ids and labels
    shops = [r for r in files.table("balances") if r["account_kind"] == "shop"]
    assert {"Shop A", "Shop B", "Som Tam Bueng Kaen Nakhon"} <= {r["label"] for r in shops}


async def test_coarsening_in_group_tables(exported: Path):
    files = ExportFiles(exported)
    shops = files.table("shop_redemptions")
    big = [r for r in shops if r["label"] == "Shop A"]
    assert big and big[0]["residents"] == 15 and big[0]["coins"] == 15 * 15
    other = [r for r in shops if r["coarsened"]]
    assert other and other[0]["shop_id"] == "other" and other[0]["suppressed"]
    assert other[0]["coins"] is None  # 3 + 1 customers: fewer than 10
    assert all(r["residents"] is None or r["residents"] >= 10 for r in shops)
    funnel = {r["stage"]: r["residents"] for r in files.table("mission_funnel")}
    assert funnel["rewarded_for_a_mission"] >= 20  # keyed references still join completions
    periods = {r["period"] for r in files.table("ridership_daily") if not r["suppressed"]}
    assert periods == {"before", "during", "after"}


async def test_two_exports_with_one_key_join_and_another_key_does_not(
    exported: Path, history: dict[str, Any], tmp_path: Path
):
    until = parse_until("2022-06-30")
    await run_export(
        purpose="second", out=tmp_path / "same", until=until, settings=settings_for(history)
    )
    await run_export(
        purpose="other key",
        out=tmp_path / "other",
        settings=settings_for(history, key="another-key-0123456789abcdef"),
    )

    def wallets(out: Path) -> set[str]:
        rows = ExportFiles(out).table("transit.FarePaid.v1")
        return {r["wallet_id"] for r in rows}

    first, same, other = wallets(exported), wallets(tmp_path / "same"), wallets(tmp_path / "other")
    assert same and same <= first
    assert not other & first
    late = [
        r
        for r in ExportFiles(tmp_path / "same").table("transit.FarePaid.v1")
        if until is not None and r["ce_time"] > until
    ]
    assert not late
    manifest = ExportFiles(tmp_path / "same").manifest()
    assert manifest["counts"]["after_until"] > 0
    assert manifest["pseudonym_key_id"] == ExportFiles(exported).manifest()["pseudonym_key_id"]


async def test_every_export_is_in_the_audit_log(exported: Path, history: dict[str, Any]):
    manifest = json.loads((exported / "manifest.json").read_text())
    records = await audit_log(settings_for(history)).records()
    mine = [r for r in records if r.export_id == manifest["export_id"]]
    assert len(mine) == 1
    record = mine[0]
    assert record.purpose == "integration test" and record.requested_by == "tester"
    assert record.key_id == manifest["pseudonym_key_id"] and KEY not in json.dumps(record.tables)
    assert {t["name"]: t["rows"] for t in record.tables} == {
        t["name"]: t["rows"] for t in manifest["tables"]
    }
    files = {f["path"]: f["sha256"] for t in record.tables for f in t["files"]}
    import hashlib

    for path, digest in files.items():
        assert hashlib.sha256((exported / path).read_bytes()).hexdigest() == digest


async def test_report_from_the_export_has_html_pdf_and_figures(exported: Path, tmp_path: Path):
    from services.research.bootstrap import build_report_files

    report = build_report_files(exported, tmp_path)
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    html = (tmp_path / "report.html").read_text()
    for figure in report.figures:
        assert (tmp_path / "figures" / f"{figure.id}.png").stat().st_size > 0
        assert (tmp_path / "figures" / f"{figure.id}.svg").exists()
        assert str(html_escape(figure.caption)) in html
    drawn = {f.id for f in report.figures if not f.empty}
    assert {"weekly_coins", "ridership", "gini", "shop_concentration", "mission_funnel"} <= drawn
    ridership = next(f for f in report.figures if f.id == "ridership")
    assert set(ridership.extra["means"]) == {"before", "during", "after"}


def test_the_commands_export_list_the_audit_and_report(
    history: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from typer.testing import CliRunner

    from kgo_cli.main import app

    monkeypatch.setenv("RESEARCH_AUDIT_SCHEMA", history["schema"])
    monkeypatch.setenv("KGO_EXPORT_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("RESEARCH_TOPICS", json.dumps(history["topics"]))
    runner = CliRunner()
    out = tmp_path / "cli-export"
    done = runner.invoke(app, ["export", "--purpose", "cli test", "--out", str(out),
                               "--until", "2022-07-31", "--requested-by", "auditor"])  # fmt: skip
    assert done.exit_code == 0, done.output
    again = runner.invoke(app, ["export", "--purpose", "again", "--out", str(out)])
    assert again.exit_code == 2 and "export_exists" in again.output
    listed = runner.invoke(app, ["export", "audit", "--json"])
    assert listed.exit_code == 0, listed.output
    mine = [json.loads(line) for line in listed.output.splitlines() if '"cli test"' in line]
    assert len(mine) == 1 and mine[0]["requested_by"] == "auditor"
    reported = runner.invoke(app, ["report", "--out", str(tmp_path / "report")])
    assert reported.exit_code == 0, reported.output
    assert (tmp_path / "report" / "report.pdf").exists()
    assert list((tmp_path / "report").glob("export-*/manifest.json"))
