"""`kgo status`: every service process of this machine's platform, from the status file
`kgo run` keeps ($KGO_HOME/run/status.json: pid, state, restarts) and from each service
itself: readiness (``/readyz``) and lag (``/metrics``: relay lag in events, consumer lag in
records summed over partitions). A service run as a group of processes (kgo_runtime.roles)
lists them at ``/metrics/targets`` (kgo_runtime.targets): each is probed on its own port,
shown on a line of its own, and the service's lags are summed over them."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families

from kgo_cli.supervision import read_status
from kgo_runtime.settings import SERVICE_NAMES, InfraSettings, ServiceSettings
from kgo_runtime.targets import TARGETS_PATH, Target, listed

#: Series read as lag; the second spellings are the unit-suffixed names should they appear.
RELAY_LAG = ("kgo_relay_lag", "kgo_relay_lag_events")
CONSUMER_LAG = ("kgo_consumer_lag", "kgo_consumer_lag_records")


def status_file() -> Path:
    return InfraSettings().home / "run" / "status.json"


def settings_class(service: str) -> type[ServiceSettings]:
    """The pydantic settings class of ``service`` (``services/<service>/settings.py``)."""
    module = importlib.import_module(f"services.{service}.settings")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, ServiceSettings)
            and getattr(value, "service_name", None) == service
        ):
            return value
    raise LookupError(f"services/{service}/settings.py has no settings class for {service}")


def service_url(service: str) -> str:
    """Where this machine reaches ``service``, as its settings (the environment) say."""
    settings = settings_class(service)()
    host = settings.http_host if settings.http_host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{settings.http_port}"


@dataclass
class ProcessStatus:
    """One process of a service run as a group, on its own operations port."""

    role: str
    process: str
    url: str
    ready: str = "down"
    relay_lag: float | None = None
    consumer_lag: float | None = None


@dataclass
class ServiceStatus:
    service: str
    url: str
    pid: int | None = None
    state: str = "unsupervised"
    restarts: int | None = None
    ready: str = "down"
    relay_lag: float | None = None
    consumer_lag: float | None = None
    #: The processes of a group (none for a service alone in its process).
    processes: list[ProcessStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.ready == "ready" and all(p.ready == "ready" for p in self.processes)


def probe(service: str, url: str, timeout: float = 2.0) -> ServiceStatus:
    """Readiness and lag of the service answering at ``url``, and of each of its processes."""
    found = ServiceStatus(service, url)
    found.ready, found.relay_lag, found.consumer_lag = _probe(url, timeout)
    if found.ready == "down":
        return found
    group = [t for t in _targets(url, timeout) if t.url != url]  # a service alone: none
    for target in group:
        process = ProcessStatus(target.role, target.process, target.url)
        process.ready, process.relay_lag, process.consumer_lag = _probe(target.url, timeout)
        found.processes.append(process)
    if group:  # the shared port answers from any one of them: their own ports say it all
        found.relay_lag = _total(p.relay_lag for p in found.processes)
        found.consumer_lag = _total(p.consumer_lag for p in found.processes)
    return found


def _probe(url: str, timeout: float) -> tuple[str, float | None, float | None]:
    """(readiness, relay lag, consumer lag) of the process answering at ``url``."""
    try:
        ready = httpx.get(f"{url}/readyz", timeout=timeout)
    except httpx.HTTPError:
        return "down", None, None
    if ready.status_code == 200:
        state = "ready"
    else:
        failing = _failing_checks(ready)
        state = "not ready" + (f" ({failing})" if failing else "")
    try:
        metrics = httpx.get(f"{url}/metrics", timeout=timeout)
    except httpx.HTTPError:
        return state, None, None
    if metrics.status_code != 200:
        return state, None, None
    return (state, *lags(metrics.text))


def _targets(url: str, timeout: float) -> list[Target]:
    """The processes the service at ``url`` lists; none when it lists none."""
    try:
        answer = httpx.get(f"{url}{TARGETS_PATH}", timeout=timeout)
        answer.raise_for_status()
        return listed(answer.json())
    except (httpx.HTTPError, ValueError):
        return []


def _total(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def lags(exposition: str) -> tuple[float | None, float | None]:
    """(relay lag, consumer lag) summed over their label sets; None when not exported."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for kind, names in (("relay", RELAY_LAG), ("consumer", CONSUMER_LAG)):
            if family.name in names:
                for sample in family.samples:
                    if sample.name == family.name:
                        totals[kind] = totals.get(kind, 0.0) + sample.value
    return totals.get("relay"), totals.get("consumer")


def collect(services: list[str] | None = None) -> tuple[dict[str, Any] | None, list[ServiceStatus]]:
    supervised = read_status(status_file())
    known: dict[str, Any] = (supervised or {}).get("services", {})
    rows = []
    for service in services or [*known] or list(SERVICE_NAMES):
        entry = known.get(service, {})
        row = probe(service, entry.get("url") or service_url(service))
        if entry:
            row.pid, row.state, row.restarts = entry["pid"], entry["state"], entry["restarts"]
        rows.append(row)
    return supervised, rows


def render(supervised: dict[str, Any] | None, rows: list[ServiceStatus]) -> str:
    if supervised is None:
        head = "no `kgo run` supervises this machine's services (probing their ports)"
    else:
        head = f"kgo run: pid {supervised['supervisor_pid']}, status of {supervised['written_at']}"
    table = [("service", "pid", "state", "restarts", "ready", "relay lag", "consumer lag", "url")]
    for row in rows:
        table.append(
            (
                row.service,
                _cell(row.pid),
                row.state,
                _cell(row.restarts),
                row.ready,
                _cell(row.relay_lag),
                _cell(row.consumer_lag),
                row.url,
            )
        )
        for process in row.processes:
            table.append(
                (
                    f"  {process.role} {process.process}",
                    "", "", "",
                    process.ready,
                    _cell(process.relay_lag),
                    _cell(process.consumer_lag),
                    process.url,
                )
            )  # fmt: skip
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
    return "\n".join([head, *(line.rstrip() for line in lines)])


def status(
    services: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="Only these [default: all].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every service process: pid, state, restarts, readiness and lag; exits 1 unless every
    service shown is ready."""
    supervised, rows = collect(services)
    if as_json:
        typer.echo(
            json.dumps({"supervisor": supervised, "services": [asdict(r) for r in rows]}, indent=2)
        )
    else:
        typer.echo(render(supervised, rows))
    if not all(row.ok for row in rows):
        raise typer.Exit(1)


def _failing_checks(response: httpx.Response) -> str:
    try:
        checks = response.json().get("checks", {})
    except ValueError:
        return ""
    return ", ".join(f"{name}: {value}" for name, value in checks.items() if value != "ok")


def _cell(value: float | int | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


if __name__ == "__main__":  # `python -m kgo_cli.status_cmd`: the containers' health check
    typer.run(status)
