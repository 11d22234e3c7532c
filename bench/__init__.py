"""KGO's benchmarks: the wallet's speed and memory beside the raw limits of the same machine.

Run ``uv run python -m bench.run`` (``--quick`` for a short smoke run); see bench/README.md.
"""
