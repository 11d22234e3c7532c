"""bench.memory's RSS reading and its table (no sizes asserted beyond "some")."""

from __future__ import annotations

import os

import pytest

from bench.memory import MIB, Measured, format_rows, rss_bytes

pytestmark = pytest.mark.unit


def test_rss_of_this_process_is_read_from_proc():
    assert rss_bytes(os.getpid()) > MIB


def test_a_row_shows_both_sizes_in_mib_and_the_growth_per_resident():
    row = Measured("wallet", 1_000, 100 * MIB, 101 * MIB, 12.0, "HTTP", "the cache")
    table = format_rows([row])
    assert "| wallet | 1,000 | 100.0 | 101.0 | 1,049 | HTTP (12 s) | the cache |" in table
