"""Benchmarks the project ships: the engine, a real server's round trips, the hub service.

Nothing here runs in a user's server; the hub benchmark needs the `bench` extra.
"""
