"""NPS per period, stickiness, engagement, support response times and periods on
hand-built datasets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event
from custsuccess.errors import ValidationError
from custsuccess.metrics import (
    BusinessCalendar,
    BusinessDays,
    calendar_periods,
    email_rates_of,
    engagement_counts,
    engagement_of,
    nps_by_period,
    stickiness_by_period,
    support_response_times,
    windows,
)


def t(month: int, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, second, tzinfo=timezone.utc)


def ds_of(events: list[Event], customers: str = "abc") -> Dataset:
    return Dataset.from_records([Customer(c, t(1)) for c in customers], events=events)


# --------------------------------------------------------------------------- periods


def test_calendar_periods_months_quarters_years() -> None:
    m = calendar_periods("2023-11-20T00:00:00Z", "2024-02-01T00:00:00Z")
    assert m.labels == ("2023-11", "2023-12", "2024-01", "2024-02")
    assert str(m.ends[-1]) == "2024-03-01T00:00:00.000000"
    assert m.days().tolist() == [30.0, 31.0, 31.0, 29.0]
    q = calendar_periods("2024-03-31T23:59:59Z", "2024-04-01T00:00:00Z", freq="quarter")
    assert q.labels == ("2024Q1", "2024Q2")
    y = calendar_periods("2024-06-01T00:00:00Z", "2024-06-01T00:00:00Z", freq="year")
    assert y.labels == ("2024",)
    assert str(y.ends[0]).startswith("2025-01-01")


def test_calendar_periods_in_a_time_zone() -> None:
    p = calendar_periods("2024-01-15T00:00:00Z", "2024-02-15T00:00:00Z", tz="Europe/Paris")
    # local midnight of Feb 1 in Paris (UTC+1) is Jan 31 23:00 UTC
    assert str(p.starts[1]) == "2024-01-31T23:00:00.000000"
    assert p.assign(np.array(["2024-01-31T23:30"], dtype="datetime64[us]")).tolist() == [1]
    with pytest.raises(ValidationError, match="IANA time zone"):
        calendar_periods("2024-01-15T00:00:00Z", "2024-02-15T00:00:00Z", tz="Mars/Olympus")


def test_period_errors() -> None:
    with pytest.raises(ValidationError, match="freq must be one of"):
        calendar_periods("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", freq="week")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"end .* is before start"):
        calendar_periods("2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z")
    with pytest.raises(ValidationError, match="timezone-aware"):
        calendar_periods(datetime(2024, 1, 1), "2024-01-01T00:00:00Z")
    with pytest.raises(ValidationError, match="must not overlap"):
        windows(
            [
                ("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
                ("2024-01-15T00:00:00Z", "2024-03-01T00:00:00Z"),
            ]
        )
    with pytest.raises(ValidationError, match=r"windows\[0\]: end .* must be after start"):
        windows([("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z")])
    with pytest.raises(ValidationError, match="at least one"):
        windows([])


def test_windows_half_open_assignment() -> None:
    w = windows(
        [
            ("2024-01-01T00:00:00Z", "2024-01-10T00:00:00Z"),
            ("2024-01-20T00:00:00Z", "2024-02-01T00:00:00Z"),
        ]
    )
    times = np.array(
        ["2024-01-01T00:00", "2024-01-10T00:00", "2024-01-25", "2024-02-01"], dtype="datetime64[us]"
    )
    # start included, end excluded; the gap and the end belong to no window
    assert w.assign(times).tolist() == [0, -1, 1, -1]
    assert not w.contiguous


# --------------------------------------------------------------------------- NPS


def nps_event(c: str, when: datetime, score: int) -> Event:
    return Event(c, "nps_response", when, score)


def test_nps_per_quarter_hand_worked() -> None:
    ds = ds_of(
        [
            # Q1: 10, 9, 3, 7 -> 2 promoters, 1 detractor, 1 passive: 100 * (2 - 1) / 4 = 25
            nps_event("a", t(1, 5), 10),
            nps_event("b", t(2, 5), 9),
            nps_event("c", t(3, 5), 3),
            nps_event("a", t(3, 30), 7),
            # Q3 (Q2 empty): 0 -> -100
            nps_event("b", t(8, 1), 0),
        ]
    )
    r = nps_by_period(ds)
    assert r.periods.labels == ("2024Q1", "2024Q2", "2024Q3")
    assert r.n.tolist() == [4, 0, 1]
    assert r.score[0] == 25.0
    assert np.isnan(r.score[1])
    assert r.score[2] == -100.0
    assert r[0].promoters == 2
    assert r[0].passives == 1
    # only each customer's last answer per quarter: a's 7 replaces its 10 -> (1 - 1) / 3
    last = nps_by_period(ds, per_customer="last")
    assert last.n.tolist() == [3, 0, 1]
    assert last.score[0] == 0.0
    monthly = nps_by_period(
        ds, freq="month", start="2024-01-01T00:00:00Z", end="2024-03-31T00:00:00Z"
    )
    assert monthly.score.tolist() == [100.0, 100.0, -50.0]
    assert nps_by_period(ds).to_pandas().loc["2024Q1", "nps"] == 25.0
    with pytest.raises(ValidationError, match="per_customer must be one of"):
        nps_by_period(ds, per_customer="first")  # type: ignore[arg-type]


def test_nps_without_answers_has_no_periods() -> None:
    r = nps_by_period(ds_of([Event("a", "login", t(1))]))
    assert len(r) == 0


# --------------------------------------------------------------------------- stickiness


def test_stickiness_hand_worked() -> None:
    def login(c: str, d: int, h: int = 9) -> Event:
        return Event(c, "login", t(2, d, h))

    ds = ds_of(
        [
            login("a", 1),
            login("a", 1, 15),
            login("a", 2),
            login("a", 4),
            login("b", 2),
            Event("b", "feature_used", t(2, 2, 10), properties={"feature": "x"}),
            Event("c", "purchase", t(2, 3), 10.0),  # not an activity kind
        ]
    )
    s = stickiness_by_period(ds, end="2024-02-29T00:00:00Z")
    # February, 29 days; active customer-days: a on 1, 2, 4; b on 2 -> 4 / 29 per day
    assert s.days.tolist() == [29.0]
    assert s.dau[0] == pytest.approx(4 / 29)
    assert s.mau.tolist() == [2]
    assert s.stickiness[0] == pytest.approx(4 / 29 / 2)
    # only up to the end of the data (Feb 4): 4 active customer-days over 4 days
    upto = stickiness_by_period(ds.until("2024-02-04T23:00:00Z"))
    assert upto.days.tolist() == [4.0]
    assert upto.dau[0] == pytest.approx(1.0)
    logins_only = stickiness_by_period(ds, kinds=("login",), end="2024-02-29T00:00:00Z")
    assert logins_only.mau.tolist() == [2]


# --------------------------------------------------------------------------- engagement


def test_engagement_of_hand_worked() -> None:
    ds = ds_of(
        [
            Event("a", "purchase", t(1, 2), 10.0),
            Event("a", "purchase", t(1, 3), 20.0),
            Event("b", "purchase", t(1, 2), 5.0),
            Event("a", "referral", t(1, 5)),
            Event("a", "referral", t(1, 6)),
            Event("a", "time_on_site", t(1, 2), 120.0),
            Event("b", "time_on_site", t(1, 2), 60.0),
            Event("a", "page_view", t(1, 2)),
            Event("a", "page_view", t(1, 2, 1)),
            Event("b", "page_view", t(1, 2)),
            Event("c", "cart_add", t(1, 2)),
            Event("c", "cart_add", t(1, 3)),
            Event("a", "email_sent", t(1, 1)),
            Event("b", "email_sent", t(1, 1)),
            Event("a", "email_open", t(1, 1, 1)),
            Event("a", "email_open", t(1, 1, 2)),
            Event("a", "email_click", t(1, 1, 3)),
        ]
    )
    e = engagement_of(ds)
    assert e.customers == 3
    assert e.repeat_purchase_rate == 0.5  # a bought twice, b once
    assert e.referral_rate == pytest.approx(1 / 3)  # a of a, b, c
    assert e.average_time_on_site == 90.0  # (120 + 60) / 2
    assert e.pages_per_visit == 1.5  # 3 page views / 2 visits
    assert e.cart_adds_per_customer == pytest.approx(2 / 3)
    # 2 sent; a opened twice the one email it got: 1 unique open -> 1 / 2
    assert e.email.open_rate == 0.5
    assert e.email.click_through_rate == 0.5
    assert e.email.denominator == "sent"
    assert engagement_counts(ds, "purchase").tolist() == [2, 1, 0]


def test_email_rates_unique_by_message() -> None:
    ds = ds_of(
        [
            Event("a", "email_sent", t(1, 1), properties={"message": "m1"}),
            Event("a", "email_sent", t(1, 2), properties={"message": "m2"}),
            Event("a", "email_open", t(1, 3), properties={"message": "m1"}),
            Event("a", "email_open", t(1, 4), properties={"message": "m1"}),
            Event("a", "email_click", t(1, 4), properties={"message": "m1"}),
        ]
    )
    r = email_rates_of(ds, unique_by="message")
    assert (r.sent, r.opened, r.clicked) == (2, 1, 1)
    # capped per customer instead: 2 opens, capped at 2 sent
    assert email_rates_of(ds).opened == 2
    with pytest.raises(ValidationError, match="lack that property"):
        email_rates_of(ds_of([Event("a", "email_open", t(1))]), unique_by="message")


# --------------------------------------------------------------------------- support


def ticket(kind: str, c: str, when: datetime, channel: str, tid: str) -> Event:
    return Event(c, f"support_{kind}", when, properties={"channel": channel, "ticket": tid})


def test_support_response_times_hand_worked() -> None:
    ds = ds_of(
        [
            # phone: 120 s (within 3 min), 240 s (missed), and a second request on the same
            # ticket 60 s before the reply (60 s)
            ticket("request", "a", t(3, 4, 10), "phone", "P1"),
            ticket("reply", "a", t(3, 4, 10, 2), "phone", "P1"),
            ticket("request", "b", t(3, 4, 11), "phone", "P2"),
            ticket("request", "b", t(3, 4, 11, 3), "phone", "P2"),
            ticket("reply", "b", t(3, 4, 11, 4), "phone", "P2"),
            # chat: 30 s; a reply on another customer's ticket of the same name does not count
            ticket("request", "c", t(3, 4, 12), "chat", "C1"),
            ticket("reply", "c", t(3, 4, 12, 0, 30), "chat", "C1"),
            ticket("request", "a", t(3, 4, 12), "chat", "C2"),
            ticket("reply", "b", t(3, 4, 12, 0, 10), "chat", "C2"),
            # email: Friday Mar 8 16:00 -> Monday Mar 11 09:00 (within 1 business day);
            # Friday -> Tuesday (missed)
            ticket("request", "a", t(3, 8, 16), "email", "E1"),
            ticket("reply", "a", t(3, 11, 9), "email", "E1"),
            ticket("request", "b", t(3, 8, 16), "email", "E2"),
            ticket("reply", "b", t(3, 12, 9), "email", "E2"),
            Event("c", "login", t(3, 20)),
        ]
    )
    r = support_response_times(ds)
    f = r.to_pandas()
    assert f.loc["phone", "requests"] == 3
    assert f.loc["phone", "unanswered"] == 0
    assert f.loc["phone", "mean_s"] == pytest.approx((120 + 240 + 60) / 3)
    assert f.loc["phone", "median_s"] == 120.0
    assert f.loc["phone", "p90_s"] == pytest.approx(120 + 0.8 * 120)  # linear quantile
    assert f.loc["phone", "within_target"] == pytest.approx(2 / 3)
    # chat: C1 answered in 30 s; C2 (customer a) unanswered and long overdue
    assert f.loc["chat", "requests"] == 2
    assert f.loc["chat", "unanswered"] == 1
    assert f.loc["chat", "pending"] == 0
    assert f.loc["chat", "mean_s"] == 30.0
    assert f.loc["chat", "within_target"] == 0.5
    assert f.loc["email", "within_target"] == 0.5
    assert f.loc["email", "target"] == "1 business day"
    assert np.isnan(f.loc["social", "within_target"])
    assert f.loc["social", "requests"] == 0
    assert np.isnan(r.seconds[r.channel == 2]).sum() == 1  # chat's unanswered request
    assert r.met.sum() == 2 + 1 + 1


def test_support_pending_requests_are_reported_not_judged() -> None:
    ds = ds_of(
        [
            ticket("request", "a", t(3, 4, 10), "email", "E1"),
            ticket("request", "a", t(3, 1, 10), "phone", "P1"),
            Event("b", "login", t(3, 4, 12)),
        ]
    )
    r = support_response_times(ds)
    f = r.to_pandas()
    # the email deadline (end of Tuesday Mar 5) is after the data's end (Mar 4 12:00)
    assert f.loc["email", "unanswered"] == 1
    assert f.loc["email", "pending"] == 1
    assert np.isnan(f.loc["email", "within_target"])
    # the phone request is long overdue: counted as missed
    assert f.loc["phone", "pending"] == 0
    assert f.loc["phone", "within_target"] == 0.0


def test_support_custom_targets_and_business_calendar() -> None:
    ds = ds_of(
        [
            # Friday 16:30 -> Monday 09:30: 30 + 30 open minutes (09:00-17:00)
            ticket("request", "a", t(3, 8, 16, 30), "email", "E1"),
            ticket("reply", "a", t(3, 11, 9, 30), "email", "E1"),
            ticket("request", "a", t(3, 11, 10), "social", "S1"),
            ticket("reply", "a", t(3, 11, 12), "social", "S1"),
            ticket("request", "b", t(3, 11, 10), "phone", "P1"),
            ticket("reply", "b", t(3, 11, 10, 5), "phone", "P1"),
        ]
    )
    cal = BusinessCalendar("09:00", "17:00")
    r = support_response_times(
        ds, calendar=cal, targets={"social": timedelta(hours=1), "phone": None}
    )
    f = r.to_pandas()
    assert r.business_time
    assert f.loc["email", "mean_s"] == 3600.0
    assert f.loc["social", "within_target"] == 0.0  # 2 h > 1 h
    assert f.loc["social", "target"] == "1 h"
    assert np.isnan(f.loc["phone", "within_target"])  # target dropped
    assert (
        support_response_times(ds, targets={"email": BusinessDays(2)})
        .to_pandas()
        .loc["email", "within_target"]
        == 1.0
    )
    # wall clock: Friday 16:30 -> Monday 09:30 is 65 h
    assert support_response_times(ds).to_pandas().loc["email", "mean_s"] == 65 * 3600.0


def test_support_target_errors() -> None:
    ds = ds_of([])
    with pytest.raises(ValidationError, match="a channel must be a non-empty name"):
        support_response_times(ds, targets={"": timedelta(minutes=1)})
    with pytest.raises(ValidationError, match="positive duration"):
        support_response_times(ds, targets={"chat": timedelta(0)})
    with pytest.raises(ValidationError, match="must be a timedelta"):
        support_response_times(ds, targets={"chat": 60})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match=r"BusinessDays\.n must be a whole number >= 1"):
        BusinessDays(0)
    with pytest.raises(ValidationError, match=r"closes .* must be after opens"):
        BusinessCalendar("17:00", "09:00")
    with pytest.raises(ValidationError, match="a time such as"):
        BusinessCalendar("9am", "17:00")


def test_support_with_no_requests() -> None:
    r = support_response_times(ds_of([]))
    assert r.n_requests.tolist() == [0, 0, 0, 0]
    assert np.isnan(r.within_target).all()
