import pytest

from sims.demo import run_demo


def test_demo_runs_and_prints_its_queries(capsys: pytest.CaptureFixture[str]) -> None:
    run_demo(couriers=400, seed=1)
    out = capsys.readouterr().out
    assert "400 couriers" in out
    assert "3 nearest idle couriers to CBD" in out
    assert "is the CBD centre inside cbd-hub?" in out and "True" in out
