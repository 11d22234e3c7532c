"""The numbers one run produces: rows of the table, the machine, memory."""

from __future__ import annotations

from dataclasses import dataclass, field

TARGET_RATIO = 0.5
RAW_BEFORE = "postgres insert tx (raw, first)"
RAW_AFTER = "postgres insert tx (raw, last)"


@dataclass(frozen=True)
class Row:
    scenario: str
    concurrency: int
    rate: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    #: The raw rate this row is held against (same machine, same concurrency).
    raw_rate: float | None = None
    mean_batch: float | None = None
    #: Share of the measured window the wallet's single writer thread was deciding/saving.
    writer_busy: float | None = None
    #: CPU time of the writer thread per command (contention barely moves it).
    cpu_us: float | None = None
    #: Wallet rows are held against the target ratio.
    wallet: bool = False
    errors: int = 0

    @property
    def ratio(self) -> float | None:
        return self.rate / self.raw_rate if self.raw_rate else None


@dataclass(frozen=True)
class Machine:
    cores: int
    ram_gib: float
    cpu: str
    python: str
    postgres: str
    kafka: str
    os: str
    date: str
    #: 1-minute load average just before the run and just after it.
    load: tuple[float, float] = (0.0, 0.0)
    #: Cores kept busy on average during the run by this benchmark's stack / by others.
    stack_cores: float | None = None
    others_cores: float | None = None

    @property
    def contended(self) -> bool:
        """Other processes took a noticeable share of the machine during the run."""
        if self.others_cores is not None:
            return self.others_cores > 0.25
        return self.load[0] > self.cores / 2


@dataclass(frozen=True)
class Memory:
    peak_rss_mib: float
    cache_entries: int | None = None
    bytes_per_account: float | None = None
    bytes_per_receipt: float | None = None
    #: The writer cache's configured size (WalletSettings.cache_size).
    cache_size: int | None = None


@dataclass
class Report:
    machine: Machine
    rows: list[Row]
    memory: Memory
    method: list[str] = field(default_factory=list)
    mode: str = "default"
    profile: str | None = None
