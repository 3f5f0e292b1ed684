"""The cluster benchmark runs at its --quick size (so it never rots): the population is
written chunk by chunk as partitioned Parquet, scored and summarised on a LocalCluster of
2 and of 1 worker, and the figures equal those of one process reading the same files."""

from __future__ import annotations

import pytest

from benchmarks_helper import load_benchmark

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def test_bench_distributed_quick() -> None:
    result = load_benchmark("bench_distributed").main(["--quick"])
    assert result["customers"] == 6_000
    assert result["events"] > 60_000
    single = result["single"]
    assert sum(single["summary"]["tier_counts"].values()) > 1_000
    for workers in (2, 1):
        cluster = result[f"cluster_{workers}"]
        assert cluster["matches_single"] is True
        peaks = cluster["peak_rss_per_worker_bytes"]
        assert len(peaks) == workers
        assert all(0 < p < 1_000_000_000 for p in peaks)  # under the 1 GB limit
    assert result["speedup_2_over_1_workers"] > 0
