"""Benchmark scripts (run as files: ``python benchmarks/NAME.py``); a package so that their shared
``benchmarks.timing`` is found in this checkout before any same-named module a library installs."""
