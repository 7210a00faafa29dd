"""Day partitions of courier_positions: created ahead by the flusher, dropped whole by prune."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

PARENT = "courier_positions"
_NAME = re.compile(rf"^{PARENT}_(\d{{8}})$")
DAY_S = 86_400


def partition_name(day: date) -> str:
    """``courier_positions_YYYYMMDD``: the partition holding [day 00:00 UTC, next day)."""
    return f"{PARENT}_{day:%Y%m%d}"


def day_of_epoch(epoch_day: int) -> date:
    """The UTC calendar date of an epoch day number (``floor(ts / 86400)``)."""
    return date(1970, 1, 1) + timedelta(days=int(epoch_day))


def ensure_partitions(conn: psycopg.Connection[Any], days: Iterable[date]) -> None:
    """Create the day partitions that do not exist yet (safe to call concurrently)."""
    for day in sorted(set(days)):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )


def existing_partitions(conn: psycopg.Connection[Any]) -> dict[date, str]:
    """The day partitions attached to courier_positions, by day."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        (PARENT,),
    ).fetchall()
    found: dict[date, str] = {}
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            found[datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return found


def drop_partitions_before(conn: psycopg.Connection[Any], cutoff: datetime) -> list[str]:
    """Drop every day partition whose whole day ends at or before ``cutoff``; return their names.

    Retention drops whole partitions (no DELETE, no vacuum debt); a day that straddles the cutoff
    is kept.
    """
    dropped = []
    for day, name in sorted(existing_partitions(conn).items()):
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        if end <= cutoff:
            conn.execute(f"DROP TABLE {name}")
            dropped.append(name)
    return dropped
