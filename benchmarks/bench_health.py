"""Benchmark: health scoring of 1M customers / ~20M events with every built-in rule.

* Generates the demo population (``custsuccess.demo.generate``) and scores it at the end
  of its history with ``HealthModel.default()`` (10 rules, 5 playbooks): the first (cold)
  run, which also builds the dataset's per-kind event indexes, then the median of
  ``--repeats`` runs.
* Peak memory of one scoring run (``tracemalloc``, which sees numpy's allocations) against
  the bytes of the dataset's arrays.
* Baseline in the same run: a straightforward per-customer Python loop computing the same
  rules (:func:`loop_scores`) on a smaller population, whose scores are checked equal to
  the engine's; per-account speedup.
* ``score_one`` latency: one account with 1,000 events, median of 200 calls.

Prints the figures and writes ``benchmarks/results/bench_health.json`` (``--quick``:
``bench_health.quick.json``).

    python benchmarks/bench_health.py            # 1M customers, loop at 20k
    python benchmarks/bench_health.py --quick    # 20k customers, loop at 2k
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from custsuccess import Customer, Dataset, Event, Subscription
from custsuccess.demo import generate
from custsuccess.health import HealthModel, HealthReport
from custsuccess.plugins import Registry

AS_OF = "2026-10-30T23:59:59Z"
DAY = 86_400_000_000
ACTIVITY = {"login", "feature_used", "page_view", "time_on_site"}
WEIGHTS = {
    "usage.recency": 3.0,
    "usage.frequency": 2.0,
    "usage.trend": 1.5,
    "usage.volume": 1.0,
    "onboarding.progress": 1.5,
    "survey.nps": 1.0,
    "support.responsiveness": 1.0,
    "billing.payment_failures": 1.0,
    "advocacy.referrals": 0.5,
    "adoption.breadth": 1.0,
}
# channel -> (target, limit); email in business days, the others in minutes
TARGETS = {"phone": (3.0, 30.0), "chat": (1.0, 10.0), "email": (1.0, 5.0), "social": (60.0, 1440.0)}


def dataset_bytes(ds: Dataset) -> int:
    """Bytes of every array of the dataset (customers, subscriptions, events)."""
    total = 0
    for table in (ds.customers, ds.subscriptions, ds.events):
        for value in vars_of(table):
            if isinstance(value, np.ndarray):
                total += value.nbytes
            elif hasattr(value, "codes"):
                total += value.codes.nbytes
            elif isinstance(value, dict):
                for item in value.values():
                    total += item.codes.nbytes if hasattr(item, "codes") else item.nbytes
    return total


def vars_of(table: Any) -> list[Any]:
    return [getattr(table, name) for name in table.__slots__ if not name.startswith("__")]


# --------------------------------------------------------------------------- the baseline


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def loop_scores(ds: Dataset, as_of: str = AS_OF) -> tuple[list[str], list[float]]:
    """The built-in rules' weighted score, one customer at a time, in plain Python.

    A straightforward implementation of the formulas of ``docs/health.md`` (default
    parameters): the baseline of the benchmark and an independent check of the engine.
    Returns the scored customer ids and their scores, in the engine's population.
    """
    now = int(np.datetime64(as_of.replace("Z", ""), "us").astype(np.int64))
    view = ds.until(np.datetime64(now, "us"))
    ev = view.events
    kinds = list(ev.kinds)
    e_cust = ev.customer.tolist()
    e_kind = [kinds[k] for k in ev.kind.tolist()]
    e_time = ev.time.view(np.int64).tolist()
    e_value = ev.value.tolist()
    feature = ev.property("feature")
    e_feature = [None if c < 0 else feature.categories[c] for c in feature.codes.tolist()]
    channel = ev.property("channel")
    e_channel = [None if c < 0 else channel.categories[c] for c in channel.codes.tolist()]
    ticket = ev.property("ticket")
    e_ticket = ticket.codes.tolist()
    subs = view.subscriptions
    s_cust = subs.customer.tolist()
    s_start = subs.started_at.view(np.int64).tolist()
    s_end = [None if np.isnat(t) else int(t.astype(np.int64)) for t in subs.ended_at]
    created = ds.customers.created_at.view(np.int64).tolist()
    ids = ds.customer_ids.tolist()

    by_customer: list[list[int]] = [[] for _ in ids]
    for i, c in enumerate(e_cust):
        by_customer[c].append(i)
    subs_of: list[list[int]] = [[] for _ in ids]
    for i, c in enumerate(s_cust):
        subs_of[c].append(i)

    out_ids: list[str] = []
    out_scores: list[float] = []
    for c, cid in enumerate(ids):
        age = (now - created[c]) / DAY
        if age < 0:
            continue
        mine = subs_of[c]
        running = False
        for s in mine:
            end = s_end[s]
            running |= s_start[s] <= now and (end is None or end > now)
        if mine and not running:
            continue
        rows = by_customer[c]
        scores: dict[str, float] = {}
        # usage.recency
        active_times = [e_time[i] for i in rows if e_kind[i] in ACTIVITY]
        last = max(active_times) if active_times else created[c]
        d = (now - last) / DAY
        scores["usage.recency"] = 100.0 * _clip01((30.0 - d) / 29.0)
        slots = {(now - t) // DAY for t in active_times if now - t < 90 * DAY}
        # usage.frequency
        active = sum(1 for s in slots if s < 30)
        observed = min(30, max(1, math.ceil(age)))
        eq = active * 30 / observed
        band = 100.0 if eq >= 20 else 70.0 if eq >= 4 else 35.0 if eq >= 1 else 0.0
        scores["usage.frequency"] = band
        # usage.trend
        previous = sum(1 for s in slots if 30 <= s < 90)
        if previous > 0 and age >= 90:
            ratio = (active / 30) / (previous / 60)
            scores["usage.trend"] = 100.0 * _clip01(ratio)
        # usage.volume
        volume = sum(1 for t in active_times if now - t < 28 * DAY)
        per_month = volume * (365.25 / 12) / min(28.0, max(1.0, age))
        scores["usage.volume"] = 100.0 * _clip01(math.log1p(per_month) / math.log1p(100.0))
        # onboarding.progress
        if age <= 90:
            have = {e_kind[i] for i in rows}
            reached = sum(1 for k in ("login", "feature_used", "page_view") if k in have)
            expected = 3 * _clip01((age - 3) / 27)
            scores["onboarding.progress"] = 100.0 * (1 - max(0.0, expected - reached) / 3)
        # survey.nps
        answers = [i for i in rows if e_kind[i] == "nps_response"]
        if answers:
            i = answers[-1]
            days = (now - e_time[i]) / DAY
            if days <= 365:
                v = e_value[i]
                base = 100.0 if v >= 9 else 50.0 if v >= 7 else 0.0
                scores["survey.nps"] = 50.0 + (base - 50.0) * 0.5 ** (days / 90)
        # support.responsiveness
        per: list[float] = []
        for i in rows:
            if e_kind[i] != "support_request" or e_time[i] <= now - 90 * DAY:
                continue
            reply = next(
                (
                    e_time[j]
                    for j in rows
                    if e_kind[j] == "support_reply"
                    and e_ticket[j] == e_ticket[i]
                    and e_time[j] >= e_time[i]
                ),
                None,
            )
            end = now if reply is None else reply
            target, limit = TARGETS[str(e_channel[i])]
            if e_channel[i] == "email":
                elapsed = float(
                    np.busday_count(
                        np.datetime64(e_time[i], "us").astype("datetime64[D]"),
                        np.datetime64(end, "us").astype("datetime64[D]"),
                    )
                )
            else:
                elapsed = (end - e_time[i]) / 60_000_000
            if reply is None and elapsed <= target:
                continue
            per.append(100.0 * _clip01((limit - elapsed) / (limit - target)))
        if per:
            scores["support.responsiveness"] = sum(per) / len(per)
        # billing.payment_failures
        failures = [i for i in rows if e_kind[i] == "payment_failed"]
        if mine or failures:
            k = sum(1 for i in failures if e_time[i] > now - 90 * DAY)
            scores["billing.payment_failures"] = 100.0 * max(0.0, 1 - k / 3)
        # advocacy.referrals
        k = sum(1 for i in rows if e_kind[i] == "referral" and e_time[i] > now - 365 * DAY)
        if k:
            scores["advocacy.referrals"] = 100.0 * min(1.0, 0.5 + 0.5 * k / 2)
        # adoption.breadth
        if age >= 14:
            used = {
                e_feature[i]
                for i in rows
                if e_kind[i] == "feature_used" and e_time[i] > now - 90 * DAY
            }
            scores["adoption.breadth"] = 100.0 * min(1.0, len(used) / 5)
        total = sum(WEIGHTS[r] for r in scores)
        out_ids.append(cid)
        out_scores.append(sum(WEIGHTS[r] * s for r, s in scores.items()) / total)
    return out_ids, out_scores


def records_loop_scores(
    customers: list[Customer],
    subscriptions: list[Subscription],
    events: list[Event],
    as_of: datetime,
) -> tuple[list[str], list[float]]:
    """The same rules, written the straightforward way a host would: a loop over its own
    records (Customer, Subscription, Event objects), one customer at a time, with
    datetime arithmetic. The benchmark's baseline."""
    day = timedelta(days=1)
    events_of: dict[str, list[Event]] = {}
    for e in sorted(events, key=lambda e: e.occurred_at):
        if e.occurred_at <= as_of:
            events_of.setdefault(e.customer_id, []).append(e)
    subs_of: dict[str, list[Subscription]] = {}
    for s in subscriptions:
        if s.started_at <= as_of:
            subs_of.setdefault(s.customer_id, []).append(s)
    out_ids: list[str] = []
    out_scores: list[float] = []
    for customer in sorted(customers, key=lambda c: c.id):
        age = (as_of - customer.created_at) / day
        if age < 0:
            continue
        mine = subs_of.get(customer.id, [])
        running = any(s.ended_at is None or s.ended_at > as_of for s in mine)
        if mine and not running:
            continue
        evs = events_of.get(customer.id, [])
        scores: dict[str, float] = {}
        activity = [e for e in evs if str(e.kind) in ACTIVITY]
        last = activity[-1].occurred_at if activity else customer.created_at
        d = (as_of - last) / day
        scores["usage.recency"] = 100.0 * _clip01((30.0 - d) / 29.0)
        slots = {
            (as_of - e.occurred_at) // day for e in activity if as_of - e.occurred_at < 90 * day
        }
        active = sum(1 for s in slots if s < 30)
        eq = active * 30 / min(30, max(1, math.ceil(age)))
        scores["usage.frequency"] = (
            100.0 if eq >= 20 else 70.0 if eq >= 4 else 35.0 if eq >= 1 else 0.0
        )
        previous = sum(1 for s in slots if 30 <= s < 90)
        if previous > 0 and age >= 90:
            scores["usage.trend"] = 100.0 * _clip01((active / 30) / (previous / 60))
        volume = sum(1 for e in activity if as_of - e.occurred_at < 28 * day)
        per_month = volume * (365.25 / 12) / min(28.0, max(1.0, age))
        scores["usage.volume"] = 100.0 * _clip01(math.log1p(per_month) / math.log1p(100.0))
        if age <= 90:
            have = {str(e.kind) for e in evs}
            reached = sum(1 for k in ("login", "feature_used", "page_view") if k in have)
            expected = 3 * _clip01((age - 3) / 27)
            scores["onboarding.progress"] = 100.0 * (1 - max(0.0, expected - reached) / 3)
        answers = [e for e in evs if str(e.kind) == "nps_response"]
        if answers and (as_of - answers[-1].occurred_at) / day <= 365:
            days = (as_of - answers[-1].occurred_at) / day
            v = answers[-1].value or 0.0
            base = 100.0 if v >= 9 else 50.0 if v >= 7 else 0.0
            scores["survey.nps"] = 50.0 + (base - 50.0) * 0.5 ** (days / 90)
        per = []
        for r in evs:
            if str(r.kind) != "support_request" or r.occurred_at <= as_of - 90 * day:
                continue
            reply = next(
                (
                    e.occurred_at
                    for e in evs
                    if str(e.kind) == "support_reply"
                    and e.properties["ticket"] == r.properties["ticket"]
                    and e.occurred_at >= r.occurred_at
                ),
                None,
            )
            end = as_of if reply is None else reply
            target, limit = TARGETS[r.properties["channel"]]
            if r.properties["channel"] == "email":
                start_day = r.occurred_at.astimezone(timezone.utc).date()
                end_day = end.astimezone(timezone.utc).date()
                elapsed = float(
                    sum(
                        1
                        for k in range((end_day - start_day).days)
                        if (start_day + timedelta(days=k)).weekday() < 5
                    )
                )
            else:
                elapsed = (end - r.occurred_at) / timedelta(minutes=1)
            if reply is None and elapsed <= target:
                continue
            per.append(100.0 * _clip01((limit - elapsed) / (limit - target)))
        if per:
            scores["support.responsiveness"] = sum(per) / len(per)
        failures = [e for e in evs if str(e.kind) == "payment_failed"]
        if mine or failures:
            k = sum(1 for e in failures if e.occurred_at > as_of - 90 * day)
            scores["billing.payment_failures"] = 100.0 * max(0.0, 1 - k / 3)
        k = sum(1 for e in evs if str(e.kind) == "referral" and e.occurred_at > as_of - 365 * day)
        if k:
            scores["advocacy.referrals"] = 100.0 * min(1.0, 0.5 + 0.5 * k / 2)
        if age >= 14:
            used = {
                e.properties["feature"]
                for e in evs
                if str(e.kind) == "feature_used" and e.occurred_at > as_of - 90 * day
            }
            scores["adoption.breadth"] = 100.0 * min(1.0, len(used) / 5)
        total = sum(WEIGHTS[r] for r in scores)
        out_ids.append(customer.id)
        out_scores.append(sum(WEIGHTS[r] * s for r, s in scores.items()) / total)
    return out_ids, out_scores


# --------------------------------------------------------------------------- score_one


def one_account(
    n_events: int = 1000, seed: int = 0
) -> tuple[Customer, list[Subscription], list[Event]]:
    """One account with ``n_events`` events of every kind over the last 300 days."""
    rng = np.random.default_rng(seed)
    utc = timezone.utc
    end = datetime(2026, 10, 30, tzinfo=utc)
    created = end - timedelta(days=400)
    customer = Customer("acme", created, plan="pro", segment="smb")
    subs = [Subscription("s1", "acme", "pro", 99.0, "USD", created)]
    kinds = ["login", "page_view", "feature_used", "time_on_site", "login", "page_view",
             "nps_response", "support_request", "support_reply", "referral", "payment_failed"]
    events = []
    offsets = np.sort(rng.integers(0, 300 * 86400, n_events))
    for k, off in enumerate(offsets.tolist()):
        kind = kinds[k % len(kinds)]
        at = end - timedelta(seconds=off)
        value: float | None = None
        props: dict[str, str] = {}
        if kind == "feature_used":
            props = {"feature": ["reports", "alerts", "api"][k % 3]}
        elif kind in ("support_request", "support_reply"):
            props = {"channel": ["phone", "chat", "email"][k % 3], "ticket": f"T{k // 11}"}
        elif kind == "nps_response":
            value = float(k % 11)
        elif kind == "time_on_site":
            value = 120.0
        events.append(Event("acme", kind, at, value, props))
    return customer, subs, events


def median_seconds(fn: Any, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of ``repeats`` calls, and every call's wall time."""
    median, times, _ = timed(fn, repeats)
    return median, times


def timed(fn: Any, repeats: int) -> tuple[float, list[float], float]:
    """Median wall time, the wall times, and the median CPU time of this process
    (less sensitive to other processes' load on a shared machine)."""
    times, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), times, statistics.median(cpu)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for the test suite")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--loop-customers", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n = args.customers or (20_000 if args.quick else 1_000_000)
    n_loop = args.loop_customers or (2_000 if args.quick else 20_000)
    model = HealthModel.default(Registry(entry_points=False))

    # first, in a fresh process: one account is not scored next to a 1M dataset
    customer, subs, events = one_account(1000)
    model.score_one(customer, subs, events, AS_OF)  # warm up
    calls = 200 if args.quick else 1000
    one_s, one_runs, one_cpu = timed(
        lambda: model.score_one(customer, subs, events, AS_OF), calls
    )
    one_p10 = float(np.percentile(one_runs, 10))
    # baseline in the same run: the general path, from_records then score
    general_s, _, general_cpu = timed(
        lambda: model.score(
            Dataset.from_records([customer], subs, events), AS_OF, include_churned=True
        ),
        calls // 4,
    )
    print(f"score_one with 1000 events: median of {calls} calls {one_s * 1e3:.3f} ms "
          f"(10th percentile {one_p10 * 1e3:.3f} ms; CPU {one_cpu * 1e3:.3f} ms); "
          f"from_records + score {general_s * 1e3:.3f} ms (CPU {general_cpu * 1e3:.3f} ms)")

    t0 = time.perf_counter()
    ds = generate(n, seed=args.seed)
    generate_s = time.perf_counter() - t0
    array_bytes = dataset_bytes(ds)
    print(f"dataset: {ds!r}, arrays {array_bytes / 1e6:.0f} MB, generated in {generate_s:.1f} s")

    t0 = time.perf_counter()
    report: HealthReport = model.score(ds, AS_OF)
    cold_s = time.perf_counter() - t0
    median_s, runs, cpu_s = timed(lambda: model.score(ds, AS_OF), args.repeats)
    print(f"score {n} customers: cold {cold_s:.3f} s, median of {args.repeats} {median_s:.3f} s "
          f"({', '.join(f'{r:.3f}' for r in runs)}; CPU {cpu_s:.3f} s); {len(report)} accounts "
          f"scored, {report.tier_counts()}")

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    scored = model.score(ds, AS_OF)
    peak = tracemalloc.get_traced_memory()[1] - base
    kept = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del scored
    print(f"peak memory of one scoring run: {peak / 1e6:.0f} MB = {peak / array_bytes:.2f}x the "
          f"dataset's arrays ({kept / 1e6:.0f} MB kept by the report)")

    small = generate(n_loop, seed=args.seed + 1)
    engine_small = model.score(small, AS_OF)
    engine_small_s, _ = median_seconds(lambda: model.score(small, AS_OF), args.repeats)
    as_of_dt = datetime.fromisoformat(AS_OF.replace("Z", "+00:00"))
    records = small.to_records()
    loop_result: list[tuple[list[str], list[float]]] = []
    loop_s, loop_runs, loop_cpu_s = timed(
        lambda: loop_result.append(records_loop_scores(*records, as_of_dt)), args.repeats
    )
    loop_ids, loop_values = loop_result[-1]
    same_ids = loop_ids == engine_small.customer_ids.tolist()
    max_diff = (
        float(np.max(np.abs(np.array(loop_values) - engine_small.score))) if same_ids else math.inf
    )
    t0 = time.perf_counter()
    tuned_ids, tuned_values = loop_scores(small)
    tuned_s = time.perf_counter() - t0
    tuned_same = tuned_ids == loop_ids and bool(
        np.allclose(tuned_values, loop_values, rtol=0, atol=1e-9)
    )
    per_loop = loop_s / max(1, len(loop_ids))
    per_tuned = tuned_s / max(1, len(tuned_ids))
    per_engine = median_s / max(1, len(report))
    speedup = per_loop / per_engine
    speedup_cpu = (loop_cpu_s / max(1, len(loop_ids))) / (cpu_s / max(1, len(report)))
    print(
        f"loop baseline (records, datetime arithmetic) at {n_loop} customers: median of "
        f"{args.repeats} {loop_s:.2f} s "
        f"({per_loop * 1e6:.1f} us/account); engine {per_engine * 1e6:.2f} us/account at {n} "
        f"-> {speedup:.0f}x per account (CPU time: {speedup_cpu:.0f}x); loop == engine: "
        f"{same_ids} (max |diff| {max_diff:.1e})"
    )
    print(
        f"tuned loop (pre-extracted int lists): {tuned_s:.2f} s ({per_tuned * 1e6:.1f} "
        f"us/account) -> {per_tuned / per_engine:.0f}x; engine at {n_loop}: "
        f"{engine_small_s:.3f} s; same scores: {tuned_same}"
    )

    result: dict[str, Any] = {
        "customers": n,
        "events": len(ds.events),
        "accounts_scored": len(report),
        "rules": list(model.rule_names),
        "playbooks": [p.name for p in model.playbooks],
        "dataset_array_bytes": array_bytes,
        "generate_seconds": generate_s,
        "score_cold_seconds": cold_s,
        "score_seconds_runs": runs,
        "score_seconds_median": median_s,
        "score_cpu_seconds_median": cpu_s,
        "peak_memory_bytes": peak,
        "peak_memory_ratio": peak / array_bytes,
        "report_bytes": kept,
        "loop_customers": n_loop,
        "loop_accounts": len(loop_ids),
        "loop_seconds": loop_s,
        "loop_seconds_runs": loop_runs,
        "loop_matches_engine": bool(same_ids and max_diff < 1e-9),
        "loop_max_abs_diff": max_diff,
        "tuned_loop_seconds": tuned_s,
        "tuned_loop_matches": tuned_same,
        "per_account_us_tuned_loop": per_tuned * 1e6,
        "speedup_per_account_vs_tuned_loop": per_tuned / per_engine,
        "engine_seconds_at_loop_size": engine_small_s,
        "per_account_us_loop": per_loop * 1e6,
        "per_account_us_engine": per_engine * 1e6,
        "speedup_per_account": speedup,
        "loop_cpu_seconds": loop_cpu_s,
        "speedup_per_account_cpu": speedup_cpu,
        "score_one_events": len(events),
        "score_one_ms_median": one_s * 1e3,
        "score_one_ms_p10": one_p10 * 1e3,
        "score_one_cpu_ms_median": one_cpu * 1e3,
        "from_records_and_score_ms_median": general_s * 1e3,
        "score_one_calls": calls,
        "tier_counts": report.tier_counts(),
    }
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    name = "bench_health.quick.json" if args.quick else "bench_health.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
