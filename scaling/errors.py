"""Errors of the scale-out layer, subclassing builtins and naming the field and the value."""

from __future__ import annotations

from typing import Any


class ScalingError(Exception):
    """Base of every scale-out error."""


class InvalidShardMap(ScalingError, ValueError):
    """A shard map that cannot be used (bad resolution, negative shard, empty)."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"invalid shard map {field}={value!r}: {reason}")


class NoShardMap(ScalingError, LookupError):
    """Redis holds no shard map yet (`hexdispatch shardmap` writes one)."""

    def __init__(self, key: str) -> None:
        self.field = "shard_map"
        self.value = key
        self.reason = "no shard map in Redis"
        super().__init__(f"no shard map at Redis key {key!r}")


class ShardTimeout(ScalingError, TimeoutError):
    """A shard did not answer a request within the bound."""

    def __init__(self, shard: int, op: str, timeout_s: float) -> None:
        self.field = "shard"
        self.value = shard
        self.reason = f"{op} not answered within {timeout_s:g} s"
        super().__init__(f"shard {shard}: {self.reason}")


class ShardRefused(ScalingError, RuntimeError):
    """A shard refused a request (the error it raised, by class name and message)."""

    def __init__(self, shard: int, error: str, detail: str) -> None:
        self.field = "shard"
        self.value = shard
        self.reason = f"{error}: {detail}"
        super().__init__(f"shard {shard} refused: {error}: {detail}")


class DispatchInShards(ScalingError, RuntimeError):
    """An on-demand batch asked of an API worker: in scale-out the shards run them."""

    def __init__(self) -> None:
        self.field = "dispatch"
        self.value = None
        self.reason = "in scale-out the shards run dispatch every window"
        super().__init__(self.reason)
