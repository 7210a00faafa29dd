"""What only the PostGIS store has: COPY of tracks into day partitions, retention, SQL checks."""

from __future__ import annotations

import math
import random
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from api.cli import app
from orders.webhooks import RetryPolicy, SendResult, new_endpoint, record_attempt
from store.errors import (
    DatabaseError,
    InvalidRecord,
    OutsideServiceZone,
    StoreUnavailable,
    UnbalancedJournal,
    from_database_error,
)
from store.migrate import alembic_config
from store.postgis import PostgisStore, conninfo_from_url
from store.throwaway import Cluster, create_postgis_database
from tests.store.conftest import new_order, square

pytestmark = pytest.mark.postgis

DAY = 86_400.0
T0 = datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp()


def _sql(store_url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(conninfo_from_url(store_url)) as conn:
        return conn.execute(query, args).fetchall()  # type: ignore[arg-type]


def _courier(pg_store: PostgisStore, *ids: str) -> None:
    pg_store.create_tenant("Acme", tenant_id="acme")
    for cid in ids:
        pg_store.create_courier("acme", courier_id=cid)


def test_every_null_pattern_survives_the_binary_copy(
    pg_store: PostgisStore, postgis_url: str
) -> None:
    _courier(pg_store, "c1")
    n = 8
    nan = math.nan
    speed = [1.5 if i & 4 else nan for i in range(n)]
    heading = [90.25 if i & 2 else nan for i in range(n)]
    accuracy = [3.0 if i & 1 else nan for i in range(n)]
    ts = [T0 + i + 0.123456 for i in range(n)]
    lats = [52.5 + i * 1e-7 for i in range(n)]
    lngs = [-13.4 - i * 1e-7 for i in range(n)]
    pg_store.append_positions(["c1"] * n, ts, lats, lngs, speed, heading, accuracy)
    assert pg_store.flush_positions() == n
    rows = _sql(
        postgis_url,
        "SELECT extract(epoch FROM ts)::float8, ST_Y(pos::geometry), ST_X(pos::geometry), "
        "speed, heading, accuracy, ST_SRID(pos::geometry) FROM courier_positions ORDER BY ts",
    )
    assert len(rows) == n
    for i, (t, lat, lng, sp, hd, ac, srid) in enumerate(rows):
        assert t == pytest.approx(ts[i], abs=1e-6)
        assert (lat, lng, srid) == (lats[i], lngs[i], 4326)
        for got, want in ((sp, speed[i]), (hd, heading[i]), (ac, accuracy[i])):
            assert got is None if math.isnan(want) else got == want


def test_flush_creates_day_partitions_and_prune_drops_whole_days(
    pg_store: PostgisStore, postgis_url: str
) -> None:
    _courier(pg_store, "c1")
    days = [T0 - 40 * DAY, T0 - 31 * DAY, T0 - 1 * DAY, T0]
    pg_store.append_positions(["c1"] * 4, days, [1.0] * 4, [2.0] * 4)
    pg_store.flush_positions()
    names = {
        r[0]
        for r in _sql(
            postgis_url,
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE 'courier_positions_2%%'",
        )
    }
    assert names == {
        "courier_positions_20260129",
        "courier_positions_20260207",
        "courier_positions_20260309",
        "courier_positions_20260310",
        "courier_positions_20260311",  # created ahead
    }
    dropped = pg_store.prune_positions(30 * DAY, now=T0)
    assert dropped == ["courier_positions_20260129", "courier_positions_20260207"]
    assert _sql(postgis_url, "SELECT count(*) FROM courier_positions") == [(2,)]
    # A flush after a prune recreates a dropped day when a late ping arrives for it.
    pg_store.append_positions(["c1"], [T0 - 40 * DAY], [1.0], [2.0])
    assert pg_store.flush_positions() == 1


def test_a_failed_copy_keeps_its_batch_and_retries(
    pg_store: PostgisStore, postgis_url: str
) -> None:
    _courier(pg_store, "c1")
    pg_store.append_positions(["c1"], [T0], [1.0], [2.0])
    pg_store.flush_positions()  # creates the partition
    with psycopg.connect(conninfo_from_url(postgis_url), autocommit=True) as conn:
        conn.execute("ALTER TABLE courier_positions RENAME TO courier_positions_away")
        try:
            pg_store.append_positions(["c1", "c1"], [T0 + 1, T0 + 2], [1.0, 1.1], [2.0, 2.1])
            with pytest.raises(DatabaseError, match="courier_positions"):
                pg_store.flush_positions()
            assert pg_store.tracks.pending == 2
        finally:
            conn.execute("ALTER TABLE courier_positions_away RENAME TO courier_positions")
    assert pg_store.flush_positions() == 2
    assert _sql(postgis_url, "SELECT count(*) FROM courier_positions") == [(3,)]


def test_background_flusher_persists_without_an_explicit_flush(
    pg_store: PostgisStore, postgis_url: str
) -> None:
    _courier(pg_store, "c1")
    live = PostgisStore(postgis_url, pool_size=2, track_max_delay_s=0.01)
    try:
        live.append_positions(["c1"] * 3, [T0, T0 + 1, T0 + 2], [1.0] * 3, [2.0] * 3)
        deadline = time.monotonic() + 30
        while live.tracks.written < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert live.tracks.written == 3
    finally:
        live.close()
    assert _sql(postgis_url, "SELECT count(*) FROM courier_positions") == [(3,)]


def test_the_database_itself_refuses_orders_outside_service_zones(
    pg_store: PostgisStore, postgis_url: str
) -> None:
    pg_store.create_tenant("Acme", tenant_id="acme")
    pg_store.create_geofence("acme", "service_zone", square(0.0, 0.0, 1.0))
    insert = (
        "INSERT INTO orders (id, tenant_id, pickup, dropoff) VALUES ('raw', 'acme', "
        "ST_SetSRID(ST_MakePoint(0.5, 0.5), 4326), ST_SetSRID(ST_MakePoint(5, 5), 4326))"
    )
    with (
        psycopg.connect(conninfo_from_url(postgis_url)) as conn,
        pytest.raises(psycopg.Error) as info,
    ):
        conn.execute(insert)
    mapped = from_database_error(info.value, tenant_id="acme")
    assert isinstance(mapped, OutsideServiceZone) and mapped.points == ("dropoff",)
    with pytest.raises(OutsideServiceZone):
        pg_store.create_order(new_order("acme", (0.5, 0.5), (5.0, 5.0)))
    assert _sql(postgis_url, "SELECT count(*) FROM orders") == [(0,)]
    assert _sql(postgis_url, "SELECT count(*) FROM order_events") == [(0,)]


def test_concurrent_requests_with_one_key_create_exactly_one_order(
    pg_store: PostgisStore, postgis_url: str
) -> None:
    pg_store.create_tenant("Acme", tenant_id="acme")
    pg_store.create_geofence("acme", "service_zone", square(0.0, 0.0, 1.0))
    barrier = threading.Barrier(6)
    results: list[tuple[str, bool]] = []

    def create() -> None:
        barrier.wait()
        order, created = pg_store.create_order(
            new_order("acme", (0.5, 0.5), (0.6, 0.6)), idempotency_key="same", fingerprint="f"
        )
        results.append((order.id, created))

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    assert len({oid for oid, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert _sql(postgis_url, "SELECT count(*) FROM orders") == [(1,)]
    assert _sql(postgis_url, "SELECT count(*) FROM order_events") == [(1,)]


def test_ledger_journals_must_balance_and_entries_are_immutable(
    pg_store: PostgisStore, postgis_url: str
) -> None:
    pg_store.create_tenant("Acme", tenant_id="acme")
    head = (
        "INSERT INTO journal_entries (id, tenant_id, kind, currency, at) "
        "VALUES (%s, 'acme', 'test', 'EUR', 0)"
    )
    line = (
        "INSERT INTO ledger_entries (tenant_id, journal_id, account_kind, amount_minor, currency) "
        "VALUES ('acme', %s, %s, %s, 'EUR')"
    )
    with psycopg.connect(conninfo_from_url(postgis_url)) as conn:
        with conn.transaction():
            conn.execute(head, ("j1",))
            conn.execute(line, ("j1", "customer_receivable", 500))
            conn.execute(line, ("j1", "merchant_payable", -500))
        with pytest.raises(psycopg.Error) as info, conn.transaction():
            conn.execute(head, ("j2",))
            conn.execute(line, ("j2", "customer_receivable", 500))
            conn.execute(line, ("j2", "merchant_payable", -400))
        assert isinstance(from_database_error(info.value), UnbalancedJournal)
        for table in ("ledger_entries", "journal_entries"):
            with pytest.raises(psycopg.Error) as info, conn.transaction():
                conn.execute(f"DELETE FROM {table}")
            assert isinstance(from_database_error(info.value), InvalidRecord)
    assert [e.id for e in pg_store.journal_entries("acme")] == ["j1"]
    assert _sql(postgis_url, "SELECT sum(amount_minor)::int FROM ledger_entries") == [(0,)]


def test_cli_db_upgrade_and_prune(
    postgis_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = create_postgis_database(postgis_cluster, "hexdispatch_cli")
    monkeypatch.setenv("HEXDISPATCH_DATABASE_URL", url)
    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert f"revision {head}" in result.output
    store = PostgisStore(url, pool_size=1, start_flusher=False)
    try:
        store.create_tenant("Acme", tenant_id="acme")
        store.create_courier("acme", courier_id="c1")
        old = time.time() - 10 * DAY
        store.append_positions(["c1", "c1"], [old, time.time()], [1.0, 1.0], [2.0, 2.0])
        store.flush_positions()
        store.create_geofence("acme", "service_zone", square(13.30, 52.45, 0.2))
        store.create_webhook_endpoint(new_endpoint("ep", "acme", "http://h.test/", "s" * 32, ["*"]))
        store.create_order(new_order("acme", (52.5, 13.35), (52.5, 13.35), at=old))
        (claimed,) = store.claim_webhook_messages(old, limit=1, lease_s=30.0)
        state, endpoint, attempt = record_attempt(
            claimed.message,
            claimed.state,
            claimed.endpoint,
            SendResult(204),
            now=old,
            policy=RetryPolicy(),
            rng=random.Random(1),
        )
        store.record_webhook_attempt(state, endpoint, attempt)
    finally:
        store.close()
    result = runner.invoke(app, ["db", "prune", "--older-than", "7d"])
    assert result.exit_code == 0, result.output
    assert "dropped 1 partition" in result.output
    assert "deleted 1 delivered webhook message(s), 1 attempt(s)" in result.output
    assert _sql(url, "SELECT count(*) FROM webhook_outbox") == [(0,)]
    assert _sql(url, "SELECT count(*) FROM courier_positions") == [(1,)]
    bad = runner.invoke(app, ["db", "prune", "--older-than", "soon"])
    assert bad.exit_code != 0


def test_an_unreachable_database_is_store_unavailable() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreUnavailable):
        PostgisStore(f"postgresql+psycopg://postgres@127.0.0.1:{port}/x", connect_timeout_s=0.5)
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        PostgisStore("mysql://x")


def test_a_journal_entry_posted_concurrently_lands_once(
    pg_store: PostgisStore, postgis_url: str
) -> None:
    from payments.ledger import Account, AccountKind, journal_entry

    pg_store.create_tenant("Acme", tenant_id="acme")
    entry = journal_entry(
        "receipt:pi_1",
        tenant="acme",
        kind="receipt",
        currency="KES",
        lines=[
            (Account("acme", AccountKind.CUSTOMER_RECEIVABLE), -900),
            (Account("acme", AccountKind.CASH_HELD_BY_COURIER, "c1"), 900),
        ],
        at=5.0,
    )
    barrier = threading.Barrier(5)
    counts: list[int] = []

    def post() -> None:
        barrier.wait()
        counts.append(pg_store.post_journal_entries([entry]))

    threads = [threading.Thread(target=post) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(counts) == [0, 0, 0, 0, 1]
    assert _sql(postgis_url, "SELECT count(*) FROM ledger_entries") == [(2,)]


def test_concurrent_saves_of_one_payment_step_apply_once(
    pg_store: PostgisStore, postgis_url: str
) -> None:
    from payments.intents import PaymentMethod, collect_cash, create_intent
    from store.errors import StaleVersion

    pg_store.create_tenant("Acme", tenant_id="acme")
    pg_store.create_geofence("acme", "service_zone", square(0.0, 0.0, 1.0))
    order, _ = pg_store.create_order(new_order("acme", (0.5, 0.5), (0.6, 0.6)))
    created = create_intent(order, PaymentMethod.CASH_ON_DELIVERY, "cash", intent_id="pi_1", at=1.0)
    pg_store.save_payment(created)
    step = collect_cash(created.intent, "c1", at=2.0)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def save() -> None:
        barrier.wait()
        try:
            pg_store.save_payment(step)
            outcomes.append("saved")
        except StaleVersion:
            outcomes.append("stale")

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["saved", "stale", "stale", "stale"]
    assert _sql(postgis_url, "SELECT count(*) FROM journal_entries") == [(1,)]
    assert _sql(postgis_url, "SELECT count(*) FROM payment_events") == [(2,)]
