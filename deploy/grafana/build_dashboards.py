"""Writes the Grafana dashboards in ``deploy/grafana/dashboards/*.json`` (run it after a
change: ``uv run python deploy/grafana/build_dashboards.py``; a test checks the files are
what it writes, and that every query names only series the services export).

Every dashboard takes its Prometheus from the ``datasource`` variable, so it works with
whatever uid the provisioned data source has; the services are told apart by the ``service``
label the scrape configuration gives them (deploy/prometheus/prometheus.yml).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
SERVICES = ("wallet", "missions", "merchant", "transit", "projections")
Panel = dict[str, Any]


def panel(
    title: str,
    *queries: tuple[str, str],
    unit: str = "short",
    kind: str = "timeseries",
    description: str = "",
    width: int = 12,
    thresholds: list[tuple[str, float | None]] | None = None,
) -> Panel:
    steps = [{"color": c, "value": v} for c, v in (thresholds or [("green", None)])]
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": width, "h": 8},
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}}
        if kind == "timeseries"
        else {"reduceOptions": {"calcs": ["lastNotNull"]}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(queries)
        ],
    }


def row(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"w": 24, "h": 1}}


def dashboard(uid: str, title: str, description: str, panels: list[Panel]) -> dict[str, Any]:
    x = y = 0
    height = 0
    laid: list[Panel] = []
    for number, item in enumerate(panels, start=1):
        width, tall = item["gridPos"]["w"], item["gridPos"]["h"]
        if x + width > 24 or item["type"] == "row":
            x, y = 0, y + height
            height = 0
        laid.append({**item, "id": number, "gridPos": {"x": x, "y": y, "w": width, "h": tall}})
        x, height = x + width, max(height, tall)
        if item["type"] == "row":
            x, y, height = 0, y + tall, 0
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["kgo"],
        "timezone": "Asia/Bangkok",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "links": [{"type": "dashboards", "tags": ["kgo"], "asDropdown": True, "title": "KGO"}],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": laid,
    }


def rate(series: str, by: str, window: str = "5m") -> str:
    return f"sum by ({by}) (rate({series}[{window}]))"


def quantile(q: float, histogram: str, by: str, selector: str = "") -> str:
    series = f"{histogram}_bucket{{{selector}}}" if selector else f"{histogram}_bucket"
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({series}[5m])))"


def http_panels(selector: str) -> list[Panel]:
    s = selector
    return [
        row("HTTP and commands"),
        panel(
            "Requests per second by route and status",
            (rate(f"kgo_http_requests_total{{{s}}}", "route, status"), "{{route}} {{status}}"),
            unit="reqps",
        ),
        panel(
            "Latency by route (p50, p99)",
            (quantile(0.5, "kgo_http_request_duration_seconds", "route", s), "p50 {{route}}"),
            (quantile(0.99, "kgo_http_request_duration_seconds", "route", s), "p99 {{route}}"),
            unit="s",
        ),
        panel(
            "Commands by outcome and reason",
            (
                rate(f"kgo_commands_total{{{s}}}", "command, outcome, reason_code"),
                "{{command}} {{outcome}} {{reason_code}}",
            ),
            unit="ops",
            description="Writes, by route template; refusals carry the problem's code.",
        ),
        panel(
            "Command latency p99 by outcome",
            (
                quantile(0.99, "kgo_command_duration_seconds", "command, outcome", s),
                "{{command}} {{outcome}}",
            ),
            unit="s",
        ),
        panel(
            "Wrong codes, PINs and passes per minute",
            (f"sum by (kind) (rate(kgo_code_failures_total{{{s}}}[5m])) * 60", "{{kind}}"),
            unit="short",
            description="An attack shows here first (alert KgoCodeGuessing).",
        ),
    ]


def kafka_panels(selector: str) -> list[Panel]:
    s = selector
    return [
        row("Events: relay and consumers"),
        panel(
            "Relay lag (events stored, not yet on Kafka)",
            (f"max by (service, relay) (kgo_relay_lag_events{{{s}}})", "{{relay}}"),
            unit="short",
        ),
        panel(
            "Relay lag (age of the oldest unpublished event)",
            (f"max by (service, relay) (kgo_relay_lag_seconds{{{s}}})", "{{relay}}"),
            unit="s",
            thresholds=[("green", None), ("red", 60)],
        ),
        panel(
            "Events relayed per second",
            (rate(f"kgo_relay_events_total{{{s}}}", "relay"), "{{relay}}"),
            (rate(f"kgo_relay_errors_total{{{s}}}", "relay"), "errors {{relay}}"),
            unit="ops",
        ),
        panel(
            "Consumer lag by partition (records)",
            (
                f"max by (consumer, topic, partition) (kgo_consumer_lag_records{{{s}}})",
                "{{consumer}} {{topic}}/{{partition}}",
            ),
            unit="short",
        ),
        panel(
            "Consumer lag by partition (seconds)",
            (
                f"max by (consumer, topic, partition) (kgo_consumer_lag_seconds{{{s}}})",
                "{{consumer}} {{topic}}/{{partition}}",
            ),
            unit="s",
            thresholds=[("green", None), ("red", 120)],
        ),
        panel(
            "Records applied, skipped as duplicates, retried",
            (
                rate(f"kgo_consumer_processed_total{{{s}}}", "consumer, topic"),
                "applied {{consumer}} {{topic}}",
            ),
            (
                rate(f"kgo_consumer_duplicates_total{{{s}}}", "consumer, topic"),
                "duplicate {{consumer}} {{topic}}",
            ),
            (
                rate(f"kgo_consumer_retries_total{{{s}}}", "consumer, topic"),
                "retry {{consumer}} {{topic}}",
            ),
            unit="ops",
        ),
        panel(
            "Dead letters by reason (last hour)",
            (
                f"sum by (consumer, topic, reason_code) "
                f"(increase(kgo_consumer_dead_lettered_total{{{s}}}[1h]))",
                "{{consumer}} {{topic}} {{reason_code}}",
            ),
            unit="short",
            description="Each is a record whose effect is not applied "
            "(runbook: KgoDeadLettersGrowing).",
        ),
    ]


def overview() -> dict[str, Any]:
    panels = [
        row("Services"),
        panel(
            "Up",
            ('max by (service) (up{job="kgo"})', "{{service}}"),
            kind="stat",
            width=8,
            thresholds=[("red", None), ("green", 1)],
        ),
        panel(
            "Requests per second",
            (rate("kgo_http_requests_total", "service"), "{{service}}"),
            unit="reqps",
            width=8,
        ),
        panel(
            "5xx share",
            (
                'sum by (service) (rate(kgo_http_requests_total{status=~"5.."}[5m])) / '
                "sum by (service) (rate(kgo_http_requests_total[5m]))",
                "{{service}}",
            ),
            unit="percentunit",
            width=8,
            thresholds=[("green", None), ("red", 0.05)],
        ),
        panel(
            "Commands refused or failed, by reason",
            (
                rate('kgo_commands_total{outcome=~"refused|failed"}', "service, reason_code"),
                "{{service}} {{reason_code}}",
            ),
            unit="ops",
        ),
        panel(
            "Command latency p99",
            (quantile(0.99, "kgo_command_duration_seconds", "service"), "{{service}}"),
            unit="s",
        ),
        row("Money and attacks"),
        panel(
            "Conservation: minted minus all balances (always 0)",
            ("max(kgo_wallet_conservation_gap_coins)", "gap"),
            kind="stat",
            width=8,
            unit="short",
            thresholds=[("green", None), ("red", 1)],
        ),
        panel(
            "Budgets: coins available",
            ("max by (programme) (kgo_wallet_budget_available_coins)", "{{programme}}"),
            width=8,
        ),
        panel(
            "Wrong codes, PINs and passes per minute",
            (
                "sum by (service, kind) (rate(kgo_code_failures_total[5m])) * 60",
                "{{service}} {{kind}}",
            ),
            width=8,
        ),
        row("Freshness"),
        panel(
            "Relay lag (seconds)",
            ("max by (relay) (kgo_relay_lag_seconds)", "{{relay}}"),
            unit="s",
            width=8,
        ),
        panel(
            "Consumer lag (seconds, worst partition)",
            ("max by (service, consumer) (kgo_consumer_lag_seconds)", "{{service}} {{consumer}}"),
            unit="s",
            width=8,
        ),
        panel(
            "Read models' staleness",
            ("max by (consumer) (kgo_projection_staleness_seconds)", "{{consumer}}"),
            unit="s",
            width=8,
        ),
    ]
    return dashboard(
        "kgo-overview",
        "KGO: platform overview",
        "Is every service up and answering, do the coins add up, is anyone "
        "guessing codes, and how fresh is what the city sees.",
        panels,
    )


def ledger() -> dict[str, Any]:
    panels = [
        row("The supply"),
        panel(
            "Minted minus all balances (always 0)",
            ("max(kgo_wallet_conservation_gap_coins)", "gap"),
            kind="stat",
            width=6,
            thresholds=[("green", None), ("red", 1)],
        ),
        panel(
            "Supply conserved (1 = yes)",
            ("min(kgo_wallet_supply_conserved)", "conserved"),
            kind="stat",
            width=6,
            thresholds=[("red", None), ("green", 1)],
        ),
        panel(
            "Coins minted and coins in accounts",
            ("max(kgo_wallet_supply_minted_coins)", "minted"),
            ("max(kgo_wallet_supply_in_accounts_coins)", "in accounts"),
            width=12,
        ),
        row("Budgets"),
        panel(
            "Coins available per programme budget",
            ("max by (programme) (kgo_wallet_budget_available_coins)", "{{programme}}"),
            width=24,
        ),
        row("The ledger's commands"),
        panel(
            "Commands decided by command and reason",
            (rate("kgo_wallet_commands_total", "command, code"), "{{command}} {{code}}"),
            unit="ops",
        ),
        panel(
            "Refusals by reason",
            (rate('kgo_wallet_commands_total{code!="ok"}', "code"), "{{code}}"),
            unit="ops",
        ),
        panel(
            "Commands per transaction (p50, p99)",
            (quantile(0.5, "kgo_wallet_batch_commands", "service"), "p50"),
            (quantile(0.99, "kgo_wallet_batch_commands", "service"), "p99"),
        ),
        panel(
            "Time to decide and store a batch (p50, p99)",
            (quantile(0.5, "kgo_wallet_batch_duration_seconds", "service"), "p50"),
            (quantile(0.99, "kgo_wallet_batch_duration_seconds", "service"), "p99"),
            unit="s",
        ),
        panel(
            "Writers of one store: lost saves and turns per minute",
            ("sum(rate(kgo_wallet_writer_lost_saves_total[5m])) * 60", "lost saves"),
            (
                "sum by (others_wrote) (rate(kgo_wallet_writer_turns_total[5m])) * 60",
                "turns, others wrote: {{others_wrote}}",
            ),
        ),
        panel(
            "Holds expired per minute",
            ("sum(rate(kgo_wallet_holds_expired_total[5m])) * 60", "expired"),
        ),
        panel(
            "Authorisation misses per minute by kind",
            ("sum by (kind) (rate(kgo_wallet_authorisation_misses_total[5m])) * 60", "{{kind}}"),
        ),
    ]
    return dashboard(
        "kgo-ledger",
        "KGO: the ledger",
        "The wallet, the only place a balance changes: the supply, the budgets, "
        "the commands it decides.",
        panels,
    )


def service(name: str) -> dict[str, Any]:
    selector = f'service="{name}"'
    extra: list[Panel] = []
    if name == "transit":
        extra = [
            row("Validators"),
            panel(
                "Seconds since each validator last called",
                (
                    "time() - max by (device) "
                    '(kgo_device_last_seen_timestamp_seconds{service="transit", kind="validator"})',
                    "{{device}}",
                ),
                unit="s",
                width=24,
                thresholds=[("green", None), ("red", 1800)],
                description="Alert KgoValidatorSilent: over 30 minutes in service hours.",
            ),
        ]
    if name == "projections":
        extra = [
            row("Read models"),
            panel(
                "Staleness of the live read models",
                (
                    'max by (consumer) (kgo_projection_staleness_seconds{service="projections"})',
                    "{{consumer}}",
                ),
                unit="s",
                width=24,
                thresholds=[("green", None), ("red", 300)],
            ),
        ]
    process = [
        row("Process"),
        panel(
            "Resident memory",
            (f"max by (instance) (process_resident_memory_bytes{{{selector}}})", "{{instance}}"),
            unit="bytes",
        ),
        panel(
            "CPU",
            (
                f"sum by (instance) (rate(process_cpu_seconds_total{{{selector}}}[5m]))",
                "{{instance}}",
            ),
            unit="percentunit",
        ),
        panel(
            "Garbage collection pauses (p99 by generation)",
            (
                quantile(0.99, "kgo_gc_pause_seconds", "generation", selector),
                "generation {{generation}}",
            ),
            unit="s",
            description="Nothing else in a process runs during a collection: a pause is "
            "latency for every request in flight (kgo_runtime/collector.py).",
        ),
    ]
    up = panel(
        "Up",
        (f'max by (instance) (up{{job="kgo", {selector}}})', "{{instance}}"),
        kind="stat",
        width=24,
        thresholds=[("red", None), ("green", 1)],
    )
    kafka = kafka_panels(selector)
    if name == "projections":
        kafka = [p for p in kafka if "Relay" not in p["title"] and "relayed" not in p["title"]]
    return dashboard(
        f"kgo-{name}",
        f"KGO: {name}",
        f"The {name} service.",
        [up, *extra, *http_panels(selector), *kafka, *process],
    )


def kafka_lag() -> dict[str, Any]:
    return dashboard(
        "kgo-kafka",
        "KGO: Kafka lag",
        "Every relay (event store to topic) and every consumer (topic to its "
        "effect), across the services.",
        kafka_panels('job="kgo"'),
    )


def dashboards() -> dict[str, dict[str, Any]]:
    every = [overview(), ledger(), *(service(name) for name in SERVICES), kafka_lag()]
    return {f"{d['uid']}.json": d for d in every}


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "inf", "nan"}


def series_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, label names and matchers,
    grouping clauses, durations and numbers left out)."""
    text = _STRINGS.sub('""', expr)
    text = _GROUPING.sub(" ", _RANGES.sub(" ", _MATCHERS.sub(" ", text)))
    return {
        name
        for name in _NAME.findall(text)
        if name.lower() not in _KEYWORDS and not name[0].isdigit()
    }


def exported_names(exposition: str) -> set[str]:
    """Every series name a ``/metrics`` text declares (with the counter and histogram
    suffixes), whether or not it has a sample yet."""
    from prometheus_client.parser import text_string_to_metric_families

    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count", "created")}
        names |= {sample.name for sample in family.samples}
    return names


def queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, query) of every target of a dashboard."""
    for item in board["panels"]:
        for target in item.get("targets", ()):
            yield item["title"], target["expr"]


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for name, board in dashboards().items():
        (HERE / name).write_text(render(board), encoding="utf-8")


if __name__ == "__main__":
    main()
