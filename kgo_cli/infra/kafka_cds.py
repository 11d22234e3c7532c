"""Class-data sharing for the broker: the first broker to stop cleanly dumps the classes it
loaded into the cache; later starts map them instead of loading ~40 MB of jars again, which
about halves a warm start. A stale or foreign archive is ignored by the JVM (-Xshare:auto)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from kgo_cli.infra import kafka_dist
from kgo_runtime.settings import InfraSettings

#: The dump lists every class it skips; that is noise in kafka.log.
_QUIET = ["-Xlog:cds=off", "-Xlog:cds+dynamic=off"]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def archive_path(settings: InfraSettings, java: str) -> Path:
    """One archive per Kafka download and Java build (an archive only fits the JVM that made
    it)."""
    real = os.path.realpath(java)
    key = _digest(f"{real}:{os.stat(real).st_mtime_ns}")
    return kafka_dist.dist_dir(settings) / "cds" / f"kafka-{key}.jsa"


def jvm_options(settings: InfraSettings, java: str) -> tuple[list[str], Path | None]:
    """Options for the broker's JVM and, when this run is to dump the archive, where to."""
    if not settings.kafka_cds:
        return [], None
    final = archive_path(settings, java)
    if final.exists():
        return [f"-XX:SharedArchiveFile={final}", *_QUIET], None
    # Each KGO_HOME dumps to its own file, so two brokers stopping at once never mix.
    pending = final.with_name(f"{final.stem}.{_digest(str(settings.home.absolute()))}.pending")
    pending.parent.mkdir(parents=True, exist_ok=True)
    pending.unlink(missing_ok=True)
    return [
        f"-XX:ArchiveClassesAtExit={pending}",
        "-Xlog:cds=off",
        "-Xlog:cds+dynamic=off",
    ], pending


def promote(pending: Path) -> None:
    """After a clean exit the dump is complete: publish it under its final name."""
    if pending.exists() and pending.stat().st_size > 0:
        pending.replace(pending.with_name(pending.name.split(".", 1)[0] + ".jsa"))
