"""Benchmark: building a Dataset from columns (the path DataFrames and arrays take).

Builds N events for N/20 customers with `Dataset.from_columns` and, as the baseline in the
same run, the per-record path `Dataset.from_records` on a smaller slice, scaled per event.
Prints the figures and writes benchmarks/results/bench_dataset.json.

    python benchmarks/bench_dataset.py            # 10M events
    python benchmarks/bench_dataset.py --quick    # 100k events
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from custsuccess import Customer, Dataset, Event

KINDS = np.array(["login", "page_view", "feature_used", "email_open", "referral"])
FEATURES = np.array(["reports", "api", "alerts", "exports"])


def make_columns(n_events: int, seed: int = 0) -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    n_customers = max(1, n_events // 20)
    ids = np.char.add("c", np.arange(n_customers).astype(str))
    start = np.datetime64("2023-01-01T00:00:00", "us")
    created = start + rng.integers(0, 365 * 86400, n_customers).astype("timedelta64[s]")
    customer = rng.integers(0, n_customers, n_events)
    kind = KINDS[rng.integers(0, len(KINDS), n_events)]
    feature = np.where(kind == "feature_used", FEATURES[rng.integers(0, 4, n_events)], "")
    time_ = start + rng.integers(0, 2 * 365 * 86400 * 10**6, n_events).astype("timedelta64[us]")
    return {
        "customers": {"id": ids, "created_at": created},
        "events": {
            "customer_id": ids[customer],
            "kind": kind,
            "occurred_at": time_,
            "feature": feature,
        },
    }


def to_records(columns: dict[str, dict[str, Any]]) -> tuple[list[Customer], list[Event]]:
    utc = timezone.utc
    epoch = datetime(1970, 1, 1, tzinfo=utc)

    def aware(t: np.datetime64) -> datetime:
        return epoch + timedelta(microseconds=int(t.astype("datetime64[us]").astype(np.int64)))

    c, e = columns["customers"], columns["events"]
    customers = [Customer(str(i), aware(t)) for i, t in zip(c["id"], c["created_at"], strict=True)]
    events = [
        Event(str(cid), str(k), aware(t), properties={"feature": str(f)} if f else {})
        for cid, k, t, f in zip(
            e["customer_id"], e["kind"], e["occurred_at"], e["feature"], strict=True
        )
    ]
    return customers, events


def median_seconds(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small size, for the test suite")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    n_events = args.events or (100_000 if args.quick else 10_000_000)
    n_baseline = 5_000 if args.quick else 50_000

    columns = make_columns(n_events)
    columnar = median_seconds(lambda: Dataset.from_columns(**columns), args.repeats)

    small = make_columns(n_baseline, seed=1)
    customers, events = to_records(small)
    records = median_seconds(lambda: Dataset.from_records(customers, events=events), args.repeats)
    small_columnar = median_seconds(lambda: Dataset.from_columns(**small), args.repeats)
    result = {
        "benchmark": "dataset_build",
        "events": n_events,
        "customers": n_events // 20,
        "from_columns_seconds_median": round(columnar, 4),
        "from_columns_events_per_second": round(n_events / columnar),
        "baseline_from_records_events": n_baseline,
        "baseline_from_records_seconds_median": round(records, 4),
        "same_events_from_columns_seconds_median": round(small_columnar, 4),
        "speedup_same_events": round(records / small_columnar, 1),
        "repeats": args.repeats,
    }
    print(
        f"from_columns: {n_events:,} events in {columnar:.2f} s median of {args.repeats} "
        f"({result['from_columns_events_per_second']:,} events/s)\n"
        f"baseline, the same {n_baseline:,} events: from_records {records:.3f} s, "
        f"from_columns {small_columnar:.3f} s ({result['speedup_same_events']}x faster)"
    )
    out = Path(__file__).resolve().parent / "results" / "bench_dataset.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
