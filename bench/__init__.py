"""livianet's benchmark suite: ``python -m bench`` from the repository root (bench/README.md).

Its modules import each other as ``bench.<module>``; the rows' own child processes
run as ``python -m bench.<module>`` (:func:`bench.common.bench_command`). The
research probes, whose answers docs/performance.md records, are ``bench.probes``.
"""
