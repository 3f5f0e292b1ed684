"""backtest and roc_auc: hand-worked AUC, point in time, tiers on the demo data."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event, Registry, Subscription, ValidationError
from custsuccess.demo import generate
from custsuccess.health import BacktestResult, HealthModel, backtest, roc_auc
from custsuccess.health.rules import RecencyRule

UTC = timezone.utc
AS_OF = datetime(2024, 7, 1, tzinfo=UTC)


def test_roc_auc_hand_worked() -> None:
    # non-churners at risk 10 and 30, churners at 20, 40, 50: pairs (churner above
    # non-churner): 20>10, 40>10, 40>30, 50>10, 50>30 = 5 of 6
    assert roc_auc([False, True, False, True, True], [10, 20, 30, 40, 50]) == pytest.approx(5 / 6)
    # a tie counts half: churner 20 vs non-churner 20 -> (1 + 0.5) / 2
    assert roc_auc([True, False, False], [20, 20, 10]) == pytest.approx(0.75)
    assert roc_auc([True, True, False, False], [4, 3, 2, 1]) == 1.0
    assert roc_auc([True, True, False, False], [1, 2, 3, 4]) == 0.0
    assert math.isnan(roc_auc([True, True], [1, 2]))
    with pytest.raises(ValidationError, match="1-D of one length"):
        roc_auc([True], [1, 2])
    with pytest.raises(ValidationError, match="risk must hold finite numbers, got nan at pos"):
        roc_auc([True, False], [1, np.nan])


def test_roc_auc_matches_pairwise_counting() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.3
    r = rng.integers(0, 20, 300).astype(float)  # many ties
    pos, neg = r[y], r[~y]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert roc_auc(y, r) == pytest.approx(pairs / (y.sum() * (~y).sum()))


def dataset(cancel_later: bool) -> Dataset:
    """Four paying accounts; two are silent (recency 0) and churn within 90 days."""
    t0 = AS_OF - timedelta(days=300)
    customers = [Customer(c, t0) for c in ("active1", "active2", "silent1", "silent2")]
    end = AS_OF + timedelta(days=30)
    subs = [
        Subscription("s1", "active1", "pro", 10.0, "USD", t0),
        Subscription("s2", "active2", "pro", 10.0, "USD", t0,
                     AS_OF + timedelta(days=20) if cancel_later else None),
        Subscription("s3", "silent1", "pro", 10.0, "USD", t0, end),
        Subscription("s4", "silent2", "pro", 10.0, "USD", t0, end),
    ]
    events = [
        Event("active1", "login", AS_OF - timedelta(hours=1)),
        Event("active2", "login", AS_OF - timedelta(hours=2)),
        Event("silent1", "login", AS_OF - timedelta(days=60)),
        Event("silent2", "login", AS_OF - timedelta(days=45)),
        Event("active1", "login", AS_OF + timedelta(days=120)),  # the data runs past the horizon
    ]
    return Dataset.from_records(customers, subs, events)


def test_backtest_hand_worked_and_point_in_time() -> None:
    model = HealthModel([RecencyRule()])
    result = backtest(model, dataset(cancel_later=False), AS_OF, 90)
    assert isinstance(result, BacktestResult)
    assert result.n_accounts == 4
    assert result.n_churned == 2
    # recency: active accounts 100 (good), silent ones 0 (poor), and they churn
    assert result.auc == 1.0
    assert result.tiers["good"] == {"accounts": 2, "churned": 0, "churn_rate": 0.0}
    assert result.tiers["poor"] == {"accounts": 2, "churned": 2, "churn_rate": 1.0}
    assert math.isnan(result.tiers["average"]["churn_rate"])
    assert result.lift == math.inf
    assert result.churned.tolist() == [False, False, True, True]
    # a cancellation after as_of changes the labels, never the scores
    later = backtest(model, dataset(cancel_later=True), AS_OF, 90)
    np.testing.assert_array_equal(later.report.score, result.report.score)
    np.testing.assert_array_equal(later.report.rule_scores, result.report.rule_scores)
    # pairs (churner, non-churner active1): active2 ties at 100 (half), the silent
    # ones are riskier (1 each): 2.5 / 3
    assert later.n_churned == 3
    assert later.auc == pytest.approx(2.5 / 3)
    assert later.tiers["good"]["churn_rate"] == 0.5
    assert later.lift == 2.0
    text = str(later)
    assert "ROC AUC 0.833" in text
    assert "lift poor/good 2.00" in text
    assert later.to_dict()["n_churned"] == 3


def test_backtest_errors() -> None:
    model = HealthModel([RecencyRule()])
    ds = dataset(cancel_later=False)
    with pytest.raises(ValidationError, match="after the last moment in the data"):
        backtest(model, ds, AS_OF, 200)
    with pytest.raises(ValidationError, match="horizon_days must be a number > 0, got 0"):
        backtest(model, ds, AS_OF, 0)
    with pytest.raises(ValidationError, match="pass the full dataset"):
        backtest(model, ds.until(AS_OF + timedelta(days=10)), AS_OF, 90)
    with pytest.raises(ValidationError, match="model must be a HealthModel"):
        backtest("model", ds, AS_OF, 90)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="dataset must be a custsuccess Dataset"):
        backtest(model, "ds", AS_OF, 90)  # type: ignore[arg-type]


def test_on_demo_data_poor_churns_more_than_good() -> None:
    ds = generate(8000, seed=0)
    model = HealthModel.default(Registry(entry_points=False))
    result = backtest(model, ds, "2026-07-01T00:00:00Z", 90)
    assert result.n_accounts > 3000
    assert result.n_churned > 100
    good, poor = result.tiers["good"]["churn_rate"], result.tiers["poor"]["churn_rate"]
    assert poor > good
    assert result.lift > 1.5
    assert result.auc > 0.55
