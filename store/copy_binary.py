"""PostgreSQL binary COPY payloads for courier positions, built with numpy (no per-row Python)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
PG_EPOCH_S = 946_684_800
"""2000-01-01T00:00:00Z in Unix seconds: binary timestamptz counts microseconds from it."""

COLUMNS = ("courier_num", "ts", "pos", "speed", "heading", "accuracy")
EWKB_POINT_SRID = 0x20000001
"""EWKB type word: Point with the SRID flag set (PostGIS extended WKB)."""


def _row_dtype(present: tuple[bool, bool, bool]) -> np.dtype[np.void]:
    # One fixed-width row layout per NULL pattern of the three optional float columns.
    fields: list[tuple[str, str]] = [
        ("nfields", ">i2"),
        ("len_num", ">i4"),
        ("num", ">i8"),
        ("len_ts", ">i4"),
        ("ts", ">i8"),
        ("len_pos", ">i4"),
        ("byte_order", "u1"),
        ("wkb_type", "<u4"),
        ("srid", "<u4"),
        ("x", "<f8"),
        ("y", "<f8"),
    ]
    for name, has in zip(("speed", "heading", "accuracy"), present, strict=True):
        fields.append((f"len_{name}", ">i4"))
        if has:
            fields.append((name, ">f8"))
    return np.dtype(fields)


def positions_copy_payload(
    nums: npt.NDArray[np.int64],
    ts: npt.NDArray[np.float64],
    lats: npt.NDArray[np.float64],
    lngs: npt.NDArray[np.float64],
    speed: npt.NDArray[np.float64],
    heading: npt.NDArray[np.float64],
    accuracy: npt.NDArray[np.float64],
) -> bytes:
    """A complete ``COPY courier_positions (...) FROM STDIN (FORMAT BINARY)`` stream.

    Parameters
    ----------
    nums
        ``couriers.num`` of each row.
    ts
        UTC epoch seconds (microsecond precision is kept).
    lats, lngs
        Degrees; written as an EWKB point ``(lng, lat)`` with SRID 4326 (geography input).
    speed, heading, accuracy
        float64; NaN is written as NULL.

    Returns
    -------
    bytes
        Header, one tuple per row (grouped by NULL pattern; row order is irrelevant to COPY),
        trailer.
    """
    optional = (speed, heading, accuracy)
    has = np.column_stack([~np.isnan(c) for c in optional]) if len(nums) else np.zeros((0, 3), bool)
    pattern = has[:, 0] * 4 + has[:, 1] * 2 + has[:, 2] * 1
    ts_us = np.rint((ts - PG_EPOCH_S) * 1e6).astype(np.int64)
    parts = [HEADER]
    for code in np.unique(pattern):
        present = (bool(code & 4), bool(code & 2), bool(code & 1))
        idx = np.flatnonzero(pattern == code)
        rows = np.empty(idx.size, dtype=_row_dtype(present))
        rows["nfields"] = len(COLUMNS)
        rows["len_num"] = 8
        rows["num"] = nums[idx]
        rows["len_ts"] = 8
        rows["ts"] = ts_us[idx]
        rows["len_pos"] = 25
        rows["byte_order"] = 1
        rows["wkb_type"] = EWKB_POINT_SRID
        rows["srid"] = 4326
        rows["x"] = lngs[idx]
        rows["y"] = lats[idx]
        for name, has_col, col in zip(
            ("speed", "heading", "accuracy"), present, optional, strict=True
        ):
            rows[f"len_{name}"] = 8 if has_col else -1
            if has_col:
                rows[name] = col[idx]
        parts.append(rows.tobytes())
    parts.append(TRAILER)
    return b"".join(parts)
