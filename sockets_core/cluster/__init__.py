"""``--bus redis://...``: this instance as a member of a cluster (docs/cluster.md).

node.py: Cluster (connect, presence, shared token and rules, the instances registry, the
history backfill); presence.py, instances.py, shared.py: the Redis parts; status.py: the
"bus" of /api/status. This package's root imports nothing, so that the embedded default
(no --bus) never loads the Redis client: import node.py only when --bus is given.
"""
