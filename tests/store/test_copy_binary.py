"""The numpy-built binary COPY payload against a struct-based decoder of the COPY format."""

from __future__ import annotations

import struct
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from store.copy_binary import COLUMNS, HEADER, PG_EPOCH_S, TRAILER, positions_copy_payload

Row = tuple[int, int, tuple[int, int, int, float, float], float | None, float | None, float | None]


def _decode(payload: bytes) -> list[Row]:
    assert payload.startswith(HEADER) and payload.endswith(TRAILER)
    body, pos, rows = payload[len(HEADER) : -len(TRAILER)], 0, []
    while pos < len(body):
        (nfields,) = struct.unpack_from(">h", body, pos)
        assert nfields == len(COLUMNS)
        pos += 2
        fields: list[bytes | None] = []
        for _ in range(nfields):
            (length,) = struct.unpack_from(">i", body, pos)
            pos += 4
            if length < 0:
                fields.append(None)
            else:
                fields.append(body[pos : pos + length])
                pos += length
        num, ts, ewkb, *floats = fields
        assert num is not None and ts is not None and ewkb is not None
        point = struct.unpack("<BIIdd", ewkb)
        opt = [None if f is None else struct.unpack(">d", f)[0] for f in floats]
        rows.append((struct.unpack(">q", num)[0], struct.unpack(">q", ts)[0], point, *opt))  # type: ignore[arg-type]
    return rows


finite = st.floats(-1e6, 1e6, allow_nan=False)
maybe = st.one_of(st.none(), finite)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 2**40),
            st.floats(0, 4e9),
            st.floats(-90, 90),
            st.floats(-180, 180),
            maybe,
            maybe,
            maybe,
        ),
        max_size=40,
    )
)
def test_payload_decodes_to_the_rows_given(
    rows: list[tuple[int, float, float, float, float | None, float | None, float | None]],
) -> None:
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    nums = np.array(cols[0], dtype=np.int64)
    ts, lats, lngs = (np.array(c, dtype=np.float64) for c in cols[1:4])
    opt = [np.array([np.nan if v is None else v for v in c], dtype=np.float64) for c in cols[4:]]
    decoded = _decode(positions_copy_payload(nums, ts, lats, lngs, *opt))
    expected = [
        (
            n,
            round((t - PG_EPOCH_S) * 1e6),
            (1, 0x20000001, 4326, lng, lat),
            sp,
            hd,
            ac,
        )
        for n, t, lat, lng, sp, hd, ac in rows
    ]
    # Rows come grouped by NULL pattern; COPY does not care about order.
    assert Counter(decoded) == Counter(expected)
