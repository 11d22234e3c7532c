"""The real Prometheus server (Debian's, `kgo infra prometheus`) scraping the five real
services, started the way the other end-to-end tests start them, with the alert rules of
deploy/prometheus/rules and a test-only configuration that scrapes and evaluates every
second: the key series arrive, every name the dashboards query is one the running services
export, and someone guessing receive codes at the wallet fires KgoCodeGuessing."""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kgo_cli.infra.prereqs import ensure_prometheus
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name

from .conftest import free_port
from .platform import ServiceProcess, kgo, service_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

BOOTSTRAP = InfraSettings().kafka_bootstrap
RULES = PROJECT_ROOT / "deploy" / "prometheus" / "rules"
#: Alerts provoked here fire at once: in this configuration only, their `for` is 0.
PROVOKED = {"KgoCodeGuessing"}


def load_builder() -> Any:
    path = PROJECT_ROOT / "deploy" / "grafana" / "build_dashboards.py"
    spec = importlib.util.spec_from_file_location("kgo_build_dashboards_e2e", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def topics() -> AsyncIterator[dict[str, str]]:
    name = unique_name("e2e.prom")
    names = {k: f"{name}.{k}" for k in ("wallet", "missions", "merchant", "transit")}
    every = [*names.values(), *(f"{t}.dlq" for t in names.values())]
    await create_topics(BOOTSTRAP, every, partitions=3)
    yield names
    await delete_topics(BOOTSTRAP, every)


def token(wallet: ServiceProcess, role: str, name: str) -> str:
    made = kgo(wallet.env, "wallet", "token", "create", "--role", role, "--name", name)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture
def platform(topics: dict[str, str], tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    """The five services on topics and schemas of their own; the wallet first (the others
    call it with a service token)."""
    home, t = tmp_path / "kgo", topics
    wallet = service_process("wallet", home, {
        "WALLET_EVENTS_TOPIC": t["wallet"], "WALLET_MISSIONS_TOPIC": t["missions"],
        "WALLET_MISSIONS_CONSUMER": unique_name("prom-grants"),
        "WALLET_HOLD_SWEEP_SECONDS": "0.5", "WALLET_SMS_OUTBOX": str(tmp_path / "sms.jsonl"),
    }, tmp_path)  # fmt: skip
    running = {"wallet": wallet}
    try:
        wallet.start()
        with ThreadPoolExecutor(2) as pool:
            admin_made = pool.submit(token, wallet, "municipal_admin", "prom-admin")
            service = pool.submit(token, wallet, "service", "prom-services").result()
            admin = admin_made.result()
        wallet.env["E2E_ADMIN_TOKEN"], wallet.env["E2E_SERVICE_TOKEN"] = admin, service
        common = {"WALLET_URL": wallet.url, "WALLET_TOKEN": service}
        envs: dict[str, dict[str, str]] = {
            "missions": {"EVENTS_TOPIC": t["missions"], "WALLET_TOPIC": t["wallet"],
                         "MERCHANT_TOPIC": t["merchant"], "TRANSIT_TOPIC": t["transit"]},
            "merchant": {"EVENTS_TOPIC": t["merchant"], "WALLET_EVENTS_TOPIC": t["wallet"]},
            "transit": {"EVENTS_TOPIC": t["transit"], "WALLET_TOPIC": t["wallet"]},
            "projections": {"WALLET_TOPIC": t["wallet"], "MISSIONS_TOPIC": t["missions"],
                            "MERCHANT_TOPIC": t["merchant"], "TRANSIT_TOPIC": t["transit"],
                            "CONSUMER_NAME": unique_name("prom_projections")},
        }  # fmt: skip
        for name, env in envs.items():
            prefixed = {f"{name.upper()}_{k}": v for k, v in (common | env).items()}
            running[name] = service_process(name, home, prefixed, tmp_path)
        with ThreadPoolExecutor(4) as pool:
            for started in [pool.submit(p.start, 300) for n, p in running.items() if n != "wallet"]:
                started.result()
        yield running
    finally:
        for process in running.values():
            process.stop()
            process.drop_schema()


def scrape_configuration(platform: dict[str, ServiceProcess], rules: Path) -> str:
    targets = [
        {"targets": [p.url.removeprefix("http://")], "labels": {"service": name}}
        for name, p in platform.items()
    ]
    return yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "kgo", "static_configs": targets}],
    })  # fmt: skip


def provoked_rules(directory: Path) -> Path:
    """The platform's rules, with the provoked alerts' `for` set to 0."""
    written = directory / "rules.yml"
    groups = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") in PROVOKED:
                    rule["for"] = "0s"
            groups.append(group)
    written.write_text(yaml.safe_dump({"groups": groups}))
    return written


@pytest.fixture
def prometheus(platform: dict[str, ServiceProcess], tmp_path: Path) -> Iterator[str]:
    config = scrape_configuration(platform, provoked_rules(tmp_path))
    with prometheus_server(config, tmp_path) as url:
        yield url


@contextlib.contextmanager
def prometheus_server(config: str, directory: Path) -> Iterator[str]:
    """The real Prometheus on a free port with the configuration ``config``; its address."""
    server, _promtool = ensure_prometheus()  # apt-get install prometheus when missing (root)
    port = free_port()
    (directory / "prometheus.yml").write_text(config)
    log = (directory / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [str(server), f"--config.file={directory / 'prometheus.yml'}",
         f"--storage.tsdb.path={directory / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        until(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200 or None, 60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def until(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError("the expected state never came")
        time.sleep(0.5)


def query(url: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def services_of(result: list[dict[str, Any]]) -> set[str]:
    return {item["metric"].get("service", "") for item in result}


def test_prometheus_scrapes_the_key_series_and_an_attack_fires_its_alert(
    platform: dict[str, ServiceProcess], prometheus: str
) -> None:
    wallet = platform["wallet"]
    admin = {"Authorization": f"Bearer {wallet.env['E2E_ADMIN_TOKEN']}"}
    genesis = httpx.post(f"{wallet.url}/v1/treasury/genesis", headers=admin | {
        "Idempotency-Key": uuid.uuid4().hex}, timeout=30)  # fmt: skip
    assert genesis.status_code == 201, genesis.text
    every = set(platform)

    # Every service scraped and up; the runtime's series from each.
    up = until(lambda: (r := query(prometheus, 'up{job="kgo"} == 1')) and
               services_of(r) == every and r)  # fmt: skip
    assert len(up) == 5
    assert services_of(query(prometheus, "kgo_service_info")) == every
    until(lambda: services_of(query(prometheus, "kgo_http_requests_total")) == every)
    relays = until(lambda: services_of(query(prometheus, "kgo_relay_lag_events")) ==
                   every - {"projections"})  # fmt: skip
    assert relays
    assert services_of(query(prometheus, "kgo_relay_lag_seconds")) == every - {"projections"}
    until(lambda: query(prometheus, "kgo_consumer_lag_records"))
    until(lambda: query(prometheus, "kgo_projection_staleness_seconds"))
    # The ledger: the supply adds up after the genesis mint.
    gap = until(lambda: query(prometheus, "kgo_wallet_conservation_gap_coins"))
    assert [item["value"][1] for item in gap] == ["0"]
    assert query(prometheus, "kgo_wallet_supply_minted_coins")[0]["value"][1] != "0"
    assert not query(prometheus, 'ALERTS{alertname="KgoConservationBroken"}')

    # Every name a dashboard queries is one the running services export.
    builder = load_builder()
    exported = {"up"}
    for process in platform.values():
        exported |= builder.exported_names(httpx.get(f"{process.url}/metrics", timeout=10).text)
    for name, board in builder.dashboards().items():
        for title, expr in builder.queries(board):
            missing = builder.series_names(expr) - exported
            assert not missing, f"{name}: {title} reads {missing}"

    # Someone guessing receive codes at the wallet: one miss, a scrape, then a burst.
    service = {"Authorization": f"Bearer {wallet.env['E2E_SERVICE_TOKEN']}"}

    def guess(times: int) -> None:
        with httpx.Client(base_url=wallet.url, headers=service, timeout=30) as client:
            for _ in range(times):
                answer = client.post("/v1/receive-codes/resolve", json={"code": guess_code()})
                assert answer.status_code == 404, answer.text
                assert answer.json()["code"] == "receive_code_invalid"

    guess(1)
    until(lambda: query(prometheus, 'kgo_code_failures_total{kind="receive_code"}'))
    time.sleep(1.5)  # one more scrape at 1
    guess(70)
    firing = until(lambda: [
        a for a in httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        if a["labels"]["alertname"] == "KgoCodeGuessing" and a["state"] == "firing"
    ], timeout=60)  # fmt: skip
    labels = firing[0]["labels"]
    assert (labels["service"], labels["kind"], labels["severity"]) == (
        "wallet", "receive_code", "critical")  # fmt: skip
    assert firing[0]["annotations"]["runbook_url"] == "docs/runbook.md#kgocodeguessing"
    refused = query(prometheus, 'kgo_commands_total{reason_code="receive_code_invalid"}')
    assert refused and refused[0]["metric"]["outcome"] == "refused"


def guess_code() -> str:
    """Eight random digits: the shape of a receive code, almost surely not a live one."""
    return f"{uuid.uuid4().int % 10**8:08d}"
