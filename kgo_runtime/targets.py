"""Every process of a service as a scrape target of its own: ``GET /metrics/targets``.

A service run as a supervised group (kgo_runtime.roles) shares its HTTP port among its HTTP
processes, so a scrape there reaches whichever one the kernel picks: counters would seem to
reset and gauges flip between registries, and the relay's series are only in the process
that runs it. Each process therefore also answers ``/metrics`` on a port of its own
(:func:`kgo_runtime.roles.members`), and any of them lists them all here, in Prometheus's
HTTP service discovery format (``http_sd_configs``): a list of ``{"targets": ["host:port"],
"labels": {...}}``. The simulator's barrier and `kgo status` read the same list, so every
reader of a service's metrics sees each of its processes once. A service alone in its
process lists its HTTP port only, the one target it has always been.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kgo_runtime.roles import members
from kgo_runtime.settings import ServiceSettings

TARGETS_PATH = "/metrics/targets"


def document(settings: ServiceSettings, host: str) -> list[dict[str, Any]]:
    """The target groups of the service's processes, on ``host`` (the host the reader used
    to reach the service, so that the targets are reachable the same way)."""
    host = f"[{host}]" if ":" in host else host
    return [
        {
            "targets": [f"{host}:{member.port}"],
            "labels": {
                "service": settings.service_name,
                "role": member.role.value,
                "process": str(member.index),
            },
        }
        for member in members(settings)
    ]


@dataclass(frozen=True)
class Target:
    """One process as a ``/metrics/targets`` answer lists it."""

    url: str  # http://host:port: its /metrics, /healthz, /readyz
    role: str
    process: str


def listed(answer: Any, scheme: str = "http") -> list[Target]:
    """The targets of a ``/metrics/targets`` answer; a ValueError when it is not a list of
    target groups."""
    try:
        return [
            Target(f"{scheme}://{target}", group["labels"]["role"], group["labels"]["process"])
            for group in answer
            for target in group["targets"]
        ]
    except (TypeError, KeyError) as error:
        raise ValueError(f"not a list of target groups: {answer!r}"[:200]) from error
