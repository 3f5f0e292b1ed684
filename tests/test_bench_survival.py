"""The survival benchmark runs at its --quick size (so it never rots)."""

from __future__ import annotations

import pytest

from benchmarks_helper import load_benchmark


def test_bench_survival_quick() -> None:
    result = load_benchmark("bench_survival").main(["--quick", "--repeats", "1"])
    assert result["durations"] == 20_000
    assert result["cox_rows"] == 5_000
    for name in ("kaplan_meier", "nelson_aalen", "logrank", "cox"):
        assert result[f"{name}_seconds_median"] > 0
    if result["lifelines"] is not None:
        peers = result["lifelines"]
        assert peers["kaplan_meier"]["max_abs_difference"] < 1e-12
        assert peers["nelson_aalen"]["max_abs_difference"] < 1e-12
        assert peers["logrank"]["max_abs_difference"] == pytest.approx(0, abs=1e-8)
        assert peers["cox"]["max_abs_difference"] < 1e-4
