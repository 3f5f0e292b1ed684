"""Benchmark: generating the demo dataset (`custsuccess.demo.generate`).

Times `generate(N)` (median of several runs), reports the events made, the share of the
time spent validating the tables, and peak traced memory against the size of the
dataset's arrays. As the baseline in the same run, the same data at a smaller size is
built the generic way, `Dataset.from_columns(**ds.to_columns())`, and compared per
customer. Prints the figures and writes benchmarks/results/bench_demo.json
(bench_demo.quick.json with --quick, so the test suite never overwrites the full figures).

    python benchmarks/bench_demo.py            # 1M customers (about 20M events)
    python benchmarks/bench_demo.py --quick    # 20k customers
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from custsuccess import Dataset
from custsuccess.dataset import CustomerTable, EventTable, SubscriptionTable
from custsuccess.demo import generate


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _tables(ds: Dataset) -> tuple[CustomerTable, SubscriptionTable, EventTable]:
    return ds.customers, ds.subscriptions, ds.events


def array_bytes(ds: Dataset) -> int:
    """Bytes held by the dataset's numpy arrays (codes, times, values, ids)."""
    c, s, e = ds.customers, ds.subscriptions, ds.events
    arrays: list[np.ndarray[Any, Any]] = [
        c.ids, c.created_at, c.name, c.segment.codes, c.plan.codes, *c.attributes.values(),
        s.ids, s.customer, s.plan.codes, s.mrr, s.currency.codes, s.started_at, s.ended_at,
        s.cancel_reason.codes, e.customer, e.kind, e.time, e.value,
        *(p.codes for p in e.properties.values()),
    ]  # fmt: skip
    return sum(a.nbytes for a in arrays)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small size, for the test suite")
    parser.add_argument("--customers", type=int, default=None, help="default 1M (quick: 20k)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON")
    args = parser.parse_args(argv)
    n = args.customers or (20_000 if args.quick else 1_000_000)
    n_baseline = min(n, 5_000 if args.quick else 50_000)

    seconds = median_seconds(lambda: generate(n), args.repeats)
    ds = generate(n)
    n_events = len(ds.events)
    n_subscriptions = len(ds.subscriptions)
    validate = median_seconds(partial(Dataset, *_tables(ds), validate=True), args.repeats)
    size = array_bytes(ds)
    del ds

    tracemalloc.start()
    generate(n)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    small = generate(n_baseline, seed=1)
    columns = small.to_columns()
    generic = median_seconds(lambda: Dataset.from_columns(**columns), args.repeats)
    direct = median_seconds(lambda: generate(n_baseline, seed=1), args.repeats)
    assert Dataset.from_columns(**columns).equals(small)

    result: dict[str, Any] = {
        "benchmark": "demo_generate",
        "customers": n,
        "events": n_events,
        "events_per_customer": round(n_events / n, 2) if n else 0.0,
        "subscriptions": n_subscriptions,
        "generate_seconds_median": round(seconds, 3),
        "events_per_second": round(n_events / seconds),
        "validate_seconds_median": round(validate, 3),
        "peak_traced_mb": round(peak / 2**20, 1),
        "dataset_arrays_mb": round(size / 2**20, 1),
        "peak_over_dataset": round(peak / size, 2) if size else None,
        "baseline_customers": n_baseline,
        "baseline_from_columns_seconds_median": round(generic, 4),
        "baseline_generate_seconds_median": round(direct, 4),
        "generate_vs_from_columns_speedup": round(generic / direct, 1),
        "repeats": args.repeats,
    }
    print(
        f"generate({n:,}): {n_events:,} events ({result['events_per_customer']} a customer) "
        f"in {seconds:.2f} s median of {args.repeats} ({result['events_per_second']:,} events/s)\n"
        f"  of which validating the tables: {validate:.3f} s\n"
        f"  peak traced memory {result['peak_traced_mb']:,} MiB for "
        f"{result['dataset_arrays_mb']:,} MiB of arrays ({result['peak_over_dataset']}x)\n"
        f"baseline at {n_baseline:,} customers: from_columns of the same data {generic:.3f} s, "
        f"generate {direct:.3f} s ({result['generate_vs_from_columns_speedup']}x faster)"
    )
    name = "bench_demo.quick.json" if args.quick else "bench_demo.json"
    out = args.out or Path(__file__).resolve().parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
