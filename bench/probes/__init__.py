"""Research probes: one-off measurements whose answers docs/performance.md records (README.md here).

Each runs alone, from the repository root: ``python -m bench.probes.<probe> ...``;
none is part of the benchmark's table.
"""
