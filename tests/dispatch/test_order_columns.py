"""The order pool's columns stay in step with its orders through adds, replacements and removals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch import DispatchOrder, InvalidInput
from dispatch.order_columns import OrderColumns, OrderPool
from geo.distance import unit_vector


def order(i: int, *, tenant: str = "t1", vehicle: str | None = None) -> DispatchOrder:
    return DispatchOrder(
        id=f"o{i}",
        tenant=tenant,
        pickup_lat=-1.3 + i * 1e-3,
        pickup_lng=36.8 - i * 1e-3,
        dropoff_lat=-1.31,
        dropoff_lng=36.81,
        created_at=1_000.0 + i,
        size=1 + i % 3,
        priority=i % 10,
        vehicle=vehicle,
        max_pickup_m=500.0 + i,
    )


def expected_rows(orders: list[DispatchOrder]) -> list[tuple[object, ...]]:
    return sorted(
        (
            o.id,
            o.pickup_lat,
            o.pickup_lng,
            o.max_pickup_m,
            o.size,
            o.priority,
            o.created_at,
            (o.tenant, o.vehicle, o.skills),
            unit_vector(o.pickup_lat, o.pickup_lng),
        )
        for o in orders
    )


def rows_of(cols: OrderColumns) -> list[tuple[object, ...]]:
    return sorted(
        zip(
            cols.ids.tolist(),
            cols.lat.tolist(),
            cols.lng.tolist(),
            cols.radius.tolist(),
            cols.size.tolist(),
            cols.priority.tolist(),
            cols.created_at.tolist(),
            [cols.keys[g] for g in cols.group.tolist()],
            [tuple(v) for v in cols.xyz.tolist()],
            strict=True,
        )
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "remove"]), st.integers(0, 40), st.booleans()),
        max_size=120,
    ),
    st.sets(st.integers(0, 40), max_size=8),
)
def test_pool_columns_match_a_dict_of_orders(
    steps: list[tuple[str, int, bool]], skipped: set[int]
) -> None:
    pool, oracle = OrderPool(), {}
    for action, i, bike in steps:
        if action == "add":
            o = order(i, vehicle="bike" if bike else None)
            pool.add([o])
            oracle[o.id] = o
        else:
            assert pool.remove(f"o{i}") == (oracle.pop(f"o{i}", None) is not None)
    assert len(pool) == len(oracle)
    assert rows_of(pool.columns()) == expected_rows(list(oracle.values()))
    skip = {f"o{i}" for i in skipped}
    cols = pool.columns(skip=skip)
    assert rows_of(cols) == expected_rows([o for k, o in oracle.items() if k not in skip])
    wanted = sorted(oracle)[:5]
    assert sorted(cols.ids[cols.positions(wanted)].tolist()) == sorted(set(wanted) - skip)


def test_columns_of_orders_reject_duplicates_and_non_orders_listing_each() -> None:
    with pytest.raises(InvalidInput) as err:
        OrderColumns.of([order(1), order(1), "x"])  # type: ignore[list-item]
    assert [p[0] for p in err.value.problems] == ["orders[1].id", "orders[2]"]


def test_columns_of_no_orders_are_empty() -> None:
    cols = OrderColumns.of([])
    assert len(cols) == 0 and cols.lat.dtype == np.float64 and cols.keys == ()
