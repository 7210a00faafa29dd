"""Store benchmarks: track flush throughput vs a bare COPY; order create with the zone check.

Run with ``make bench`` (``BENCH_ARGS='-k store'`` for these only). Throughput is printed as
points/s next to the pytest-benchmark table.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import psycopg
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from orders.lifecycle import OrderDraft, Transition, create_order
from orders.model import Actor, ActorKind
from store.copy_binary import positions_copy_payload
from store.memory import MemoryStore
from store.postgis import PostgisStore, conninfo_from_url

POINTS = 200_000
COURIERS = 2_000
CHUNK = 500  # pings per append, as an API worker hands them over
ROUNDS = 5
CITY = (52.40, 13.20, 52.65, 13.60)  # lat0, lng0, lat1, lng1 (about 28 x 44 km)


def _city_zone() -> dict[str, object]:
    la0, ln0, la1, ln1 = CITY
    ring = [[ln0, la0], [ln1, la0], [ln1, la1], [ln0, la1], [ln0, la0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _pings(rng: np.random.Generator, t0: float) -> dict[str, np.ndarray]:
    la0, ln0, la1, ln1 = CITY
    return {
        "ids": np.array([f"c{i}" for i in rng.integers(0, COURIERS, POINTS)], dtype=object),
        "ts": t0 + np.sort(rng.uniform(0, 3600, POINTS)),
        "lats": rng.uniform(la0, la1, POINTS),
        "lngs": rng.uniform(ln0, ln1, POINTS),
        "speed": rng.uniform(0, 15, POINTS),
        "heading": rng.uniform(0, 360, POINTS),
        "accuracy": rng.uniform(3, 30, POINTS),
    }


def _append_all(store: PostgisStore, data: dict[str, np.ndarray]) -> None:
    """Hand the pings over in appends of ``CHUNK``, as API workers do."""
    for i in range(0, POINTS, CHUNK):
        s = slice(i, i + CHUNK)
        store.append_positions(
            data["ids"][s].tolist(),
            *(data[k][s] for k in ("ts", "lats", "lngs", "speed", "heading", "accuracy")),
        )


def _report(benchmark: BenchmarkFixture, label: str) -> None:
    if benchmark.stats is None:  # --benchmark-disable: the code ran once, nothing measured
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info["points_per_s"] = round(POINTS / median)
    print(f"\n{label}: {POINTS / median:,.0f} points/s (median of {ROUNDS} rounds of {POINTS:,})")


@pytest.fixture(scope="module")
def pg(bench_postgis_url: str) -> Iterator[PostgisStore]:
    s = PostgisStore(bench_postgis_url, pool_size=4, start_flusher=False)
    s.create_tenant("Bench", tenant_id="bench")
    for i in range(COURIERS):
        s.create_courier("bench", courier_id=f"c{i}")
    s.create_geofence("bench", "service_zone", _city_zone(), fence_id="city")
    rng = np.random.default_rng(1)
    for k in range(50):  # more zones of the tenant and of others, so the GiST index matters
        lat, lng = rng.uniform(-50, 50), rng.uniform(-150, 150)
        ring = [[lng, lat], [lng + 0.3, lat], [lng + 0.3, lat + 0.3], [lng, lat + 0.3], [lng, lat]]
        s.create_geofence(
            "bench", "service_zone", {"type": "Polygon", "coordinates": [ring]}, fence_id=f"far{k}"
        )
    yield s
    s.close()


def test_track_flush_explicit(benchmark: BenchmarkFixture, pg: PostgisStore) -> None:
    """append_positions in chunks, then flush_positions: batches of 5,000, one COPY each."""
    rng = np.random.default_rng(2)
    t0 = datetime(2026, 11, 23, 1, tzinfo=UTC).timestamp()
    data = _pings(rng, t0)

    def run() -> None:
        _append_all(pg, data)
        assert pg.flush_positions() == POINTS

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    _report(benchmark, "track flush (append + flush, partitioned, indexed)")


def test_track_flush_background(
    benchmark: BenchmarkFixture, bench_postgis_url: str, pg: PostgisStore
) -> None:
    """The production path: appends while the background flusher writes (5,000 / 200 ms)."""
    live = PostgisStore(bench_postgis_url, pool_size=2)
    rng = np.random.default_rng(3)
    t0 = datetime(2026, 11, 23, 2, tzinfo=UTC).timestamp()
    data = _pings(rng, t0)

    def run() -> None:
        target = live.tracks.written + POINTS
        _append_all(live, data)
        while live.tracks.written < target:
            time.sleep(0.001)

    try:
        benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    finally:
        live.close()
    _report(benchmark, "track flush (background flusher)")


@pytest.fixture(scope="module")
def bare_table(bench_postgis_url: str) -> Iterator[str]:
    conninfo = conninfo_from_url(bench_postgis_url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bare_points (courier_num bigint, ts timestamptz, "
            "pos geography(Point, 4326), speed float8, heading float8, accuracy float8)"
        )
    yield conninfo
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE bare_points")


def test_peer_bare_copy_text_rows(benchmark: BenchmarkFixture, bare_table: str) -> None:
    """Peer: psycopg COPY ... write_row of EWKT points into a plain table (no index, no partitions)."""
    rng = np.random.default_rng(4)
    data = _pings(rng, datetime(2026, 11, 23, 3, tzinfo=UTC).timestamp())
    nums = rng.integers(1, COURIERS, POINTS)
    times = [datetime.fromtimestamp(t, UTC) for t in data["ts"].tolist()]
    rows = [
        (int(n), t, f"SRID=4326;POINT({lng} {lat})", sp, hd, ac)
        for n, t, lat, lng, sp, hd, ac in zip(
            nums.tolist(),
            times,
            data["lats"].tolist(),
            data["lngs"].tolist(),
            data["speed"].tolist(),
            data["heading"].tolist(),
            data["accuracy"].tolist(),
            strict=True,
        )
    ]

    def run() -> None:
        with (
            psycopg.connect(bare_table) as conn,
            conn.cursor() as cur,
            cur.copy("COPY bare_points FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    _report(benchmark, "peer: bare text COPY (plain table)")


def test_peer_bare_copy_binary(benchmark: BenchmarkFixture, bare_table: str) -> None:
    """Peer: the same binary payload our flusher sends, into a plain table: the server ceiling."""
    rng = np.random.default_rng(5)
    data = _pings(rng, datetime(2026, 11, 23, 4, tzinfo=UTC).timestamp())
    nums = rng.integers(1, COURIERS, POINTS).astype(np.int64)
    payload = positions_copy_payload(
        nums,
        data["ts"],
        data["lats"],
        data["lngs"],
        data["speed"],
        data["heading"],
        data["accuracy"],
    )

    def run() -> None:
        with (
            psycopg.connect(bare_table) as conn,
            conn.cursor() as cur,
            cur.copy("COPY bare_points FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(payload)

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    _report(benchmark, "peer: bare binary COPY (plain table)")


def _order_report(benchmark: BenchmarkFixture, label: str) -> None:
    if benchmark.stats is not None:
        print(f"\n{label}: median {benchmark.stats.stats.median * 1e3:.3f} ms")


def _order_requests(n: int, seed: int) -> list[Transition]:
    rng = np.random.default_rng(seed)
    la0, ln0, la1, ln1 = CITY
    pts = rng.uniform([la0, ln0, la0, ln0], [la1, ln1, la1, ln1], (n, 4))
    actor = Actor(ActorKind.TENANT, "bench")
    return [
        create_order(
            OrderDraft(*map(float, p), amount_minor=1000, currency="EUR"),
            order_id=f"o{seed}-{i}",
            tenant="bench",
            at=1_700_000_000.0 + i,
            actor=actor,
        )
        for i, p in enumerate(pts)
    ]


def test_order_create_postgis(benchmark: BenchmarkFixture, pg: PostgisStore) -> None:
    """One create_order: validation, zone check (trigger, ST_Covers), order + event, commit."""
    requests = iter(_order_requests(20_000, 6))
    benchmark.pedantic(
        lambda: pg.create_order(next(requests)),
        rounds=2000,
        iterations=1,
        warmup_rounds=50,
    )
    _order_report(benchmark, "order create (PostGIS)")


def test_order_create_postgis_async_commit(
    benchmark: BenchmarkFixture, bench_postgis_url: str, pg: PostgisStore
) -> None:
    """Breakdown, not the store's setting: the same creates with synchronous_commit off, i.e.
    without waiting for the WAL fsync, to separate the zone check and insert from the disk."""
    fast = PostgisStore(
        bench_postgis_url + "?options=-csynchronous_commit%3Doff", pool_size=1, start_flusher=False
    )
    requests = iter(_order_requests(20_000, 8))
    try:
        benchmark.pedantic(
            lambda: fast.create_order(next(requests)), rounds=2000, iterations=1, warmup_rounds=50
        )
    finally:
        fast.close()
    _order_report(benchmark, "order create, async commit (PostGIS)")


def test_order_create_postgis_idempotent(benchmark: BenchmarkFixture, pg: PostgisStore) -> None:
    """The same with an Idempotency-Key (one more lookup before the insert)."""
    requests = iter(enumerate(_order_requests(20_000, 7)))

    def create() -> None:
        i, req = next(requests)
        pg.create_order(req, idempotency_key=f"bench-{i}", fingerprint=f"body-{i}")

    benchmark.pedantic(create, rounds=2000, iterations=1, warmup_rounds=50)
    _order_report(benchmark, "order create + key (PostGIS)")


def test_peer_order_create_memory(benchmark: BenchmarkFixture) -> None:
    """Peer: the in-memory store, same zone and requests."""
    mem = MemoryStore()
    mem.create_tenant("Bench", tenant_id="bench")
    mem.create_geofence("bench", "service_zone", _city_zone())
    requests = iter(_order_requests(20_000, 6))
    benchmark.pedantic(
        lambda: mem.create_order(next(requests)),
        rounds=2000,
        iterations=1,
        warmup_rounds=50,
    )
    _order_report(benchmark, "order create (memory)")
