"""The demo-generation benchmark runs at its --quick size (so it never rots)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks_helper import load_benchmark


def test_bench_demo_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_demo.json"
    result = load_benchmark("bench_demo").main(["--quick", "--repeats", "1", "--out", str(out)])
    assert result["customers"] == 20_000
    assert 15 < result["events_per_customer"] < 25
    assert abs(result["events"] / 20_000 - result["events_per_customer"]) < 0.01
    assert result["generate_seconds_median"] > 0
    assert result["peak_traced_mb"] > 0
    assert json.loads(out.read_text()) == result
