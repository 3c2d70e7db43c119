"""Session leases (DESIGN.md section 9): one owner per session, with a fencing epoch.

A lease is a Redis key `keys.lease(company_id)` = "<instance>|<epoch>" set if absent with an
expiry and renewed by its owner. Each new acquisition increments `keys.lease_epoch(company_id)`;
the epoch is written with every state change, and a write carrying an older epoch than the
stored one is refused (the store's fencing), so a paused or partitioned former owner cannot
overwrite its successor. Lease TTLs are Redis (real) time.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from sessions import keys

_ACQUIRE = """
local v = redis.call('get', KEYS[1])
if v then
  local sep = string.find(v, '|', 1, true)
  if string.sub(v, 1, sep - 1) == ARGV[1] then
    redis.call('pexpire', KEYS[1], ARGV[2])
    return tonumber(string.sub(v, sep + 1))
  end
  return -1
end
local epoch = redis.call('incr', KEYS[2])
redis.call('set', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
return epoch
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class LeaseKeeper:
    """Acquire, renew and release this instance's session leases."""

    def __init__(self, redis: aioredis.Redis, instance_id: str, ttl_ms: int = 15_000) -> None:
        if "|" in instance_id:
            raise ValueError("instance_id must not contain '|'")
        self.redis = redis
        self.instance_id = instance_id
        self.ttl_ms = ttl_ms

    def _value(self, epoch: int) -> str:
        return f"{self.instance_id}|{epoch}"

    async def acquire(self, company_id: int) -> int | None:
        """The fencing epoch if this instance holds (or just took) the lease, else None."""
        epoch = int(await self.redis.eval(
            _ACQUIRE, 2, keys.lease(company_id), keys.lease_epoch(company_id), self.instance_id, self.ttl_ms
        ))
        return epoch if epoch > 0 else None

    async def renew(self, company_id: int, epoch: int) -> bool:
        """Extend the lease; False when it was lost (expired and possibly taken by another instance)."""
        return bool(await self.redis.eval(_RENEW, 1, keys.lease(company_id), self._value(epoch), self.ttl_ms))

    async def release(self, company_id: int, epoch: int) -> None:
        """Give the lease up (only if still ours)."""
        await self.redis.eval(_RELEASE, 1, keys.lease(company_id), self._value(epoch))

    async def holder(self, company_id: int) -> tuple[str, int] | None:
        """(instance id, epoch) of the current owner, or None."""
        raw = await self.redis.get(keys.lease(company_id))
        if raw is None:
            return None
        instance, _, epoch = str(raw).rpartition("|")
        return instance, int(epoch)

    async def heartbeat(self) -> None:
        """Tell other instances this one is alive (for the fair share of unowned sessions)."""
        await self.redis.set(keys.instance_alive(self.instance_id), "1", px=self.ttl_ms * 2)

    async def live_instances(self) -> int:
        """How many instances heartbeat (at least 1: this one)."""
        count = 0
        async for _ in self.redis.scan_iter(match=keys.INSTANCES_PATTERN, count=100):
            count += 1
        return max(1, count)
