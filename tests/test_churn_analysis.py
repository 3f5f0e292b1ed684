"""Churn analysis tables: reason distribution, tenure by reason, the inactivity profile and
churn by segment or plan, on hand-worked data and against numpy's own quantiles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Event, Subscription, ValidationError
from custsuccess.churn import (
    GivenReason,
    churn_by,
    inactivity_profile,
    reason_distribution,
    records,
    tenure_by_reason,
)
from custsuccess.churn._examples import small_dataset
from custsuccess.demo import generate

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = datetime(2024, 12, 31, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def four_churners() -> Dataset:
    """Reasons price, price, bugs, none; MRR 10, 30, 20, 40; tenure 10, 20, 30, 40 days."""
    rows = [("a", "price", 10.0), ("b", "price", 30.0), ("c", "bugs", 20.0), ("d", None, 40.0)]
    customers = [Customer(c, T0) for c, _, _ in rows]
    subs = [
        Subscription(f"s{c}", c, "pro", mrr, "USD", T0, day(10 * (i + 1)), cancel_reason=reason)
        for i, (c, reason, mrr) in enumerate(rows)
    ]
    return Dataset.from_records(customers, subs)


def test_reason_distribution_by_hand() -> None:
    dist = reason_distribution(records(four_churners(), AS_OF, classifiers=[GivenReason()]))
    assert dist.to_records() == [
        {"reason": "price", "count": 2, "share": 0.5, "mrr_lost": 40.0, "mrr_share": 0.4},
        {"reason": "bugs", "count": 1, "share": 0.25, "mrr_lost": 20.0, "mrr_share": 0.2},
        {"reason": "unclassified", "count": 1, "share": 0.25, "mrr_lost": 40.0, "mrr_share": 0.4},
    ]
    assert len(dist) == 3


def test_tables_to_pandas() -> None:
    pytest.importorskip("pandas")
    recs = records(four_churners(), AS_OF, classifiers=[GivenReason()])
    frame = reason_distribution(recs).to_pandas()
    assert frame.columns.tolist() == ["reason", "count", "share", "mrr_lost", "mrr_share"]
    assert frame["count"].tolist() == [2, 1, 1]


def test_tenure_by_reason_by_hand() -> None:
    table = tenure_by_reason(records(four_churners(), AS_OF, classifiers=[GivenReason()]))
    assert table.reason.tolist() == ["bugs", "price", "unclassified"]
    assert table.count.tolist() == [1, 2, 1]
    # price: tenures 10 and 20 -> q1 = 10 + 0.25 * 10, median 15, q3 17.5.
    assert table.q1.tolist() == [30.0, 12.5, 40.0]
    assert table.median.tolist() == [30.0, 15.0, 40.0]
    assert table.q3.tolist() == [30.0, 17.5, 40.0]
    assert table.mean.tolist() == [30.0, 15.0, 40.0]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_tenure_quantiles_equal_numpys(seed: int) -> None:
    recs = records(
        generate(300, seed=seed % 7), "2026-09-01T00:00:00Z", classifiers=[GivenReason()]
    )
    table = tenure_by_reason(recs)
    labels = recs.reason.decode()
    for row in table.to_records():
        values = recs.tenure_days[labels == row["reason"]]
        q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
        assert (row["q1"], row["median"], row["q3"]) == pytest.approx((q1, median, q3), rel=1e-12)
        assert row["count"] == values.size
    dist = reason_distribution(recs)
    assert sum(dist.count.tolist()) == len(recs)
    assert sum(dist.share.tolist()) == pytest.approx(1.0)
    assert sum(dist.mrr_lost.tolist()) == pytest.approx(float(recs.mrr_lost.sum()))


def test_inactivity_profile_by_hand() -> None:
    # Churners' gaps: acme 11, bolt 45, dune 60 days; retained: cove 8 (last use Dec 23),
    # echo 365 (no activity since its first start, Jan 1).
    profile = inactivity_profile(small_dataset(), AS_OF, thresholds=[7, 30, 50, 100])
    assert profile.churned_share.tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    assert profile.retained_share.tolist() == [1.0, 0.5, 0.5, 0.5]
    assert profile.lift.tolist() == pytest.approx([1.0, 4 / 3, 2 / 3, 0.0])
    assert (profile.churned, profile.retained) == (3, 2)
    churn = records(small_dataset(), AS_OF)
    again = inactivity_profile(small_dataset(), AS_OF, thresholds=[7, 30, 50, 100], churn=churn)
    assert again.to_records() == profile.to_records()


def test_inactivity_profile_counts_activity_up_to_as_of() -> None:
    ds = Dataset.from_records(
        [Customer("a", T0)],
        [Subscription("s", "a", "pro", 1.0, "USD", T0)],
        [Event("a", "login", day(100)), Event("a", "login", day(300))],
    )
    profile = inactivity_profile(ds, day(130), thresholds=[29, 30, 31])
    assert profile.retained_share.tolist() == [1.0, 1.0, 0.0]  # the day-300 login is unseen
    assert np.isnan(profile.churned_share).all()  # no churner yet


def test_churn_by_segment_and_plan_by_hand() -> None:
    ds = small_dataset()
    by_plan = churn_by(ds, AS_OF, by="plan")
    assert by_plan.to_records() == [
        {
            "group": "basic",
            "customers": 3,
            "churned": 2,
            "churn_rate": 2 / 3,
            "mrr_lost": 70.0,
            "mrr_retained": 30.0,
        },
        {
            "group": "pro",
            "customers": 2,
            "churned": 1,
            "churn_rate": 0.5,
            "mrr_lost": 100.0,
            "mrr_retained": 100.0,
        },
    ]
    since = churn_by(ds, AS_OF, by="plan", since="2024-06-01T00:00:00Z")  # bolt left before
    assert since.customers.tolist() == [2, 2]
    assert since.churned.tolist() == [1, 1]
    by_segment = churn_by(ds, AS_OF)
    assert by_segment.by == "segment"
    assert by_segment.group.tolist() == ["enterprise", "smb"]


def test_missing_labels_are_grouped_as_none() -> None:
    ds = Dataset.from_records(
        [Customer("a", T0), Customer("b", T0, segment="smb")],
        [
            Subscription("sa", "a", "pro", 5.0, "USD", T0, day(10)),
            Subscription("sb", "b", "pro", 5.0, "USD", T0),
        ],
    )
    table = churn_by(ds, AS_OF)
    assert table.group.tolist() == ["smb", "(none)"]
    assert table.churned.tolist() == [0, 1]


def test_empty_tables() -> None:
    recs = records(small_dataset(), "2023-01-01T00:00:00Z")
    assert len(reason_distribution(recs)) == 0
    assert len(tenure_by_reason(recs)) == 0
    assert len(churn_by(small_dataset(), "2023-01-01T00:00:00Z")) == 0


def test_analysis_errors() -> None:
    ds = small_dataset()
    with pytest.raises(ValidationError, match=r"by must be 'segment' or 'plan', got 'country'"):
        churn_by(ds, AS_OF, by="country")
    with pytest.raises(ValidationError, match=r"since 2025-01-01T00:00:00.000000 is after as_of"):
        churn_by(ds, AS_OF, since="2025-01-01T00:00:00Z")
    with pytest.raises(ValidationError, match=r"thresholds must be a non-empty list of finite"):
        inactivity_profile(ds, AS_OF, thresholds=[-1])
    with pytest.raises(ValidationError, match=r"thresholds must be a non-empty list"):
        inactivity_profile(ds, AS_OF, thresholds=[])
    with pytest.raises(ValidationError, match=r"churn records are as of 2024-06-01"):
        inactivity_profile(ds, AS_OF, churn=records(ds, "2024-06-01T00:00:00Z"))
