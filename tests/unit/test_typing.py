"""The domain and application layers type-check under mypy --strict (STYLE.md, rule 7)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kgo_runtime.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit


def test_domain_and_application_layers_are_strictly_typed():
    layers = [str(p) for p in sorted(PROJECT_ROOT.glob("services/*/domain"))]
    layers += [str(p) for p in sorted(PROJECT_ROOT.glob("services/*/application"))]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *layers],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
