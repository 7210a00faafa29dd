"""API load (issue 6), short: real uvicorn, websocket drivers and consoles in client processes.

The full figures come from the CLI (`python -m benchmarks.api_load`, see RESULTS.md); this run
keeps `make bench` short and checks that the whole path works under load.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from benchmarks.api_load import LoadResult, parser, run


@pytest.mark.parametrize("batch", [1, 50])
def test_api_load_short(benchmark: Any, batch: int) -> None:
    args = parser().parse_args(
        ["--couriers", "200", "--seconds", "4", "--batch", str(batch), "--consoles", "5"]
    )
    result: LoadResult = benchmark.pedantic(run, args=(args,), rounds=1, iterations=1)
    benchmark.extra_info.update(asdict(result))
    assert result.pings_per_s > 0 and result.rejected == 0
    assert result.driver_errors == 0 and result.console_errors == 0
    assert result.latency_p99_ms is not None
