"""Benchmarks that need a running process tree or server: `python -m jupyter_tos_guard.bench.NAME`."""
