"""Database errors become typed store errors, keyed by SQLSTATE."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from store.errors import (
    AlreadyExists,
    DatabaseError,
    InvalidRecord,
    NotFound,
    OutsideServiceZone,
    StoreUnavailable,
    UnbalancedJournal,
    from_database_error,
)


class FakeDbError(Exception):
    def __init__(
        self, sqlstate: str | None, detail: str = "", table: str = "", constraint: str = ""
    ) -> None:
        super().__init__("boom")
        self.sqlstate = sqlstate
        self.diag = SimpleNamespace(
            message_primary="boom",
            message_detail=detail,
            table_name=table,
            constraint_name=constraint,
        )


def test_zone_refusal_names_the_points_from_the_detail() -> None:
    err = from_database_error(FakeDbError("HX001", "pickup,dropoff"), tenant_id="acme")
    assert isinstance(err, OutsideServiceZone) and err.points == ("pickup", "dropoff")
    assert err.tenant_id == "acme"


def test_foreign_key_violation_is_not_found_of_the_referenced_row() -> None:
    detail = 'Key (tenant_id)=(ghost) is not present in table "tenants".'
    err = from_database_error(FakeDbError("23503", detail, table="couriers"))
    assert isinstance(err, NotFound) and (err.kind, err.id) == ("tenant", "ghost")


def test_unique_violation_is_already_exists_with_field_and_value() -> None:
    err = from_database_error(
        FakeDbError("23505", "Key (id)=(c1) already exists.", table="couriers")
    )
    assert isinstance(err, AlreadyExists)
    assert (err.kind, err.field, err.value) == ("courier", "id", "c1")


@pytest.mark.parametrize(
    ("sqlstate", "kind"),
    [
        ("HX002", UnbalancedJournal),
        ("HX003", InvalidRecord),
        ("23514", InvalidRecord),
        ("22P02", InvalidRecord),
        ("08006", StoreUnavailable),
        ("57P01", StoreUnavailable),
        ("40001", StoreUnavailable),
        (None, StoreUnavailable),
        ("42P01", DatabaseError),
    ],
)
def test_sqlstate_classes(sqlstate: str | None, kind: type[Exception]) -> None:
    assert isinstance(from_database_error(FakeDbError(sqlstate, constraint="ck_x")), kind)
