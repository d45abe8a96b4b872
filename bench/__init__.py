"""Benchmarks that print ratios: ``python -m bench [cache stampede breaker processor plan coldstart] [--quick]``.

Each benchmark measures its figures in one run against its own local servers (a Redis server and the moto server on
free ports), prints them with their targets, and writes its section of ``docs/benchmarks.md`` with PNG plots in
``docs/img/``. Not part of the test suite: ``tests/test_bench.py`` covers only the pure parts (percentiles, verdicts,
the markdown).
"""
