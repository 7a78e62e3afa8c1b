"""The "bus" part of /api/status, without importing redis: the embedded default (no --bus)
never loads the Redis client."""

from __future__ import annotations

from typing import Any


def bus_status(bus: Any, cluster: Any = None) -> dict[str, Any]:
    """Where the bus is, its state, and the instances (the in-memory bus: none listed)."""
    if cluster is None:
        return {"url_redacted": None, "state": bus.state(), "instance": bus.instance, "instances": []}
    registry = cluster.registry
    return {"url_redacted": bus.url_redacted, "state": bus.state(), "instance": bus.instance,
            "instances": registry.instances() if registry is not None else [],
            "stream_max": bus.stream_max, "queue": bus.out_limit, "dropped": bus.dropped_total(),
            "outages": bus.outages, "refusal": bus.refusal(), "bad_entries": bus.bad_entries,
            "refused_writes": bus.refused_writes}
