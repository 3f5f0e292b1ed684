"""The dataset benchmark runs at its --quick size (so it never rots)."""

from __future__ import annotations

from benchmarks_helper import load_benchmark


def test_bench_dataset_quick() -> None:
    result = load_benchmark("bench_dataset").main(["--quick", "--repeats", "1"])
    assert result["events"] == 100_000
    assert result["from_columns_seconds_median"] > 0
