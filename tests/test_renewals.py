"""Upcoming renewals with health, churn probability and revenue at risk, by hand."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event, Subscription, ValidationError
from custsuccess.health import HealthModel, HealthReport
from custsuccess.health.rules import RecencyRule
from custsuccess.metrics.renewals import churn_probability_of, upcoming_renewals

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=300)


def d(n: float) -> datetime:
    return AS_OF + timedelta(days=n)


def book() -> Dataset:
    """Renewals 30 days out (a, annual 12,000), 90 days (b, exactly the window's end),
    91 days (c, outside), today (d, not upcoming), 10 days (e, but cancelled), none (f)."""
    customers = [
        Customer("a", T0, owner="ann", segment="ent"),
        Customer("b", T0, owner="bob", segment="smb"),
        Customer("c", T0, owner="ann"),
        Customer("d", T0, owner="ann"),
        Customer("e", T0, owner="bob"),
        Customer("f", T0),
    ]
    subs = [
        Subscription.from_amount("sa", "a", "pro", 12_000, "USD", T0, billing_interval="year",
                                 renews_at=d(30), auto_renew=False),
        Subscription.from_amount("sb", "b", "pro", 600, "USD", T0, billing_interval="quarter",
                                 renews_at=d(90)),
        Subscription("sc", "c", "pro", 50.0, "USD", T0, renews_at=d(91)),
        Subscription("sd", "d", "pro", 50.0, "USD", T0, renews_at=d(0)),
        Subscription("se", "e", "pro", 70.0, "USD", T0, d(-5), renews_at=d(10)),
        Subscription("sf", "f", "pro", 20.0, "USD", T0),
    ]
    # last logins: a 30 days ago (recency 0, poor), b today (100, good)
    events = [Event("a", "login", d(-30)), Event("b", "login", d(0))]
    return Dataset.from_records(customers, subs, events)


def report() -> HealthReport:
    """Scores a, b, c, d, f (e's subscription ended before AS_OF)."""
    return HealthModel([RecencyRule()]).score(book(), AS_OF)


def test_the_window_is_half_open_and_running_subscriptions_only() -> None:
    r = upcoming_renewals(report(), within_days=90)
    assert r.subscription_ids.tolist() == ["sa", "sb"]  # c: 91 days; d: today; e: ended
    assert r.days_to_renewal.tolist() == [30.0, 90.0]
    assert r.mrr.tolist() == [1000.0, 200.0]
    assert r.amount.tolist() == [12_000.0, 600.0]
    assert r.auto_renew.tolist() == [False, True]
    assert r.tier.tolist() == ["poor", "good"]
    assert r.owner.tolist() == ["ann", "bob"]
    assert r.mrr_poor == 1000.0
    assert upcoming_renewals(report(), within_days=91).subscription_ids.tolist() == [
        "sa", "sb", "sc"]


def test_without_a_churn_probability_revenue_at_risk_is_unknown_not_zero() -> None:
    r = upcoming_renewals(report())
    assert np.isnan(r.churn_probability).all()
    assert np.isnan(r.revenue_at_risk).all()
    assert math.isnan(r.total_revenue_at_risk())


def test_revenue_at_risk_is_mrr_times_churn_probability() -> None:
    rep = report()
    p = np.zeros(len(rep))
    p[rep.row("a")], p[rep.row("b")] = 0.4, 0.05
    r = upcoming_renewals(rep, churn_probability=p)
    assert r.revenue_at_risk.tolist() == pytest.approx([1000 * 0.4, 200 * 0.05])
    assert r.total_revenue_at_risk() == pytest.approx(410.0)
    owners = r.by_owner()
    assert owners.keys.tolist() == ["ann", "bob"]
    assert owners.revenue_at_risk.tolist() == pytest.approx([400.0, 10.0])
    assert owners.mrr_poor.tolist() == [1000.0, 0.0]
    segments = r.by_segment()
    assert segments.keys.tolist() == ["ent", "smb"]
    assert segments.renewals.tolist() == [1, 1]


def test_the_reports_own_churn_probability_is_used_when_present() -> None:
    rep = report()
    assert rep.churn_probability is None  # a model of weighted rules has none
    learned = attrs.evolve(rep, churn_probability=np.full(len(rep), 0.5))
    r = upcoming_renewals(learned)
    assert r.revenue_at_risk.tolist() == pytest.approx([500.0, 100.0])
    # an explicit probability wins over the report's
    assert churn_probability_of(learned, [0.1] * len(rep)).tolist() == [0.1] * len(rep)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"within_days": 0}, r"within_days must be a whole number > 0, got 0"),
        ({"within_days": 7.5}, r"within_days must be a whole number > 0, got 7.5"),
        ({"churn_probability": [0.5]}, r"one value per report row \(5\), got shape \(1,\)"),
        ({"churn_probability": [0.5, 0.5, 1.5, 0, 0]},
         r"churn_probability of customer 'c' must be in \[0, 1\], got 1.5"),
        ({"churn_probability": ["x"] * 5}, r"churn_probability must hold numbers"),
    ],
)
def test_bad_input_is_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        upcoming_renewals(report(), **kwargs)


def test_renewals_of_accounts_without_an_owner_group_last_under_none() -> None:
    t = T0
    ds = Dataset.from_records(
        [Customer("a", t, owner="zoe"), Customer("b", t)],
        [Subscription("sa", "a", "p", 10.0, "USD", t, renews_at=d(10)),
         Subscription("sb", "b", "p", 30.0, "USD", t, renews_at=d(20))],
    )
    r = upcoming_renewals(HealthModel([RecencyRule()]).score(ds, AS_OF))
    owners = r.by_owner()
    assert owners.keys.tolist() == ["zoe", None]
    assert owners.mrr.tolist() == [10.0, 30.0]
