"""A private PostgreSQL 15 cluster, owned by the `postgres` user when we run as root."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from kgo_cli.infra import processes
from kgo_cli.infra.errors import InfraError, PrereqError
from kgo_cli.infra.prereqs import ensure_postgres_server
from kgo_runtime.settings import SERVICE_NAMES, InfraSettings

OWNER = "postgres"
_MAX_HOME_LEN = 70
SERVER_SETTINGS: dict[str, str] = {"max_connections": "200", "shared_buffers": "128MB"}


@dataclass(frozen=True)
class PgPaths:
    root: Path
    data_dir: Path
    socket_dir: Path
    log_file: Path
    log_link: Path
    pointer: Path


def _as_root() -> bool:
    return os.geteuid() == 0


def _owner_cmd(argv: list[str]) -> list[str]:
    """initdb and the server refuse root: run them as `postgres` when we are root."""
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", OWNER, "--", *argv] if _as_root() else argv


def _owner_can_reach(folder: Path) -> bool:
    if not _as_root():
        return True
    probe = subprocess.run(_owner_cmd(["test", "-x", str(folder)]), check=False)
    return probe.returncode == 0


def paths(settings: InfraSettings) -> PgPaths:
    """Where the cluster lives: under KGO_HOME if `postgres` can reach it, else /var/tmp.
    The choice is recorded so later runs (and `status`) find the same folder."""
    pointer = settings.home / "run" / "postgres.json"
    try:
        root = Path(json.loads(pointer.read_text())["root"])
    except (FileNotFoundError, ValueError, KeyError):
        root = _choose_root(settings)
    return PgPaths(
        root=root,
        data_dir=root / "data",
        socket_dir=root / "run",
        log_file=root / "postgres.log",
        log_link=settings.logs_dir / "postgres.log",
        pointer=pointer,
    )


def _choose_root(settings: InfraSettings) -> Path:
    home = settings.home.resolve()
    # A Unix socket path has at most 107 bytes; deep checkouts use the short path instead.
    if len(str(home)) <= _MAX_HOME_LEN and home.is_dir() and _owner_can_reach(home):
        return home / "postgres"
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"kgo-pg-{digest}"


def running_pid(settings: InfraSettings) -> int | None:
    data_dir = paths(settings).data_dir
    return processes.running_pid(data_dir / "postmaster.pid", str(data_dir))


def running_port(settings: InfraSettings) -> int | None:
    try:
        return int((paths(settings).data_dir / "postmaster.pid").read_text().splitlines()[3])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def server_version(settings: InfraSettings) -> str | None:
    try:
        return (paths(settings).data_dir / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return None


def preflight(settings: InfraSettings) -> None:
    """Fail in one sentence before anything starts: the server installed, its port free."""
    ensure_postgres_server(settings.pg_bin_dir)
    processes.require_free_port(settings.pg_host, settings.pg_port, "PostgreSQL", "KGO_PG_PORT")


def start(settings: InfraSettings) -> None:
    """Install (if needed), initialise (once) and start the cluster; waits until it accepts."""
    preflight(settings)
    p = paths(settings)
    _prepare_folders(settings, p)
    if not (p.data_dir / "PG_VERSION").exists():
        initdb = [str(settings.pg_bin_dir / "initdb"), "-D", str(p.data_dir), "-A", "trust"]
        _run_as_owner([*initdb, "-U", settings.pg_user, "-E", "UTF8", "--no-sync"], p, "initdb")
    options = [
        f"-p {settings.pg_port}",
        f"-k {p.socket_dir}",
        f"-c listen_addresses={settings.pg_host}",
    ]
    options += [f"-c {key}={value}" for key, value in SERVER_SETTINGS.items()]
    pg_ctl = [str(settings.pg_bin_dir / "pg_ctl"), "-D", str(p.data_dir), "-o", " ".join(options)]
    _run_as_owner([*pg_ctl, "-l", str(p.log_file), "-w", "-t", "60", "start"], p, "pg_ctl start")


def _prepare_folders(settings: InfraSettings, p: PgPaths) -> None:
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    p.pointer.parent.mkdir(parents=True, exist_ok=True)
    p.root.mkdir(parents=True, exist_ok=True)
    p.socket_dir.mkdir(exist_ok=True)
    if _as_root():
        try:
            owner = pwd.getpwnam(OWNER)
        except KeyError:
            raise PrereqError(
                f"The `{OWNER}` system user is missing: reinstall the postgresql-15 package."
            ) from None
        for folder in (p.root, p.socket_dir):
            os.chown(folder, owner.pw_uid, owner.pw_gid)
    p.root.chmod(0o700)
    p.pointer.write_text(json.dumps({"root": str(p.root), "data_dir": str(p.data_dir)}) + "\n")
    if not p.log_link.is_symlink():
        p.log_link.unlink(missing_ok=True)
        p.log_link.symlink_to(p.log_file)


def _run_as_owner(argv: list[str], p: PgPaths, what: str) -> None:
    # A new session keeps the server clear of the terminal's Ctrl-C.
    proc = subprocess.run(
        _owner_cmd(argv), capture_output=True, text=True, check=False, start_new_session=True
    )
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip().splitlines()
        detail = output[-1] if output else "no output"
        raise InfraError(f"PostgreSQL's {what} failed ({detail}): see {p.log_file}.")


def stop(settings: InfraSettings) -> bool:
    """Stop this KGO_HOME's cluster (fast mode: sessions are cut, data is safe)."""
    pid = running_pid(settings)
    if pid is None:
        return False
    p = paths(settings)
    pg_ctl = [str(settings.pg_bin_dir / "pg_ctl"), "-D", str(p.data_dir), "-m", "fast", "-w"]
    proc = subprocess.run(_owner_cmd([*pg_ctl, "stop"]), capture_output=True, check=False)
    if proc.returncode != 0 or not processes.wait_gone(pid, 10.0):
        processes.terminate(pid, grace_s=10.0)
    return True


def connect(settings: InfraSettings, dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(
        host=settings.pg_host, port=settings.pg_port, user=settings.pg_user,
        dbname=dbname, autocommit=True, connect_timeout=3,
    )  # fmt: skip


def is_healthy(settings: InfraSettings) -> bool:
    try:
        with connect(settings) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def service_databases(settings: InfraSettings) -> list[str]:
    return [settings.database_name(service) for service in SERVICE_NAMES]


def ensure_databases(settings: InfraSettings) -> list[str]:
    """Create every service's database that is missing; returns the names it created."""
    created = []
    with connect(settings) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in service_databases(settings):
            if name in existing:
                continue
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                continue  # someone else's `up` won the race
            created.append(name)
    return created


def existing_databases(settings: InfraSettings) -> list[str]:
    with connect(settings) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'kgo\\_%'")
        return sorted(row[0] for row in rows)
