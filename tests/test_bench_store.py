"""The store benchmark runs at its --quick size (so it never rots)."""

from __future__ import annotations

from benchmarks_helper import load_benchmark


def test_bench_store_quick() -> None:
    result = load_benchmark("bench_store").main(["--quick", "--repeats", "1"])
    assert result["customers"] == 2_000
    assert result["round_trip_verified"] is True
    assert result["events"] > 10_000
    assert result["save_seconds_median"] > 0
    assert result["file_bytes"] > 0
    assert 0 < result["baseline_events"] <= result["events"]
