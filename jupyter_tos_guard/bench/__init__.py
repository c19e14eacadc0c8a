"""Benchmarks the project ships: the engine, a real server's round trips, the hub service,
the process watcher.

Nothing here runs in a user's server; the hub benchmark needs the `bench` extra.
"""
