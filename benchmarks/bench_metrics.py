"""Benchmark: the dataset-level metrics on the demo dataset.

Times, each as the median of several runs on `custsuccess.demo.generate(N)`:
MRR movements per month, cohort retention per month, NPS per quarter and support
first-response times. Target: <= 1 s each at 1M customers (about 20M events).

Baseline in the same run: a plain per-customer Python loop computing the same numbers
on the first 10k customers (2k with --quick), timed and scaled linearly to N; its
results are checked equal to the vectorised ones on that subset, so the baseline is
also a correctness cross-check. Prints the figures and writes
benchmarks/results/bench_metrics.json (bench_metrics.quick.json with --quick).

    python benchmarks/bench_metrics.py            # 1M customers
    python benchmarks/bench_metrics.py --quick    # 20k customers
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from custsuccess import Dataset
from custsuccess.demo import generate
from custsuccess.metrics import (
    MOVEMENT_KINDS,
    Periods,
    cohort_retention,
    mrr_movements,
    nps_by_period,
    support_response_times,
)
from custsuccess.models import EventKind


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# --------------------------------------------------------------------------- baselines
# Straightforward per-customer loops, written from the definitions.


def loop_movements(ds: Dataset, periods: Periods) -> dict[str, list[int]]:
    bounds = periods.boundaries()
    subs = ds.subscriptions
    off = subs.offsets()
    totals = {k: [0] * len(periods) for k in MOVEMENT_KINDS}
    for c in range(ds.n_customers):
        rows = range(int(off[c]), int(off[c + 1]))
        paid = [r for r in rows if subs.mrr[r] > 0]
        levels = []
        for b in bounds:
            level = 0
            for r in paid:
                end = subs.ended_at[r]
                if subs.started_at[r] <= b and (np.isnat(end) or b < end):
                    level += round(float(subs.mrr[r]) * 1_000_000)
            levels.append(level)
        for i in range(len(periods)):
            a, z = levels[i], levels[i + 1]
            if a == z:
                continue
            if a == 0:
                before = any(subs.started_at[r] < bounds[i] for r in paid)
                kind = "reactivation" if before else "new"
            elif z == 0:
                kind = "churn"
            else:
                kind = "expansion" if z > a else "contraction"
            totals[kind][i] += abs(z - a)
    return totals


def loop_cohorts(ds: Dataset, periods: Periods) -> list[list[int]]:
    bounds = periods.boundaries()
    k = len(periods)
    subs = ds.subscriptions
    off = subs.offsets()
    matrix = [[0] * k for _ in range(k)]
    for c in range(ds.n_customers):
        created = ds.customers.created_at[c]
        cohort = next((i for i in range(k) if periods.starts[i] <= created < periods.ends[i]), -1)
        if cohort < 0:
            continue
        for o in range(k - cohort):
            b = bounds[cohort + o + 1]
            paying = any(
                subs.mrr[r] > 0
                and subs.started_at[r] <= b
                and (np.isnat(subs.ended_at[r]) or b < subs.ended_at[r])
                for r in range(int(off[c]), int(off[c + 1]))
            )
            matrix[cohort][o] += int(paying)
    return matrix


def loop_nps(ds: Dataset, periods: Periods) -> list[tuple[int, int, int]]:
    ev = ds.events_of(EventKind.NPS_RESPONSE, properties=())
    off = ev.offsets()
    counts = [[0, 0, 0] for _ in range(len(periods))]
    for c in range(ds.n_customers):
        for r in range(int(off[c]), int(off[c + 1])):
            p = next(
                (i for i in range(len(periods))
                 if periods.starts[i] <= ev.time[r] < periods.ends[i]), -1
            )  # fmt: skip
            if p < 0:
                continue
            v = ev.value[r]
            counts[p][0 if v <= 6 else 1 if v <= 8 else 2] += 1
    return [(d, pa, pr) for d, pa, pr in counts]


def loop_support(ds: Dataset) -> dict[str, tuple[int, int, float]]:
    ev = ds.events_of(EventKind.SUPPORT_REQUEST, EventKind.SUPPORT_REPLY)
    off = ev.offsets()
    request = ev.kind_code(EventKind.SUPPORT_REQUEST)
    ticket = ev.property("ticket")
    channel = ev.property("channel")
    out: dict[str, list[float]] = {}
    unanswered: dict[str, int] = {}
    for c in range(ds.n_customers):
        replies: dict[int, list[np.datetime64]] = {}
        rows = range(int(off[c]), int(off[c + 1]))
        for r in rows:
            if ev.kind[r] != request:
                replies.setdefault(int(ticket.codes[r]), []).append(ev.time[r])
        for r in rows:
            if ev.kind[r] == request:
                name = channel.categories[int(channel.codes[r])]
                later = [t for t in replies.get(int(ticket.codes[r]), []) if t >= ev.time[r]]
                if later:
                    delta = (min(later) - ev.time[r]) / np.timedelta64(1, "s")
                    out.setdefault(name, []).append(float(delta))
                else:
                    unanswered[name] = unanswered.get(name, 0) + 1
    return {
        name: (len(values), unanswered.get(name, 0), float(np.mean(values)))
        for name, values in out.items()
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small size, for the test suite")
    parser.add_argument("--customers", type=int, default=None, help="default 1M (quick: 20k)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON")
    args = parser.parse_args(argv)
    n = args.customers or (20_000 if args.quick else 1_000_000)
    n_base = min(n, 2_000 if args.quick else 10_000)

    t0 = time.perf_counter()
    ds = generate(n)
    generate_s = time.perf_counter() - t0
    months = mrr_movements(ds).periods
    quarters = nps_by_period(ds).periods
    cohort_months = cohort_retention(ds).periods

    runs: dict[str, Callable[[Dataset], object]] = {
        "mrr_movements": lambda d: mrr_movements(d, periods=months),
        "cohort_retention": lambda d: cohort_retention(
            d, start=cohort_months.starts[0], end=cohort_months.starts[-1]
        ),
        "nps_per_quarter": lambda d: nps_by_period(d, periods=quarters),
        "support_response_times": support_response_times,
    }
    seconds = {name: median_seconds(partial(f, ds), args.repeats) for name, f in runs.items()}

    # the baseline on a subset, checked against the vectorised code on the same subset
    sub = ds.slice(0, n_base)
    base_seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    reference_moves = loop_movements(sub, months)
    base_seconds["mrr_movements"] = time.perf_counter() - t0
    fast_moves = mrr_movements(sub, periods=months)
    for kind in MOVEMENT_KINDS:
        got = np.rint(getattr(fast_moves, kind) * 1_000_000).astype(np.int64).tolist()
        assert got == reference_moves[kind], kind
    t0 = time.perf_counter()
    reference_cohorts = loop_cohorts(sub, cohort_months)
    base_seconds["cohort_retention"] = time.perf_counter() - t0
    fast_cohorts = runs["cohort_retention"](sub)
    assert fast_cohorts.customers.tolist() == reference_cohorts  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    reference_nps = loop_nps(sub, quarters)
    base_seconds["nps_per_quarter"] = time.perf_counter() - t0
    fast_nps = nps_by_period(sub, periods=quarters)
    got_nps = list(zip(fast_nps.detractors.tolist(), fast_nps.passives.tolist(),
                       fast_nps.promoters.tolist(), strict=True))  # fmt: skip
    assert got_nps == reference_nps
    t0 = time.perf_counter()
    reference_support = loop_support(sub)
    base_seconds["support_response_times"] = time.perf_counter() - t0
    fast_support = support_response_times(sub)
    for i, name in enumerate(fast_support.channels):
        if name in reference_support:
            answered, missing, mean = reference_support[name]
            assert int(fast_support.n_answered[i]) == answered
            assert int(fast_support.n_unanswered[i]) == missing
            assert abs(float(fast_support.mean[i]) - mean) <= 1e-6 * max(1.0, mean)

    scale = n / n_base
    result: dict[str, Any] = {
        "benchmark": "metrics",
        "customers": n,
        "events": len(ds.events),
        "subscriptions": len(ds.subscriptions),
        "generate_seconds": round(generate_s, 2),
        "months": len(months),
        "quarters": len(quarters),
        "repeats": args.repeats,
        "baseline_customers": n_base,
        "seconds_median": {k: round(v, 3) for k, v in seconds.items()},
        "baseline_seconds_on_subset": {k: round(v, 3) for k, v in base_seconds.items()},
        "baseline_seconds_scaled": {k: round(v * scale, 1) for k, v in base_seconds.items()},
        "speedup": {k: round(base_seconds[k] * scale / seconds[k]) for k in seconds},
        "target_seconds": 1.0,
        "within_target": all(v <= 1.0 for v in seconds.values()),
    }
    print(
        f"{n:,} customers, {result['events']:,} events, {result['subscriptions']:,} "
        f"subscriptions ({len(months)} months, {len(quarters)} quarters); "
        f"median of {args.repeats} runs, target <= 1 s each"
    )
    for name, value in seconds.items():
        print(
            f"  {name:24s} {value:7.3f} s   per-customer loop on {n_base:,} customers "
            f"{base_seconds[name]:7.2f} s, scaled to {n:,}: {base_seconds[name] * scale:9.1f} s "
            f"({result['speedup'][name]:,}x)"
        )
    name = "bench_metrics.quick.json" if args.quick else "bench_metrics.json"
    out = args.out or Path(__file__).resolve().parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
