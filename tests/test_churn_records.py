"""Churn records: who churned and when, tenure, engagement trend, inactivity gap, MRR lost,
point-in-time correctness, batch == single account, and the exports."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Event, Subscription, ValidationError
from custsuccess.churn import UNCLASSIFIED, records
from custsuccess.churn._examples import small_dataset
from custsuccess.demo import generate
from custsuccess.plugins import Registry

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = datetime(2024, 12, 31, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def login(customer: str, at: datetime) -> Event:
    return Event(customer, "login", at)


def trend_dataset() -> Dataset:
    """Hand-made lifetimes whose engagement figures are worked out in the tests."""
    customers = [
        Customer(c, T0, segment=s)
        for c, s in (
            ("a", "smb"),
            ("b", "smb"),
            ("c", "ent"),
            ("d", "ent"),
            ("e", None),
            ("f", "smb"),
        )
    ]
    subscriptions = [
        # a: 84 days = 12 whole weeks, weekly logins 3,3,3,2,2,2,1,1,1,0,0,0.
        Subscription("a1", "a", "pro", 100.0, "USD", T0, day(84)),
        # b: 200 days; 20 logins in the first 110 days, 9 in the last 90.
        Subscription("b1", "b", "basic", 40.0, "USD", T0, day(200)),
        # c: switched plan at day 50 (pro 100 -> basic 60), churned at day 120.
        Subscription("c1", "c", "pro", 100.0, "USD", T0, day(50)),
        Subscription("c2", "c", "basic", 60.0, "EUR", day(50), day(120)),
        # d: cancelled at day 30, came back at day 60 and is active: not churned.
        Subscription("d1", "d", "pro", 100.0, "USD", T0, day(30)),
        Subscription("d2", "d", "pro", 100.0, "USD", day(60)),
        # e: two subscriptions ending together at day 100 (40 + 10 MRR lost).
        Subscription("e1", "e", "pro", 40.0, "USD", T0, day(100)),
        Subscription("e2", "e", "addon", 10.0, "USD", day(10), day(100)),
        # f: ends after as_of: still a customer as of AS_OF.
        Subscription("f1", "f", "pro", 10.0, "USD", T0, day(400)),
    ]
    weekly = [3, 3, 3, 2, 2, 2, 1, 1, 1, 0, 0, 0]
    events = [login("a", day(7 * w + 0.5 + k)) for w, n in enumerate(weekly) for k in range(n)]
    events += [login("b", day(5 * k + 1)) for k in range(20)]  # days 1..96
    events += [login("b", day(110 + 10 * k + 0.5)) for k in range(9)]  # days 110.5..190.5
    events += [login("b", day(250))]  # after churn: ignored
    events += [login("c", day(118))]
    return Dataset.from_records(customers, subscriptions, events)


def test_who_churned_when_and_for_how_much() -> None:
    recs = records(trend_dataset(), AS_OF, classifiers=())
    assert recs.customer_id.tolist() == ["a", "b", "c", "e"]
    assert recs.churned_at.tolist() == [
        np.datetime64(day(n).replace(tzinfo=None), "us").item() for n in (84, 200, 120, 100)
    ]
    assert recs.tenure_days.tolist() == [84.0, 200.0, 120.0, 100.0]
    assert recs.mrr_lost.tolist() == [100.0, 40.0, 60.0, 50.0]
    assert recs.plan.decode().tolist() == ["pro", "basic", "basic", "addon"]  # latest-started
    assert recs.currency.decode().tolist() == ["USD", "USD", "EUR", "USD"]
    assert recs.segment.decode().tolist() == ["smb", "smb", "ent", None]
    assert recs.reason.decode().tolist() == [UNCLASSIFIED] * 4
    assert recs.classifier.decode().tolist() == [UNCLASSIFIED] * 4
    assert [recs.evidence.format(i) for i in range(4)] == [None] * 4


def test_engagement_trend_worked_by_hand() -> None:
    recs = records(trend_dataset(), AS_OF, classifiers=())
    # a: 12 weeks, x = 0..11 (mean 5.5), Sxx = 12 * (144 - 1) / 12 = 143,
    # Sxy = 3(-5.5-4.5-3.5) + 2(-2.5-1.5-0.5) + 1(0.5+1.5+2.5) = -40.5 - 9 + 4.5 = -45.
    assert recs.activity_slope[0] == pytest.approx(-45 / 143, abs=1e-12)
    assert recs.activity_slope[0] == pytest.approx(
        np.polyfit(np.arange(12), [3, 3, 3, 2, 2, 2, 1, 1, 1, 0, 0, 0], 1)[0]
    )
    # a's tenure is shorter than 90 days: the recent window is the whole lifetime.
    assert recs.lifetime_activity_rate[0] == pytest.approx(18 / 84)
    assert recs.recent_vs_lifetime[0] == pytest.approx(1.0)
    # b: 29 logins in 200 days, 9 in the last 90.
    assert recs.lifetime_activity_rate[1] == pytest.approx(29 / 200)
    assert recs.recent_activity_rate[1] == pytest.approx(9 / 90)
    assert recs.recent_vs_lifetime[1] == pytest.approx((9 / 90) / (29 / 200))
    # b: 28 whole weeks ending at day 200 start at day 4 (the login at day 1 is outside).
    weeks = np.zeros(28)
    for t in [5 * k + 1 for k in range(20)] + [110 + 10 * k + 0.5 for k in range(9)]:
        if t >= 4:
            weeks[int((t - 4) // 7)] += 1
    assert recs.activity_slope[1] == pytest.approx(np.polyfit(np.arange(28), weeks, 1)[0])
    # e: no activity at all: a flat zero line has slope 0; the rates' ratio is undefined.
    assert recs.activity_slope[3] == 0.0
    assert np.isnan(recs.recent_vs_lifetime[3])


def test_inactivity_gap_before_cancelling() -> None:
    recs = records(trend_dataset(), AS_OF, classifiers=())
    # a: last login in week 8 at day 56.5 + 0 -> 84 - 56.5 = 27.5 days.
    assert recs.inactivity_days[0] == pytest.approx(84 - 56.5)
    assert recs.inactivity_days[1] == pytest.approx(200 - 190.5)  # the day-250 login is after
    assert recs.inactivity_days[2] == pytest.approx(2.0)
    assert recs.inactivity_days[3] == pytest.approx(100.0)  # never active: since the start
    assert np.isnat(recs.last_activity_at[3])


def test_point_in_time_nothing_after_as_of_is_read() -> None:
    ds = trend_dataset()
    early = records(ds, day(150), classifiers=())
    assert early.customer_id.tolist() == ["a", "c", "e"]  # b still active on day 150
    assert records(ds, day(84), classifiers=()).customer_id.tolist() == ["a"]  # ended at as_of
    assert records(ds, day(84) - timedelta(microseconds=1), classifiers=()).customer_id.size == 0
    # d churned between day 30 and day 60 (before it came back).
    assert "d" in records(ds, day(45), classifiers=()).customer_id.tolist()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 50), offset=st.integers(100, 1000))
def test_records_equal_those_of_a_dataset_truncated_at_as_of(seed: int, offset: int) -> None:
    ds = generate(150, seed=seed)
    as_of = np.datetime64("2023-11-01T00:00:00", "us") + np.timedelta64(offset, "D")
    truncated = Dataset.from_columns(**ds.until(as_of).to_columns())
    assert records(ds, as_of).to_records() == records(truncated, as_of).to_records()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 50))
def test_batch_equals_single_account(seed: int) -> None:
    ds = generate(80, seed=seed)
    as_of = "2026-10-01T00:00:00Z"
    batch = records(ds, as_of).to_records()
    assert batch
    for row in batch[:12]:
        single = records(ds.customer(row["customer_id"]), as_of).to_records()
        assert single == [row]


def test_exports() -> None:
    recs = records(small_dataset(), AS_OF)
    rows = recs.to_records()
    json.dumps(rows)  # JSON-ready
    assert rows[0]["churned_at"] == "2024-07-01T00:00:00.000000Z"
    assert rows[0]["evidence"] == "the customer gave the reason 'too expensive' when cancelling"
    assert rows[1]["activity_slope"] is not None
    assert len(recs) == 3
    assert "rows=3" in repr(recs)
    pd = pytest.importorskip("pandas")
    frame = recs.to_pandas()
    assert list(frame.columns) == list(rows[0])
    assert str(frame["churned_at"].dt.tz) == "UTC"
    assert isinstance(frame["reason"].dtype, pd.CategoricalDtype)
    assert frame["customer_id"].tolist() == ["acme", "bolt", "dune"]
    assert recs.take(np.array([2])).customer_id.tolist() == ["dune"]


def test_empty_records() -> None:
    recs = records(small_dataset(), "2023-01-01T00:00:00Z")
    assert len(recs) == 0
    assert recs.to_records() == []


def test_bad_arguments() -> None:
    ds = small_dataset()
    with pytest.raises(ValidationError, match=r"recent_days must be a number > 0, got 0"):
        records(ds, AS_OF, recent_days=0)
    with pytest.raises(ValidationError, match=r"activity_kinds must name at least one event kind"):
        records(ds, AS_OF, activity_kinds=())
    with pytest.raises(ValidationError, match=r"as_of must be timezone-aware"):
        records(ds, datetime(2024, 1, 1))
    registry = Registry(entry_points=False)
    with pytest.raises(ValidationError, match=r"either registry= or classifiers="):
        records(ds, AS_OF, classifiers=(), registry=registry)
