"""The learned-health benchmark runs at its --quick size (so it never rots) and its
figures have the expected shape."""

from __future__ import annotations

import math

from benchmarks_helper import load_benchmark


def test_bench_health_learn_quick() -> None:
    result = load_benchmark("bench_health_learn").main(["--quick", "--repeats", "1"])
    demo = result["demo"]
    assert len(demo["learned_auc"]) == 3
    assert all(0.5 < a <= 1 for a in demo["learned_auc"])
    assert all(0 <= e < 0.1 for e in demo["learned_calibration_error"])
    assert 0 <= demo["default_poor_share_at_end"] <= 1
    sim = result["simulation"]
    for key in ("default", "learned", "literature", "days_since", "age"):
        assert len(sim[f"{key}_auc"]) == 3
        assert not math.isnan(sim[f"{key}_mean_auc"])
    speed = result["speed"]
    assert speed["learn_seconds_8_dates"] > 0
    assert speed["score_learned_over_default"] > 0
    assert speed["score_one_learned_ms_median"] > 0
