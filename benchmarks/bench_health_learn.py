"""Benchmark: the learned health score, its predictive power and its speed.

* **Demo, out of time**: ``learn`` on monthly observation dates of 2025 (horizon 90 days),
  then ``backtest`` on three later dates (2026-04-01, 2026-05-15, 2026-07-01): ROC AUC
  per date, calibration error (mean |predicted - observed| over deciles of risk),
  poor/good churn lift; the default model's figures beside them, and the share of accounts
  the default model calls poor at the end of the history.
* **A product it was not written for**: the seeded social-network simulation of
  ``tests/social_sim.py`` (eight custom event kinds, churn driven by how much of each an
  account does): the default model with the events under their own kind names, days since
  the last event alone, account age alone, the literature's model (per-kind 28-day counts
  per month, log1p, plus tenure, in a logistic regression trained on earlier dates), and
  the learned model, each as mean ROC AUC over three test dates.
* **Speed**: ``learn`` on N accounts x 8 dates; scoring with the learned model against the
  default model on the same dataset (median of ``--repeats``, both warm); ``score_one``
  with the learned model (one account, 1,000 events, median of 200 calls).

Prints the figures and writes ``benchmarks/results/bench_health_learn.json``
(``--quick``: ``bench_health_learn.quick.json``).

    python benchmarks/bench_health_learn.py           # demo 100k accounts, speed at 100k x 8
    python benchmarks/bench_health_learn.py --quick   # small sizes, for the test suite
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from custsuccess.demo import generate
from custsuccess.health import HealthModel, backtest, learn, roc_auc, training_frame
from custsuccess.health.learn import fit
from custsuccess.plugins import Registry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from social_sim import KINDS, observation_dates, simulate  # noqa: E402

TRAIN = [f"2025-{m:02d}-01T00:00:00Z" for m in range(3, 13)]
TEST = ["2026-04-01T00:00:00Z", "2026-05-15T00:00:00Z", "2026-07-01T00:00:00Z"]
SPEED_DATES = [f"2025-{m:02d}-01T00:00:00Z" for m in range(5, 13)]


def median_seconds(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def demo_figures(n: int, registry: Registry) -> dict[str, Any]:
    ds = generate(n, seed=7)
    default = HealthModel.default(registry)
    t0 = time.perf_counter()
    model = learn(ds, TRAIN, 90, registry=registry)
    learn_s = time.perf_counter() - t0
    learned = backtest(model, ds, TEST, 90)
    base = backtest(default, ds, TEST, 90)
    end = default.score(ds, "2026-10-30T23:59:59Z")
    poor_share = end.tier_counts()["poor"] / max(1, len(end))
    out: dict[str, Any] = {
        "customers": n,
        "learn_seconds": learn_s,
        "learned_auc": [r.auc for r in learned.per_date],
        "learned_calibration_error": [r.calibration_error for r in learned.per_date],
        "learned_lift": [r.lift for r in learned.per_date],
        "learned_top_decile_lift": [r.top_decile_lift for r in learned.per_date],
        "learned_brier": [r.brier for r in learned.per_date],
        "learned_poor_share": [r.tiers["poor"]["accounts"] / r.n_accounts
                               for r in learned.per_date],
        "default_auc": [r.auc for r in base.per_date],
        "default_lift": [r.lift for r in base.per_date],
        "default_poor_share_at_end": poor_share,
    }
    print(f"demo {n} accounts: learn {learn_s:.1f} s on {len(TRAIN)} dates")
    for i, t in enumerate(TEST):
        print(
            f"  {t}: learned AUC {out['learned_auc'][i]:.3f} calibration error "
            f"{out['learned_calibration_error'][i]:.4f} lift poor/good "
            f"{out['learned_lift'][i]:.1f}; default AUC {out['default_auc'][i]:.3f}"
        )
    print(f"  default model: {poor_share:.1%} of accounts poor at the end of the history")
    return out


def simulation_figures(n: int, registry: Registry) -> dict[str, Any]:
    ds = simulate(n, seed=1)
    train, test = observation_dates()
    horizon = 60
    default = HealthModel.default(registry)
    model = learn(ds, train, horizon, registry=registry)
    frame_test = training_frame(ds, test, horizon, model=default)
    frame_train = training_frame(ds, train, horizon, model=default)
    literature_names = [f"{k}.per_month" for k in KINDS] + ["tenure_days"]

    def only(frame: Any) -> Any:
        return type(frame)(
            customer=frame.customer, customer_ids=frame.customer_ids, as_of=frame.as_of,
            features={k: frame.features[k] for k in literature_names},
            specs={k: frame.specs[k] for k in literature_names},
            churned=frame.churned, horizon_days=frame.horizon_days, kinds=(), rule_names=(),
        )

    literature = fit(only(frame_train))
    rows: dict[str, list[float]] = {k: [] for k in
                                    ("default", "learned", "literature", "days_since", "age")}
    for t in test:
        rows["default"].append(backtest(default, ds, t, horizon).auc)
        rows["learned"].append(backtest(model, ds, t, horizon).auc)
        sel = np.flatnonzero(frame_test.as_of == np.datetime64(t.replace("Z", "")))
        part = frame_test.take(sel)
        y = part.churned
        lit = only(part)
        rows["literature"].append(
            roc_auc(y, literature.predict([lit.features[k] for k in literature_names]))
        )
        since = np.min(np.column_stack([part.features[f"{k}.days_since"] for k in KINDS]), 1)
        rows["days_since"].append(roc_auc(y, since))
        rows["age"].append(roc_auc(y, -part.features["tenure_days"]))
    out: dict[str, Any] = {f"{k}_auc": v for k, v in rows.items()}
    out.update({f"{k}_mean_auc": float(np.mean(v)) for k, v in rows.items()})
    out["accounts"] = n
    out["events"] = len(ds.events)
    print(f"social-network simulation, {n} accounts, {len(ds.events)} events, mean AUC over "
          f"{len(test)} dates:")
    for k in rows:
        print(f"  {k:<11} {out[k + '_mean_auc']:.3f}  ({', '.join(f'{a:.3f}' for a in rows[k])})")
    return out


def speed_figures(n: int, repeats: int, registry: Registry) -> dict[str, Any]:
    ds = generate(n, seed=3)
    t0 = time.perf_counter()
    model = learn(ds, SPEED_DATES, 90, registry=registry)
    learn_s = time.perf_counter() - t0
    default = HealthModel.default(registry)
    as_of = "2026-10-30T23:59:59Z"
    default.score(ds, as_of)
    model.score(ds, as_of)  # warm both
    default_s = median_seconds(lambda: default.score(ds, as_of), repeats)
    learned_s = median_seconds(lambda: model.score(ds, as_of), repeats)
    # score_one: one account with 1,000 events, like bench_health
    customers, subs, events = ds.customer(str(ds.customer_ids[0])).to_records()
    from custsuccess import Event

    base = customers[0].created_at
    events = [Event(customers[0].id, "login", base + timedelta(hours=6 * i)) for i in range(1000)]
    when = base + timedelta(days=251)
    model.score_one(customers[0], subs, events, when)
    calls = []
    for _ in range(200):
        t1 = time.perf_counter()
        model.score_one(customers[0], subs, events, when)
        calls.append(time.perf_counter() - t1)
    default_calls = []
    for _ in range(200):
        t1 = time.perf_counter()
        default.score_one(customers[0], subs, events, when)
        default_calls.append(time.perf_counter() - t1)
    out = {
        "speed_customers": n,
        "speed_events": len(ds.events),
        "learn_seconds_8_dates": learn_s,
        "score_default_seconds_median": default_s,
        "score_learned_seconds_median": learned_s,
        "score_learned_over_default": learned_s / default_s,
        "score_one_learned_ms_median": statistics.median(calls) * 1e3,
        "score_one_default_ms_median": statistics.median(default_calls) * 1e3,
    }
    print(f"speed, {n} accounts / {len(ds.events)} events: learn on 8 dates {learn_s:.1f} s; "
          f"score default {default_s:.3f} s, learned {learned_s:.3f} s "
          f"({learned_s / default_s:.2f}x); score_one learned "
          f"{out['score_one_learned_ms_median']:.2f} ms (default "
          f"{out['score_one_default_ms_median']:.2f} ms)")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (the test suite)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo", type=int, default=None, help="demo accounts")
    parser.add_argument("--sim", type=int, default=None, help="simulation accounts")
    parser.add_argument("--speed", type=int, default=None, help="accounts of the speed runs")
    args = parser.parse_args(argv)
    registry = Registry(entry_points=False)
    demo_n = args.demo or (4000 if args.quick else 100_000)
    sim_n = args.sim or (600 if args.quick else 3000)
    speed_n = args.speed or (3000 if args.quick else 100_000)
    result: dict[str, Any] = {"quick": args.quick}
    result["demo"] = demo_figures(demo_n, registry)
    result["simulation"] = simulation_figures(sim_n, registry)
    result["speed"] = speed_figures(speed_n, args.repeats, registry)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    name = "bench_health_learn.quick.json" if args.quick else "bench_health_learn.json"
    (out / name).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
