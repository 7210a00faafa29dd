"""Request/reply with a shard over Redis: a push on the shard's request list, then a bounded
BLPOP on a one-off reply key (a reply nobody collected expires)."""

from __future__ import annotations

import secrets
from typing import Any

from scaling import codec, keys
from scaling.codec import Request
from scaling.errors import ShardTimeout


def _addressed(request: Request) -> bytes:
    request.reply = f"{keys.PREFIX}:reply:{secrets.token_hex(8)}"
    return codec.encode(request)


async def call(redis: Any, shard: int, request: Request, timeout_s: float) -> bytes:
    """Ask ``shard`` (asyncio client) and wait at most ``timeout_s`` for its encoded reply.

    Raises
    ------
    ShardTimeout
        When no reply came in time.
    """
    await redis.rpush(keys.requests(shard), _addressed(request))
    got = await redis.blpop([request.reply], timeout=timeout_s)
    if got is None:
        raise ShardTimeout(shard, request.op, timeout_s)
    return bytes(got[1])


def call_sync(redis: Any, shard: int, request: Request, timeout_s: float) -> bytes:
    """`call` with a blocking client (REST threads of an API worker)."""
    redis.rpush(keys.requests(shard), _addressed(request))
    got = redis.blpop([request.reply], timeout=timeout_s)
    if got is None:
        raise ShardTimeout(shard, request.op, timeout_s)
    return bytes(got[1])


async def tell(redis: Any, shard: int, request: Request) -> None:
    """Send a request that wants no reply (the list keeps it while the shard is down)."""
    request.reply = ""
    await redis.rpush(keys.requests(shard), codec.encode(request))
