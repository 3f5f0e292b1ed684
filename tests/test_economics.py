"""Funnel and retention economics, by hand."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from custsuccess import Customer, Dataset, Event, Subscription, ValidationError
from custsuccess.metrics import compute
from custsuccess.metrics.economics import (
    AverageOrderValue,
    average_order_value,
    cac_payback_months,
    funnel_conversion,
    ltv_to_cac,
    retention_what_if,
    revenue_concentration,
)

UTC = timezone.utc
T = datetime(2024, 1, 1, tzinfo=UTC)


def d(n: float) -> datetime:
    return T + timedelta(days=n)


def funnel_data() -> Dataset:
    customers = [Customer(c, d(0)) for c in "abcdef"]
    subs = [Subscription("sa", "a", "p", 10.0, "USD", d(4)),
            Subscription("sc", "c", "p", 10.0, "USD", d(6)),
            Subscription("se", "e", "p", 10.0, "USD", d(1))]
    events = [
        Event("a", "email_open", d(1)), Event("a", "page_view", d(2)),
        Event("a", "purchase", d(10), value=30),
        Event("b", "email_open", d(1)), Event("b", "page_view", d(3)),
        Event("c", "email_open", d(2)), Event("c", "page_view", d(5)),
        Event("d", "email_open", d(1)),
        Event("e", "page_view", d(3)),  # never opened an email: out at stage 2
    ]
    return Dataset.from_records(customers, subs, events)


def test_funnel_by_hand() -> None:
    f = funnel_conversion(funnel_data(),
                          ["signup", "email_open", "page_view", "subscribed", "purchase"])
    # 6 signups; a b c d opened; a b c viewed; a (day 4) and c (day 6) subscribed after
    # viewing; a purchased after subscribing
    assert f.reached.tolist() == [6, 4, 3, 2, 1]
    assert f.step_conversion.tolist() == pytest.approx([1, 4 / 6, 3 / 4, 2 / 3, 1 / 2])
    assert f.overall_conversion.tolist() == pytest.approx([1, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert f.to_frame().loc["subscribed", "reached"] == 2


def test_funnel_order_matters_and_bad_stages_are_named() -> None:
    # e subscribed on day 1, before its page view on day 3
    f = funnel_conversion(funnel_data(), ["page_view", "subscribed"])
    assert f.reached.tolist() == [4, 2]
    with pytest.raises(ValidationError, match=r"stages must be a non-empty list"):
        funnel_conversion(funnel_data(), "signup")
    with pytest.raises(ValidationError, match=r"stages\[1\] must be a stage name"):
        funnel_conversion(funnel_data(), ["signup", ""])
    unknown = funnel_conversion(funnel_data(), ["signup", "webinar"])
    assert unknown.reached.tolist() == [6, 0]
    assert unknown.step_conversion[1] == 0.0


def test_average_order_value_and_trend() -> None:
    ds = Dataset.from_records([Customer("a", d(0)), Customer("b", d(0))], events=[
        Event("a", "purchase", d(3), value=10), Event("b", "purchase", d(5), value=20),  # Jan
        Event("a", "purchase", d(35), value=40),                                          # Feb
        Event("b", "purchase", d(65), value=60), Event("b", "purchase", d(70), value=40),  # Mar
    ])
    a = average_order_value(ds)
    assert a.months == ("2024-01", "2024-02", "2024-03")
    assert a.aov.tolist() == [15.0, 40.0, 50.0]
    # least-squares slope of (0, 15), (1, 40), (2, 50): 17.5 a month
    assert a.trend == pytest.approx(17.5)
    by_name = compute("average_order_value", ds)
    assert isinstance(by_name, AverageOrderValue)
    assert by_name.orders.tolist() == [2, 1, 2]


def test_revenue_concentration_by_hand() -> None:
    mrr = [400.0, 300.0, 100.0, 100.0, 50.0, 50.0, 0.0]
    ds = Dataset.from_records(
        [Customer(f"c{i}", T) for i in range(7)],
        [Subscription(f"s{i}", f"c{i}", "p", m, "USD", T) for i, m in enumerate(mrr)])
    # 6 paying; top 20 %: ceil(1.2) = 2 customers, 700 of 1000
    assert revenue_concentration(ds) == pytest.approx(0.7)
    assert revenue_concentration(ds, top=0.5) == pytest.approx(0.8)  # top 3
    assert revenue_concentration(ds, top=1.0) == 1.0
    with pytest.raises(ValidationError, match=r"top must be in \(0, 1\]"):
        revenue_concentration(ds, top=0)
    empty = Dataset.from_records([Customer("a", T)])
    assert math.isnan(revenue_concentration(empty))


def test_unit_economics() -> None:
    assert cac_payback_months(1200, 100, gross_margin=0.8) == 15.0
    assert cac_payback_months(500, 0) == math.inf
    assert ltv_to_cac(3600, 1200) == 3.0
    with pytest.raises(ValidationError, match=r"cac must be an amount >= 0"):
        cac_payback_months(-1, 100)
    with pytest.raises(ValidationError, match=r"gross_margin must be in \[0, 1\]"):
        cac_payback_months(100, 100, gross_margin=1.5)
    with pytest.raises(ValidationError, match=r"cac must be > 0"):
        ltv_to_cac(100, 0)


def test_retention_what_if_by_hand() -> None:
    w = retention_what_if(100, 1000, 0.5, 0.1, years=2, margin=0.4, fixed_costs=10_000)
    # base: 100 + 50 customers = 150k revenue; changed: 100 + 60 = 160k
    assert (w.base_revenue, w.changed_revenue) == (150_000.0, 160_000.0)
    assert w.revenue_change == pytest.approx(1 / 15)
    # profit: 0.4 x revenue - 20k: 40k -> 44k, +10 %, more than revenue's +6.7 %
    assert (w.base_profit, w.changed_profit) == pytest.approx((40_000.0, 44_000.0))
    assert w.profit_change == pytest.approx(0.1)
    with pytest.raises(ValidationError, match=r"retention \+ change must stay in \[0, 1\]"):
        retention_what_if(100, 1000, 0.98, 0.05)
    with pytest.raises(ValidationError, match=r"years must be a whole number >= 1"):
        retention_what_if(100, 1000, 0.9, 0.05, years=0)
