"""Benchmark: churn records and Kaplan-Meier on a demo dataset.

Times `custsuccess.churn.records` (all six built-in classifiers, engagement trend and
inactivity) on `custsuccess.demo.generate(N)` (default 1M customers) and
`kaplan_meier` on the resulting lifetimes. Baselines in the same run: `records` called
one customer at a time (the single-account path, a per-customer loop) on the first 500
customers, scaled linearly (the one-customer datasets are sliced from a 2,000-customer
slice, so the loop pays for records, not for searching 20M events); and lifelines'
`KaplanMeierFitter` on the same lifetimes when lifelines is installed, both on the
continuous durations (fractional days) and on whole-day tenures (the durations rounded
up to days: many ties, the usual shape of tenure data), the two timed alternately so
that load changes hit both. Prints the figures and writes
benchmarks/results/bench_churn.json (.quick.json with --quick).

    python benchmarks/bench_churn.py                  # 1M customers
    python benchmarks/bench_churn.py --quick          # 5,000 customers
    python benchmarks/bench_churn.py --survival-only  # Kaplan-Meier figures only
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from custsuccess.churn import kaplan_meier, lifetimes_from, records
from custsuccess.demo import generate
from custsuccess.plugins import Registry

AS_OF = "2026-10-01T00:00:00Z"


def median_seconds(fn: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small size, for the test suite")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--survival-only", action="store_true", help="skip records; Kaplan-Meier figures only"
    )
    args = parser.parse_args(argv)
    n = args.customers or (5_000 if args.quick else 1_000_000)
    n_loop = min(n, 100 if args.quick else 500)

    ds = generate(n, seed=0)
    if args.survival_only:
        return _survival(ds, n, args)
    registry = Registry(entry_points=False)
    batch_s, churn = median_seconds(lambda: records(ds, AS_OF, registry=registry), args.repeats)

    # The loop slices one-customer datasets out of the first 4 * n_loop customers (a
    # slice of the big dataset, so that finding a customer's rows does not scan 20M events).
    head = ds.slice(0, min(n, 4 * n_loop))
    ids = head.customer_ids[:n_loop].tolist()

    def one_at_a_time() -> int:
        return sum(len(records(head.customer(c), AS_OF, registry=registry)) for c in ids)

    loop_s, loop_rows = median_seconds(one_at_a_time, 1)
    life = lifetimes_from(ds, AS_OF)
    km_s, km = median_seconds(lambda: kaplan_meier(life.durations, life.observed), args.repeats)
    result: dict[str, Any] = {
        "benchmark": "churn",
        "customers": n,
        "events": len(ds.events),
        "churned": len(churn),
        "records_seconds_median": round(batch_s, 3),
        "baseline_single_account_loop_customers": n_loop,
        "baseline_single_account_loop_seconds": round(loop_s, 3),
        "baseline_loop_scaled_seconds": round(loop_s * n / n_loop, 1),
        "records_speedup_vs_loop": round(loop_s * n / n_loop / batch_s, 1),
        "loop_rows_match_batch": loop_rows == int((churn.customer < n_loop).sum()),
        "kaplan_meier_subjects": len(life),
        "kaplan_meier_seconds_median": round(km_s, 4),
        "median_lifetime_days": round(km.median, 1),
        "repeats": args.repeats,
    }
    result.update(_against_lifelines(life.durations, life.observed, args.repeats))
    print(
        f"records: {n:,} customers ({result['events']:,} events, {len(churn):,} churned) in "
        f"{batch_s:.2f} s median of {args.repeats}; one customer at a time: {loop_s:.2f} s "
        f"for {n_loop}, {result['baseline_loop_scaled_seconds']} s scaled "
        f"({result['records_speedup_vs_loop']}x)\n"
        f"kaplan_meier: {len(life):,} lifetimes in {km_s * 1000:.1f} ms; lifelines "
        f"{result['lifelines_seconds_median']} s"
    )
    name = "bench_churn.quick.json" if args.quick else "bench_churn.json"
    out = Path(__file__).resolve().parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _against_lifelines(durations: Any, observed: Any, repeats: int) -> dict[str, Any]:
    """Kaplan-Meier against lifelines on continuous and on whole-day durations, each pair
    timed alternately, ``repeats`` times; medians and the median of per-pair ratios."""
    try:
        from lifelines import KaplanMeierFitter
    except ImportError:  # pragma: no cover - lifelines is optional
        return {"lifelines_seconds_median": None}
    out: dict[str, Any] = {}
    for label, d in (("continuous", durations), ("whole_days", np.ceil(durations))):
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(repeats):
            ours.append(median_seconds(lambda d=d: kaplan_meier(d, observed), 1)[0])
            theirs.append(
                median_seconds(lambda d=d: KaplanMeierFitter().fit(d, observed), 1)[0]
            )
        out[f"{label}_distinct_times"] = int(np.unique(d).size)
        out[f"{label}_kaplan_meier_seconds_median"] = round(statistics.median(ours), 4)
        out[f"{label}_lifelines_seconds_median"] = round(statistics.median(theirs), 4)
        out[f"{label}_speedup_vs_lifelines"] = round(
            statistics.median(t / o for t, o in zip(theirs, ours, strict=True)), 1
        )
    out["lifelines_seconds_median"] = out["continuous_lifelines_seconds_median"]
    out["kaplan_meier_speedup_vs_lifelines"] = out["continuous_speedup_vs_lifelines"]
    return out


def _survival(ds: Any, n: int, args: argparse.Namespace) -> dict[str, Any]:
    life = lifetimes_from(ds, AS_OF)
    result: dict[str, Any] = {
        "benchmark": "churn_survival",
        "customers": n,
        "kaplan_meier_subjects": len(life),
        "repeats": args.repeats,
    }
    result.update(_against_lifelines(life.durations, life.observed, args.repeats))
    print(json.dumps(result, indent=2))
    name = "bench_churn_survival.quick.json" if args.quick else "bench_churn_survival.json"
    out = Path(__file__).resolve().parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
