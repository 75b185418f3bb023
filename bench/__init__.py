"""Benchmarks and tuning scripts: `python -m bench.NAME --help` (docs/benchmarks.md)."""
