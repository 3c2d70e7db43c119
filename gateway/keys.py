"""Redis key names owned by the gateway process (job locks, instance heartbeats).

Each domain package has its own `keys` module for its keys; every name in Redis comes from one
of these modules, never from an inline string.
"""

from __future__ import annotations


def job_lock(job: str) -> str:
    """Held while one instance runs a periodic job tick."""
    return f"gateway:job:{job}:lock"


def instance_heartbeat(instance_id: str) -> str:
    """Refreshed by a live instance."""
    return f"gateway:instance:{instance_id}"
