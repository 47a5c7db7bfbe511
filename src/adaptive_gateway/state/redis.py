"""Counters in Redis, shared by every worker and replica: one Lua script per admission (one round
trip), settlements batched into one pipelined write."""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from adaptive_gateway.state.base import (
    DENY_BUDGET,
    DENY_LEASE,
    DENY_WINDOW,
    AdmitPlan,
    AdmitResult,
    Settlement,
    SettleResult,
)
from adaptive_gateway.state.resp import RespClient

_DENIALS = {1: DENY_WINDOW, 2: DENY_LEASE, 3: DENY_BUDGET}


def _script(name: str) -> str:
    return (resources.files("adaptive_gateway.state") / "lua" / name).read_text(encoding="utf-8")


class RedisCounters:
    """The :class:`~adaptive_gateway.state.base.Counters` backend in Redis. Every key is prefixed."""

    name = "redis"

    def __init__(self, url: str, prefix: str = "agw:", timeout: float = 1.0) -> None:
        self.client = RespClient(url, timeout=timeout)
        self.prefix = prefix
        self._admit = self.client.register_script(_script("admit.lua"))
        self._settle = self.client.register_script(_script("settle.lua"))

    def _budget_keys(self, key: str) -> tuple[str, str]:
        full = self.prefix + key
        return full, full + ":l"

    async def admit(self, plan: AdmitPlan) -> AdmitResult:
        p = self.prefix
        keys = [p + w.key for w in plan.windows] + [p + lop.key for lop in plan.leases]
        args: list[Any] = [
            plan.lease_id,
            plan.lease_ttl,
            len(plan.windows),
            len(plan.leases),
            len(plan.budgets),
        ]
        for w in plan.windows:
            args += (w.limit, w.cost)
        for lop in plan.leases:
            args.append(lop.limit)
        for b in plan.budgets:
            keys += self._budget_keys(b.key)
            args += (b.limit, b.amount, 1 if b.hard else 0, int(b.expires_at))
        reply = await self.client.evalsha(self._admit, keys, args)
        return self._result(reply, len(plan.windows))

    def _result(self, reply: list[int], n_windows: int) -> AdmitResult:
        ok, bucket, denied, index, retry_ms = reply[:5]
        res = AdmitResult(bool(ok), bucket, self.name)
        rest = reply[5:]
        if not ok:
            res.denied, res.index, res.retry_after = _DENIALS[denied], index - 1, retry_ms / 1000
        else:
            res.remaining = rest[0 : 2 * n_windows : 2]
            res.reset = [ms / 1000 for ms in rest[1 : 2 * n_windows : 2]]
            rest = rest[2 * n_windows :]
        res.spent, res.reserved = rest[0::2], rest[1::2]
        return res

    def _settle_args(self, items: list[Settlement]) -> tuple[list[str], list[Any]]:
        """Keys and arguments of one script call for a whole batch of settlements."""
        p = self.prefix
        keys: list[str] = []
        args: list[Any] = [len(items)]
        for s in items:
            keys += [p + k for k in s.leases]
            keys += [p + k for k, _ in s.windows]
            args += (s.lease_id, s.bucket, len(s.leases), len(s.windows), len(s.budgets))
            args += [delta for _, delta in s.windows]
            for key, actual, expires_at in s.budgets:
                keys += self._budget_keys(key)
                args += (actual, int(expires_at))
        return keys, args

    async def settle(self, items: list[Settlement]) -> list[SettleResult]:
        if not items:
            return []
        replies: list[int] = []
        for i in range(0, len(items), 256):  # bounded scripts: Redis runs one at a time
            keys, args = self._settle_args(items[i : i + 256])
            replies += await self.client.evalsha(self._settle, keys, args)
        out: list[SettleResult] = []
        pos = 0
        for s in items:
            n = 2 * len(s.budgets)
            flat = replies[pos : pos + n]
            pos += n
            out.append(list(zip(flat[0::2], flat[1::2], strict=True)))
        return out

    async def seed_spend(self, seeds: dict[str, tuple[int, float]]) -> None:
        cmds: list[tuple[Any, ...]] = []
        for key, (amount, expires_at) in seeds.items():
            full = self.prefix + key
            cmds += [("HSETNX", full, "spent", amount), ("EXPIREAT", full, int(expires_at) + 86400)]
        if cmds:
            await self.client.pipeline(cmds)

    async def budget_state(self, keys: list[str]) -> list[tuple[int, int]]:
        if not keys:
            return []
        replies = await self.client.pipeline([("HMGET", self.prefix + k, "spent", "reserved") for k in keys])
        return [(int(r[0] or 0), int(r[1] or 0)) for r in replies]

    async def ping(self) -> tuple[bool, str]:
        t0 = time.perf_counter()
        await self.client.execute("PING")
        return True, f"redis at {self.client.where}, ping {(time.perf_counter() - t0) * 1000:.1f} ms"

    async def close(self) -> None:
        await self.client.close()
