"""The dataset benchmark runs at its --quick size (so it never rots)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_dataset.py"


def test_bench_dataset_quick() -> None:
    spec = importlib.util.spec_from_file_location("bench_dataset", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--quick", "--repeats", "1"])
    assert result["events"] == 100_000
    assert result["from_columns_seconds_median"] > 0
