"""Pid files, detached processes, ports and the lock that serialises `kgo infra` runs."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from kgo_cli.infra.errors import InfraError


def read_pid(pid_file: Path) -> int | None:
    """The pid on the first line (PostgreSQL's postmaster.pid has more lines after it)."""
    try:
        return int(pid_file.read_text().split("\n", 1)[0])
    except (FileNotFoundError, PermissionError, ValueError):
        return None


def is_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in ``pid_file`` if that process still runs and its command line holds
    ``marker`` (so a recycled pid is never mistaken for ours)."""
    pid = read_pid(pid_file)
    if pid is None or not is_alive(pid):
        return None
    return pid if any(marker in part for part in cmdline(pid)) else None


def spawn_detached(argv: Sequence[str], log_file: Path, cwd: Path) -> int:
    """Start ``argv`` in its own session, output appended to ``log_file``; return its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            list(argv),
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


def terminate(pid: int, grace_s: float = 30.0) -> bool:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL; returns once the process is gone,
    True if it exited on its own (cleanly) within the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_gone(pid, grace_s):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, 10.0)
    return False


def wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # Reap it if it is our child (a test may have started it in-process).
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    return not is_alive(pid)


def port_in_use(host: str, port: int) -> bool:
    """True when something listens on ``host:port`` (or it cannot be bound for that reason)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, for a server started later (a test's broker, a service).

    Drawn BELOW the kernel's ephemeral range: a port from ``bind(0)`` is one the kernel also
    hands out as the local end of outgoing connections, so while its server is down (killed
    and started again, say) any client on the machine may take it and the server cannot
    bind it again."""
    low = _ephemeral_low()
    if low > 11_000:
        for _ in range(200):
            port = random.randrange(10_000, low)
            if not port_in_use(host, port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def require_free_port(host: str, port: int, what: str, env_name: str) -> None:
    if port_in_use(host, port):
        raise InfraError(
            f"Port {port} on {host} is already taken by another program, so {what} cannot "
            f"start there: stop that program or choose another port with {env_name}=<port>."
        )


def wait_port_free(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while port_in_use(host, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@contextlib.contextmanager
def exclusive_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` so two `kgo infra` runs never race."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tail_text(path: Path, lines: int) -> str:
    """The last ``lines`` lines of ``path`` (reads only the end of a big file)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            block = min(size, max(4096, lines * 400))
            while True:
                handle.seek(size - block)
                data = handle.read(block)
                if data.count(b"\n") > lines or block == size:
                    break
                block = min(size, block * 2)
    except FileNotFoundError:
        return ""
    text = data.decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""
