"""Benchmark: survival estimators against lifelines in the same run.

Times, on synthetic churn data (exponential lifetimes in days with random censoring,
two plans), `kaplan_meier`, `nelson_aalen` and `multivariate_logrank_test` on N
durations (default 1M) and `CoxModel().fit` with Efron ties on R rows x 10 covariates
(default 100k), each against lifelines' `KaplanMeierFitter`, `NelsonAalenFitter`,
`multivariate_logrank_test` and `CoxPHFitter` on the same arrays (when lifelines is
installed). Reports medians of --repeats runs, checks the answers agree, prints the
figures and writes benchmarks/results/bench_survival.json (.quick.json with --quick).

    python benchmarks/bench_survival.py            # 1M durations, Cox on 100k x 10
    python benchmarks/bench_survival.py --quick    # 20k durations, Cox on 5k x 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from custsuccess.churn import CoxModel, kaplan_meier, multivariate_logrank_test, nelson_aalen


def median_seconds(fn: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def durations(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    plan = rng.integers(0, 2, n)
    life = rng.exponential(np.where(plan == 0, 400.0, 520.0))
    follow = rng.uniform(0, 900, n)
    return np.ceil(np.minimum(life, follow)), life <= follow, plan


def cox_data(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    beta = np.linspace(-0.5, 0.5, p)
    life = rng.exponential(1.0 / np.exp(x @ beta))
    follow = rng.exponential(2.0, n)
    return np.round(np.minimum(life, follow), 3) + 0.001, life <= follow, x


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for the test suite")
    parser.add_argument("--durations", type=int, default=None)
    parser.add_argument("--cox-rows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.durations or (20_000 if args.quick else 1_000_000)
    rows = args.cox_rows or (5_000 if args.quick else 100_000)
    p = 5 if args.quick else 10
    d, e, plan = durations(n, 0)
    cd, ce, cx = cox_data(rows, p, 1)
    result: dict[str, Any] = {
        "benchmark": "survival",
        "durations": n,
        "cox_rows": rows,
        "cox_covariates": p,
        "repeats": args.repeats,
    }
    # warm up: the first call pays for importing scipy.special / scipy.optimize
    CoxModel().fit(cd[:200], ce[:200], cx[:200])
    multivariate_logrank_test(d[:200], e[:200], plan[:200])
    ours = {
        "kaplan_meier": median_seconds(lambda: kaplan_meier(d, e), args.repeats),
        "nelson_aalen": median_seconds(lambda: nelson_aalen(d, e), args.repeats),
        "logrank": median_seconds(
            lambda: multivariate_logrank_test(d, e, plan), args.repeats
        ),
        "cox": median_seconds(lambda: CoxModel().fit(cd, ce, cx), args.repeats),
    }
    for name, (seconds, _) in ours.items():
        result[f"{name}_seconds_median"] = round(seconds, 4)
    try:
        import pandas as pd
        from lifelines import CoxPHFitter, KaplanMeierFitter, NelsonAalenFitter
        from lifelines.statistics import multivariate_logrank_test as peer_logrank
    except ImportError:  # pragma: no cover - lifelines is optional
        result["lifelines"] = None
    else:
        frame = pd.DataFrame(cx, columns=[f"x{i}" for i in range(p)])
        frame["T"], frame["E"] = cd, ce
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            CoxPHFitter().fit(frame.iloc[:200], "T", "E")
            peer_logrank(d[:200], plan[:200], e[:200])
            peers = {
                "kaplan_meier": median_seconds(
                    lambda: KaplanMeierFitter().fit(d, e), args.repeats
                ),
                "nelson_aalen": median_seconds(
                    lambda: NelsonAalenFitter(nelson_aalen_smoothing=False).fit(d, e),
                    args.repeats,
                ),
                "logrank": median_seconds(lambda: peer_logrank(d, plan, e), args.repeats),
                "cox": median_seconds(lambda: CoxPHFitter().fit(frame, "T", "E"), args.repeats),
            }
        km, na, lr, cox = (ours[k][1] for k in ("kaplan_meier", "nelson_aalen", "logrank", "cox"))
        kmf, naf, lrf, coxf = (peers[k][1] for k in ("kaplan_meier", "nelson_aalen", "logrank",
                                                     "cox"))
        grid = kmf.survival_function_.index.to_numpy()
        agree = {
            "kaplan_meier": float(np.max(np.abs(
                km.survival_at(grid) - kmf.survival_function_.to_numpy()[:, 0]))),
            "nelson_aalen": float(np.max(np.abs(
                na.cumulative_hazard_at(grid) - naf.cumulative_hazard_.to_numpy()[:, 0]))),
            "logrank": abs(lr.statistic - float(lrf.test_statistic)),
            "cox": float(np.max(np.abs(
                np.array(list(cox.params_.values())) - coxf.params_.to_numpy()))),
        }
        result["lifelines"] = {
            name: {
                "seconds_median": round(peers[name][0], 4),
                "speedup": round(peers[name][0] / ours[name][0], 1),
                "max_abs_difference": agree[name],
            }
            for name in ours
        }
    lines = [f"survival: {n:,} durations; Cox on {rows:,} rows x {p} covariates "
             f"(median of {args.repeats})"]
    for name, (seconds, _) in ours.items():
        peer = (result["lifelines"] or {}).get(name)
        told = (f"lifelines {peer['seconds_median']:.3f} s, {peer['speedup']}x, "
                f"max |difference| {peer['max_abs_difference']:.1e}") if peer else "no lifelines"
        lines.append(f"  {name:<13} {seconds:8.3f} s   ({told})")
    print("\n".join(lines))
    name = "bench_survival.quick.json" if args.quick else "bench_survival.json"
    out = Path(__file__).resolve().parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
