"""The health benchmark runs at its --quick size (so it never rots), and its plain-Python
loop baseline, an independent implementation of the documented formulas, agrees with
the engine."""

from __future__ import annotations

from benchmarks_helper import load_benchmark


def test_bench_health_quick() -> None:
    result = load_benchmark("bench_health").main(["--quick", "--repeats", "1"])
    assert result["customers"] == 20_000
    assert result["accounts_scored"] > 5_000
    assert result["score_seconds_median"] > 0
    assert result["peak_memory_bytes"] > 0
    assert len(result["rules"]) == 10
    # the baselines compute the same scores as the engine, account by account
    assert result["loop_matches_engine"] is True
    assert result["tuned_loop_matches"] is True
    assert result["loop_accounts"] > 500
    assert result["score_one_events"] == 1000
