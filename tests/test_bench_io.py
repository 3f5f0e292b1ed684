"""The io benchmark runs at its --quick size (so it never rots)."""

from __future__ import annotations

import pytest

from benchmarks_helper import load_benchmark


def test_bench_io_quick() -> None:
    pytest.importorskip("pyarrow")
    result = load_benchmark("bench_io").main(["--quick", "--repeats", "1"])
    assert result["events"] == 50_000
    assert result["parquet_seconds"] > 0
    assert result["csv_seconds"] > 0
    assert result["peak_over_dataset"] > 0
