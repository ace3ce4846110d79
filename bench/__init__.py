"""Benchmarks: ``make bench [ONLY=name]`` runs ``bench/bench_<name>.py`` modules.

Every module exposes ``run() -> list[Result]``. The runner prints one table and writes
``bench/results.json``: a list of objects with ``name``, ``unit``, ``ours``, ``peer``,
``peer_value``, ``ratio`` (ours relative to the peer, >1 meaning better) and ``higher_is_better``.
"""
