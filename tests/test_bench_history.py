"""The hysteresis benchmark runs at its --quick size (so it never rots)."""

from __future__ import annotations

from benchmarks_helper import load_benchmark


def test_bench_history_quick() -> None:
    result = load_benchmark("bench_history").main(["--quick", "--repeats", "1"])
    assert (result["customers"], result["days"]) == (500, 60)
    assert result["snapshots"] > 10_000
    # hysteresis never adds moves, and a decline is confirmed within the hold period
    assert result["confirmed_moves_per_account_month"] <= result["raw_moves_per_account_month"]
    assert result["declines"] > 0
    assert 0 <= result["decline_delay_days_median"] <= result["hold_days"]
