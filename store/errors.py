"""Typed errors of the store; database errors are mapped onto them in one place."""

from __future__ import annotations

import re
from typing import Any

from geo.errors import FieldProblems
from geo.errors import Problem as Problem


class StoreError(Exception):
    """Base of every error raised by `store` that is not a plain input error."""


class NotFound(StoreError, LookupError):
    """No ``kind`` with this id in the caller's tenant (other tenants' rows are invisible)."""

    def __init__(self, kind: str, id: str) -> None:
        self.kind = kind
        self.id = id
        super().__init__(f"{kind} {id!r} not found")


class AlreadyExists(StoreError, ValueError):
    """A row with this id (or unique key) exists already."""

    def __init__(self, kind: str, field: str, value: Any) -> None:
        self.kind = kind
        self.field = field
        self.value = value
        super().__init__(f"{kind} with {field}={value!r} already exists")


class InvalidRecord(FieldProblems, StoreError):
    """Input fields the store refuses before touching the database; lists every problem."""


class OutsideServiceZone(StoreError, ValueError):
    """An order point not covered by any active service zone of its tenant.

    ``points`` names which: ``("pickup",)``, ``("dropoff",)`` or both.
    """

    def __init__(self, tenant_id: str, points: tuple[str, ...]) -> None:
        self.tenant_id = tenant_id
        self.points = points
        self.field = points[0]
        super().__init__(
            f"{' and '.join(points)} outside every active service zone of tenant {tenant_id!r}"
        )


class IdempotencyConflict(StoreError, ValueError):
    """The idempotency key was used before with a different request body."""

    def __init__(self, tenant_id: str, key: str) -> None:
        self.tenant_id = tenant_id
        self.key = key
        self.field = "idempotency_key"
        super().__init__(f"idempotency key {key!r} was used with a different request")


class StaleVersion(StoreError, ValueError):
    """An optimistic update lost a race: the row is no longer at the expected version."""

    def __init__(self, kind: str, id: str, expected: int, actual: int | None) -> None:
        self.kind = kind
        self.id = id
        self.expected = expected
        self.actual = actual
        super().__init__(f"{kind} {id!r} is at version {actual}, not {expected}")


class UnbalancedJournal(StoreError, ValueError):
    """Ledger entries of one journal do not sum to zero per currency."""


class TrackBufferFull(StoreError, OverflowError):
    """The track buffer is at its bound: the database is not keeping up (back-pressure)."""

    def __init__(self, size: int, bound: int) -> None:
        self.size = size
        self.bound = bound
        super().__init__(f"track buffer full: {size} pending pings, bound {bound}")


class StoreUnavailable(StoreError, ConnectionError):
    """The database cannot be reached or the operation failed for operational reasons."""


class DatabaseError(StoreError, RuntimeError):
    """A database error with no more specific mapping (a bug or an unexpected state)."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        self.sqlstate = sqlstate
        super().__init__(f"database error {sqlstate}: {message}")


_FK_DETAIL = re.compile(
    r'Key \((?P<field>[^)]+)\)=\((?P<value>.*)\) is not present in table "(?P<table>\w+)"'
)
_UNIQUE_DETAIL = re.compile(r"Key \((?P<field>[^)]+)\)=\((?P<value>.*)\) already exists")
_TABLE_KIND = {
    "tenants": "tenant",
    "couriers": "courier",
    "orders": "order",
    "geofences": "geofence",
    "api_keys": "api_key",
    "offers": "offer",
    "payments": "payment",
    "webhook_endpoints": "webhook_endpoint",
}


def _is_data_error(exc: Exception) -> bool:
    """A DB-API (PEP 249) ``DataError``: bad input, whatever the driver."""
    return any(cls.__name__ == "DataError" for cls in type(exc).__mro__)


def from_database_error(exc: Exception, *, tenant_id: str = "") -> Exception:
    """The typed error for a driver (psycopg) error, keyed by its SQLSTATE.

    Custom codes come from the migrations' triggers: HX001 a point outside every service zone
    (DETAIL names which), HX002 an unbalanced ledger journal, HX003 a change to an immutable row.
    """
    sqlstate: str | None = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    detail = (getattr(diag, "message_detail", None) or "") if diag else ""
    message = (getattr(diag, "message_primary", None) or str(exc)) if diag else str(exc)
    table = (getattr(diag, "table_name", None) or "") if diag else ""
    if sqlstate == "HX001":
        return OutsideServiceZone(tenant_id, tuple(detail.split(",")))
    if sqlstate == "HX002":
        return UnbalancedJournal(message)
    if sqlstate == "23503" and (m := _FK_DETAIL.search(detail)):
        return NotFound(_TABLE_KIND.get(m["table"], m["table"]), m["value"])
    if sqlstate == "23505":
        m = _UNIQUE_DETAIL.search(detail)
        kind = _TABLE_KIND.get(table, table)
        return AlreadyExists(kind, m["field"] if m else "key", m["value"] if m else None)
    if sqlstate and (sqlstate.startswith("22") or sqlstate in ("23514", "23502", "HX003")):
        constraint = (getattr(diag, "constraint_name", None) or table) if diag else table
        return InvalidRecord([(constraint or "row", None, message)])
    if sqlstate is None and _is_data_error(exc):
        # Refused by the driver before it reached the server (a NUL byte in a text value).
        return InvalidRecord([("text", None, message)])
    if sqlstate is None or sqlstate[:2] in ("08", "53", "57") or sqlstate in ("40001", "40P01"):
        return StoreUnavailable(f"database unavailable or contended ({sqlstate}): {message}")
    return DatabaseError(message, sqlstate)
