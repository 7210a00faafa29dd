"""Redis key and channel names: one place, so workers and shards agree."""

from __future__ import annotations

PREFIX = "hd"
SHARD_MAP = f"{PREFIX}:shardmap"
"""Hash: ``version``, ``resolution``, ``default`` and ``cells`` (the encoded cell → shard map)."""
CONTROL = f"{PREFIX}:ctl"
"""Pub/sub channel on which a new shard map's version is announced (shards and workers reload)."""
OWNER = f"{PREFIX}:owner"
"""Hash courier id → shard that holds it (written by shards; read by a worker on a new
connection, so a reconnecting driver's first ping can be handed over)."""
PENDING_STATUS = f"{PREFIX}:status"
"""Hash courier id → status set over REST before any shard held the courier (the shard that
applies its first ping takes it from here)."""
GROUP = "shard"
"""Consumer group name on every shard stream."""


def stream(shard: int) -> str:
    """The ping stream a shard consumes."""
    return f"{PREFIX}:stream:{shard}"


def last_positions(shard: int) -> str:
    """Hash courier id → encoded last state (the shard's snapshot, written with each XACK)."""
    return f"{PREFIX}:last:{shard}"


def requests(shard: int) -> str:
    """List a shard pops request/reply calls from (nearest, couriers in cells)."""
    return f"{PREFIX}:rpc:{shard}"


def cell_channel(cell: int) -> str:
    """Pub/sub channel of one console cell (coarse H3, hex)."""
    return f"{PREFIX}:cell:{cell:x}"


def courier_channel(courier_id: str) -> str:
    """Pub/sub channel of one courier: its offers and order changes, for its driver."""
    return f"{PREFIX}:courier:{courier_id}"


def consumer(shard: int) -> str:
    """A shard's consumer name: fixed, so a restarted shard reads its own pending entries."""
    return f"shard-{shard}"
