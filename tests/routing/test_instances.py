from pathlib import Path

import pytest

from benchmarks.routing import benchmarks_dir
from routing.errors import InvalidInstance
from routing.instances import detect_format, read_instance

BENCHMARKS = benchmarks_dir()


def test_reads_solomon() -> None:
    inst = read_instance(BENCHMARKS / "solomon" / "C101.txt")
    p = inst.problem
    assert (inst.name, inst.format) == ("C101", "solomon")
    assert len(p.vehicles) == 25 and p.vehicles[0].capacity == (200.0,)
    assert p.vehicles[0].shift == (0.0, 1236.0)
    assert len(p.jobs) == 100 and p.shipments == ()
    first = p.jobs[0]
    assert (first.id, first.stop.location, first.amount) == ("1", 1, (10.0,))
    assert first.stop.time_window == (912.0, 967.0) and first.stop.service_s == 90.0
    # Euclidean, not rounded: depot (40, 50) to customer 1 (45, 68).
    assert p.travel.metres[0, 1] == pytest.approx((5**2 + 18**2) ** 0.5)
    assert p.travel.seconds[0, 1] == p.travel.metres[0, 1]


def test_reads_li_lim() -> None:
    inst = read_instance(BENCHMARKS / "li_lim_100" / "lc101.txt")
    p = inst.problem
    assert inst.format == "li_lim" and len(p.vehicles) == 25
    assert len(p.shipments) == 53 and p.jobs == ()
    for s in p.shipments:
        assert s.amount[0] > 0
        assert s.pickup.location != s.delivery.location


SOLOMON = """X1

VEHICLE
NUMBER     CAPACITY
  2         10

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME

    0      0         0          0          0       100          0
    1      3         4          5          0        50          1
"""

LI_LIM = "2\t10\t1\n0\t0\t0\t0\t0\t100\t0\t0\t0\n1\t3\t4\t5\t0\t50\t1\t0\t2\n2\t6\t8\t-5\t0\t90\t1\t1\t0\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.txt"
    path.write_text(text)
    return path


def test_small_files_of_both_formats(tmp_path: Path) -> None:
    assert detect_format(SOLOMON) == "solomon" and detect_format(LI_LIM) == "li_lim"
    s = read_instance(_write(tmp_path, SOLOMON)).problem
    assert [j.id for j in s.jobs] == ["1"]
    ll = read_instance(_write(tmp_path, LI_LIM)).problem
    assert [(x.id, x.pickup.location, x.delivery.location) for x in ll.shipments] == [("1-2", 1, 2)]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("hello world\n", "format"),
        (SOLOMON.replace("    1      3         4", "    7      3         4"), "id"),
        (SOLOMON.replace("  2         10", "  2"), "vehicles"),
        (SOLOMON.replace("5          0        50", "5          60        50"), "latest"),
        (SOLOMON.replace("5          0        50", "x          0        50"), "row"),
        (LI_LIM.replace("\t0\t2\n", "\t0\t7\n"), "delivery_index"),
        (LI_LIM.replace("\t-5\t", "\t-4\t"), "demand"),
        (LI_LIM.replace("\t0\t2\n", "\t2\t2\n"), "pickup_index/delivery_index"),
        (LI_LIM.replace("2\t10\t1", "0\t10\t1"), "header"),
    ],
)
def test_malformed_files_raise_typed_errors(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(InvalidInstance) as info:
        read_instance(_write(tmp_path, text))
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    assert str(tmp_path) in str(info.value)


def test_every_benchmark_file_parses() -> None:
    files = sorted(BENCHMARKS.glob("*/*.txt"))
    assert len(files) == 112
    for path in files:
        inst = read_instance(path)
        assert inst.problem.jobs or inst.problem.shipments
