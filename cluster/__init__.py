"""Scaling out over Redis: the bus, the nickname directory, HTTP sessions and
flood-limit counters that several processes share (``--redis-url``).

The history store for this mode is :mod:`cluster.history`. One process with no
Redis at all uses the in-memory counterparts in :mod:`chat`.
"""
