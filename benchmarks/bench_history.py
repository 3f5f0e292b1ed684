"""Benchmark: tier hysteresis on the demo population, alerts before and after.

Scores `custsuccess.demo.generate(N)` (default 5,000 customers) with the default health
model every day for the last `--days` days (default 180) before the demo's end, and
compares the raw tiers with the tiers confirmed by `TierHysteresis` (default: a move holds
14 days or crosses its threshold by 5 points):

* tier moves per account and month (each move is a `health_tier_changed` alert);
* the share of accounts whose tier differs from 30 days earlier;
* for every account whose raw tier turns poor and stays poor at least 14 days (a real
  decline), the days from the raw turn to the confirmed one (0 = not delayed).

Also times the confirmation over the whole history (medians of `--repeats` runs) against
the baseline of computing the raw moves. Prints the figures and writes
benchmarks/results/bench_history.json (.quick.json with --quick).

    python benchmarks/bench_history.py            # 5,000 customers, 180 days
    python benchmarks/bench_history.py --quick    # 500 customers, 60 days
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from custsuccess.demo import DEFAULT_END, generate
from custsuccess.health import HealthModel
from custsuccess.health.history import HealthHistory, TierHysteresis
from custsuccess.plugins import Registry

DAY = np.timedelta64(1, "D")


def per_account(history: HealthHistory, codes: np.ndarray[Any, Any]) -> dict[str, float]:
    """Moves per account-month and the 30-day tier change share of tier ``codes``."""
    ids = history.customer_ids
    same = ids[1:] == ids[:-1]
    moves = int((same & (codes[1:] != codes[:-1])).sum())
    accounts = np.unique(ids).size
    days = np.unique(history.as_of).size
    months = max(days - 1, 1) / 30.0
    # 30 days apart, same account: rows i and i + 30 when the account has both
    lag = 30
    ok = (ids[lag:] == ids[:-lag]) & (
        (history.as_of[lag:] - history.as_of[:-lag]) == lag * DAY
    )
    changed = ok & (codes[lag:] != codes[:-lag])
    return {
        "moves_per_account_month": moves / accounts / months,
        "share_changed_over_30_days": float(changed.sum() / max(int(ok.sum()), 1)),
    }


def decline_delays(
    history: HealthHistory, confirmed: np.ndarray[Any, Any], hold: int = 14
) -> list[float]:
    """Days from an account's raw turn to poor to the confirmed one, for every turn to
    poor that lasts ``hold`` days or more (a real decline)."""
    ids, raw = history.customer_ids, history.tier_code
    at = history.as_of
    delays: list[float] = []
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], ids.size]
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        r = raw[s:e]
        c = confirmed[s:e]
        turns = np.flatnonzero((r[1:] == 2) & (r[:-1] != 2)) + 1
        for k in turns.tolist():
            run = np.flatnonzero(r[k:] != 2)
            length = run[0] if run.size else r.size - k
            if length < hold:
                continue
            confirmed_at = np.flatnonzero(c[k:] == 2)
            if confirmed_at.size:
                j = int(confirmed_at[0])
                delays.append(float((at[s + k + j] - at[s + k]) / DAY))
    return delays


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--hold-days", type=float, default=14.0)
    parser.add_argument("--margin", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="500 customers, 60 days")
    args = parser.parse_args(argv)
    n, days = (500, 60) if args.quick else (args.customers, args.days)

    ds = generate(n, seed=7)
    model = HealthModel.default(Registry(entry_points=False))
    end = np.datetime64(DEFAULT_END[:10], "D")
    started = time.perf_counter()
    reports = [model.score(ds, end - (days - d) * DAY) for d in range(days)]
    scoring_seconds = time.perf_counter() - started
    history = HealthHistory.from_reports(reports)
    hysteresis = TierHysteresis(hold_days=args.hold_days, margin=args.margin)

    confirm_times, baseline_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        confirmed = hysteresis.confirm_codes(history)
        confirm_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        history.tier_changes()
        baseline_times.append(time.perf_counter() - t0)

    raw = per_account(history, history.tier_code)
    kept = per_account(history, confirmed)
    delays = decline_delays(history, confirmed)
    result: dict[str, Any] = {
        "customers": n,
        "days": days,
        "snapshots": len(history),
        "hold_days": args.hold_days,
        "margin": args.margin,
        "raw_moves_per_account_month": raw["moves_per_account_month"],
        "confirmed_moves_per_account_month": kept["moves_per_account_month"],
        "raw_share_changed_over_30_days": raw["share_changed_over_30_days"],
        "confirmed_share_changed_over_30_days": kept["share_changed_over_30_days"],
        "declines": len(delays),
        "decline_delay_days_median": statistics.median(delays) if delays else None,
        "decline_delay_days_mean": statistics.fmean(delays) if delays else None,
        "decline_delay_days_p90": float(np.percentile(delays, 90)) if delays else None,
        "declines_not_delayed_share": (
            sum(d == 0 for d in delays) / len(delays) if delays else None
        ),
        "scoring_seconds": scoring_seconds,
        "confirm_seconds_median": statistics.median(confirm_times),
        "baseline_raw_moves_seconds_median": statistics.median(baseline_times),
    }
    for key, value in result.items():
        print(f"{key:40} {value:.4g}" if isinstance(value, float) else f"{key:40} {value}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    name = "bench_history.quick.json" if args.quick else "bench_history.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
