"""The metrics benchmark runs at its --quick size (so it never rots); its baseline
loops are checked against the vectorised metrics inside the script."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks_helper import load_benchmark


def test_bench_metrics_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_metrics.json"
    result = load_benchmark("bench_metrics").main(
        ["--quick", "--repeats", "1", "--out", str(out)]
    )
    assert result["customers"] == 20_000
    assert result["baseline_customers"] == 2_000
    assert set(result["seconds_median"]) == {
        "mrr_movements", "cohort_retention", "nps_per_quarter", "support_response_times",
    }
    assert all(v > 0 for v in result["seconds_median"].values())
    assert result["months"] > 12
    assert json.loads(out.read_text()) == result
