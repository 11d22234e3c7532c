"""What the on-call person relies on, checked without servers: the alert rules pass
`promtool check` and their unit tests, every alert links to a runbook section that exists,
every dashboard and rule names only series the services export (from their registries), the
dashboards are what their generator writes, and every `kgo` command in the runbook exists."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer
import yaml
from prometheus_client import generate_latest

from kgo_cli.infra.prereqs import ensure_prometheus
from kgo_cli.main import app as kgo_app
from kgo_cli.supervision import Supervisor
from kgo_runtime.metrics import Metrics
from kgo_runtime.settings import PROJECT_ROOT
from services.wallet.adapters.wallet_metrics import WalletMetrics

pytestmark = pytest.mark.unit

PROMETHEUS = PROJECT_ROOT / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
DASHBOARDS = PROJECT_ROOT / "deploy" / "grafana" / "dashboards"
RUNBOOK = PROJECT_ROOT / "docs" / "runbook.md"
#: Series Prometheus makes itself for every target.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def load_builder() -> ModuleType:
    path = PROJECT_ROOT / "deploy" / "grafana" / "build_dashboards.py"
    spec = importlib.util.spec_from_file_location("kgo_build_dashboards", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILDER = load_builder()


def registry_names(service: str) -> set[str]:
    """What a service's process exports: the runtime's metrics, plus the wallet's own."""
    metrics = Metrics(service)
    if service == "wallet":
        WalletMetrics(metrics)
    return BUILDER.exported_names(metrics.render().decode())


def supervisor_names() -> set[str]:
    """What `kgo run`'s supervisor exports on its own port."""
    return BUILDER.exported_names(generate_latest(Supervisor({}).registry).decode())


def alerts() -> list[dict[str, object]]:
    found = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(rule for rule in group["rules"] if "alert" in rule)
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.fixture(scope="module")
def promtool() -> Path:
    return ensure_prometheus()[1]  # apt-get install prometheus when missing (as root)


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)


def test_rules_and_configuration_pass_promtool(promtool: Path) -> None:
    checked = run(promtool, "check", "rules", *RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = run(promtool, "check", "config", PROMETHEUS / "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_alert_rules_unit_tests_pass(promtool: Path) -> None:
    tests = sorted((PROMETHEUS / "tests").glob("*.yml"))
    assert tests
    tested = run(promtool, "test", "rules", *tests)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_unit_tested_firing() -> None:
    text = "".join(p.read_text() for p in (PROMETHEUS / "tests").glob("*.yml"))
    for rule in alerts():
        assert re.search(rf"alertname: {rule['alert']}\n\s+exp_alerts:", text), rule["alert"]


def test_every_alert_says_what_and_links_to_its_runbook_section() -> None:
    anchors = {slug(m) for m in re.findall(r"^#+ (.+)$", RUNBOOK.read_text(), re.M)}
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)) >= 10
    for rule in alerts():
        labels, notes = rule["labels"], rule["annotations"]
        assert isinstance(labels, dict) and isinstance(notes, dict)
        assert labels["severity"] in {"critical", "warning"}, rule["alert"]
        assert notes["summary"] and notes["description"], rule["alert"]
        page, _, anchor = str(notes["runbook_url"]).partition("#")
        assert page == "docs/runbook.md" and anchor == str(rule["alert"]).lower()
        assert anchor in anchors, f"no section {rule['alert']} in docs/runbook.md"


def test_rules_name_only_series_the_services_export() -> None:
    every = set().union(*(registry_names(s) for s in BUILDER.SERVICES)) | SCRAPE_SERIES
    every |= supervisor_names()
    for rule in alerts():
        unknown = BUILDER.series_names(str(rule["expr"])) - every
        assert not unknown, f"{rule['alert']} reads {unknown}"


def test_dashboards_are_what_the_generator_writes() -> None:
    built = BUILDER.dashboards()
    assert sorted(p.name for p in DASHBOARDS.glob("*.json")) == sorted(built)
    for name, board in built.items():
        assert (DASHBOARDS / name).read_text(encoding="utf-8") == BUILDER.render(board), (
            f"{name} is stale: run `uv run python deploy/grafana/build_dashboards.py`"
        )
    expected = {"kgo-overview", "kgo-ledger", "kgo-kafka", *(f"kgo-{s}" for s in BUILDER.SERVICES)}
    assert {board["uid"] for board in built.values()} == expected


def test_every_panel_query_names_only_series_the_services_export() -> None:
    per_service = {service: registry_names(service) for service in BUILDER.SERVICES}
    every = set().union(*per_service.values()) | SCRAPE_SERIES
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        service = board["uid"].removeprefix("kgo-")
        known = (per_service[service] | SCRAPE_SERIES) if service in per_service else every
        targets = list(BUILDER.queries(board))
        assert targets, path.name
        for item in board["panels"]:
            for target in item.get("targets", ()):
                assert target["datasource"]["uid"] == "${datasource}", item["title"]
        for title, expr in targets:
            names = BUILDER.series_names(expr)
            assert names, f"{path.name}: {title}: {expr}"
            assert names <= known, f"{path.name}: {title} reads {names - known}"


def runbook_commands() -> list[list[str]]:
    """Every `kgo ...` command the runbook shows (in code spans and code blocks)."""
    text = RUNBOOK.read_text().replace("\\\n", " ")
    found = re.findall(r"`(?:uv run )?(kgo [^`]+)`", text)
    found += re.findall(r"^(?:[A-Z_]+=\S+ )*uv run (kgo .+?)(?:\s+#.*)?$", text, re.M)
    return [shlex.split(command.replace("<", "X").replace(">", "X")) for command in found]


def test_every_kgo_command_in_the_runbook_exists() -> None:
    root = typer.main.get_command(kgo_app)
    commands = runbook_commands()
    assert len(commands) > 15
    for argv in commands:
        node: Any = root
        words = argv[1:]
        # typer has its own copy of click: walk its groups by what they have, not their class
        while hasattr(node, "commands") and words and not words[0].startswith("-"):
            sub = node.commands.get(words[0])
            assert sub is not None, f"no command {' '.join(argv)}"
            node, words = sub, words[1:]
        assert not hasattr(node, "commands"), f"{' '.join(argv)} is not a whole command"
        options = {o for p in node.params for o in (*p.opts, *p.secondary_opts)}
        for word in words:
            if word.startswith("-"):
                assert word.split("=")[0] in options, f"{' '.join(argv)}: no option {word}"
