from tracking import LiveIndex


def test_snapshot_filters_and_aligns_columns() -> None:
    index = LiveIndex(clock=lambda: 100.0)
    index.upsert("a", 1.0, 2.0, 99.0, tenant="t1")
    index.upsert("b", 3.0, 4.0, 99.0, tenant="t2")
    snap = index.snapshot(tenant="t1")
    assert snap.courier_ids.tolist() == ["a"]
    assert (snap.lats.tolist(), snap.lngs.tolist()) == ([1.0], [2.0])
    assert snap.cells.tolist() == [index.get("a").cell]
    assert sorted(index.snapshot().courier_ids.tolist()) == ["a", "b"]


def test_has_fence() -> None:
    index = LiveIndex()
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    index.add_fence("f", square)
    assert index.has_fence("f") and not index.has_fence("g")
    index.remove_fence("f")
    assert not index.has_fence("f")
