"""The churn benchmark runs at its --quick size (so it never rots)."""

from __future__ import annotations

from benchmarks_helper import load_benchmark


def test_bench_churn_quick() -> None:
    result = load_benchmark("bench_churn").main(["--quick", "--repeats", "1"])
    assert result["customers"] == 5_000
    assert 0 < result["churned"] < 5_000
    assert result["records_seconds_median"] > 0
    assert result["loop_rows_match_batch"] is True
    assert result["kaplan_meier_subjects"] > result["churned"]
