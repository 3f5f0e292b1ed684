"""A seeded simulation of a social-network product with its own event kinds.

Used by the tests and ``benchmarks/bench_health_learn.py`` to check that the default and
learned health models work on a product they were not written for. Accounts emit eight
custom kinds (``post``, ``comment``, ``like``, ``message``, ``share``, ``friend_add``
which users like, ``ad_click`` and ``report_spam`` which mark a bad experience); each
account has its own rate per kind that drifts month to month. Each day the account
churns with a hazard that falls with how much of the good behaviours it did in the last
four weeks, rises with the bad ones, and is higher for young accounts, with noise: so churn
depends on how much of each behaviour an account does, not only on whether it was active.
"""

from __future__ import annotations

import numpy as np

from custsuccess import Dataset

KINDS = ("post", "comment", "like", "message", "share", "friend_add", "ad_click", "report_spam")
# effect of log1p(events of the kind in the last 28 days) on the daily churn log-hazard
EFFECT = np.array([-0.25, -0.15, -0.10, -0.30, -0.05, -0.20, 0.25, 0.45])
# median events a day of a typical account, per kind
RATE = np.array([0.15, 0.25, 1.0, 0.5, 0.08, 0.04, 0.05, 0.01])
START = np.datetime64("2024-01-01T00:00:00", "us")
DAY_US = 86_400_000_000


def simulate(n_accounts: int = 2000, days: int = 540, seed: int = 0) -> Dataset:
    """``n_accounts`` accounts over ``days`` days from 2024-01-01; one subscription each
    from signup until churn (or still running at the end)."""
    rng = np.random.default_rng(seed)
    k = len(KINDS)
    signup = np.floor(rng.random(n_accounts) ** 0.7 * (days - 60)).astype(np.int64)
    # per-account taste: a shared engagement level and per-kind deviations
    level = rng.normal(0.0, 0.7, n_accounts)
    taste = rng.normal(0.0, 0.6, (n_accounts, k))
    log_rate = np.log(RATE)[None, :] + level[:, None] * np.where(EFFECT < 0, 1.0, -0.3) + taste
    alive = np.ones(n_accounts, dtype=bool)
    churn_day = np.full(n_accounts, -1, dtype=np.int64)
    window = np.zeros((28, n_accounts, k))  # counts of the last 28 days, ring buffer
    cust_parts, kind_parts, day_parts = [], [], []
    base = np.log(0.0025)
    for d in range(days):
        # monthly drift of each account's rates
        if d % 30 == 0:
            log_rate += rng.normal(0.0, 0.25, (n_accounts, k))
        live = alive & (signup <= d)
        counts = rng.poisson(np.exp(log_rate) * live[:, None])
        window[d % 28] = counts
        who, kind = np.nonzero(counts)
        reps = counts[who, kind]
        cust_parts.append(np.repeat(who, reps))
        kind_parts.append(np.repeat(kind, reps))
        day_parts.append(np.full(int(reps.sum()), d))
        recent = np.log1p(window.sum(axis=0))
        age = d - signup
        young = 1.2 * np.exp(-np.maximum(age, 0) / 60.0)
        hazard = np.exp(base + recent @ EFFECT + young + rng.normal(0.0, 0.3, n_accounts))
        leaving = live & (age >= 7) & (rng.random(n_accounts) < hazard)
        alive &= ~leaving
        churn_day[leaving] = d
    cust = np.concatenate(cust_parts)
    kind = np.concatenate(kind_parts)
    day = np.concatenate(day_parts)
    time = START + (day * DAY_US + rng.integers(0, DAY_US, day.size)).astype("timedelta64[us]")
    ids = np.array([f"u{i:06d}" for i in range(n_accounts)])
    created = START + (signup * DAY_US).astype("timedelta64[us]")
    ended = np.where(
        churn_day >= 0,
        START + ((churn_day + 1) * DAY_US).astype("timedelta64[us]"),
        np.datetime64("NaT", "us"),
    )
    end = START + np.timedelta64(days * DAY_US, "us")
    ds = Dataset.from_columns(
        customers={"id": ids, "created_at": created},
        subscriptions={
            "id": np.array([f"s{i:06d}" for i in range(n_accounts)]),
            "customer_id": ids,
            "plan": np.full(n_accounts, "premium"),
            "mrr": np.full(n_accounts, 9.99),
            "currency": np.full(n_accounts, "USD"),
            "started_at": created,
            "ended_at": ended,
        },
        events={"customer_id": ids[cust], "kind": np.array(KINDS)[kind], "occurred_at": time},
    )
    return ds.with_observation_end(end)


def observation_dates(days: int = 540, horizon: int = 60) -> tuple[list[str], list[str]]:
    """Training dates (monthly, earlier) and test dates (later, horizon inside the data)."""
    last = days - horizon - 1
    test = [last - 60, last - 30, last]
    train = list(range(120, test[0] - horizon, 30))
    iso = [str(START + np.timedelta64(d * DAY_US, "us")) + "Z" for d in train + test]
    return iso[: len(train)], iso[len(train):]


__all__ = ["KINDS", "observation_dates", "simulate"]
