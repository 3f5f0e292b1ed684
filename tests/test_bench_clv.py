"""The CLV benchmark runs at its --quick size (so it never rots) and agrees with its
baselines; timings are printed, never asserted."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks_helper import load_benchmark


def test_bench_clv_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_clv.json"
    result = load_benchmark("bench_clv").main(["--quick", "--repeats", "1", "--output", str(out)])
    assert json.loads(out.read_text()) == result
    assert result["customers"] == 5_000
    assert result["transactions"] > 50_000
    assert result["rfm_ours_seconds_median"] > 0
    assert result["rfm_pandas_max_rel_diff"] < 1e-12
    assert set(result["fit_params"]) == {"r", "alpha", "a", "b"}
    if "lifetimes_skipped" not in result:
        assert result["rfm_lifetimes_max_rel_diff"] < 1e-12
        assert result["fit_params_max_rel_diff_vs_lifetimes"] < 1e-4
    else:
        assert "lifetimes is not installed" in result["lifetimes_skipped"]
