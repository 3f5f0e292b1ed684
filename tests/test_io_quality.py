"""Dataset.describe() on any dataset, and the blind-model warning of HealthModel.score."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event, HealthModel, Subscription
from custsuccess.io import BlindModelWarning

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
AS_OF = T0 + timedelta(days=60)


def _customers(n: int) -> list[Customer]:
    return [Customer(f"c{i}", T0) for i in range(n)]


def _subscriptions(n: int) -> list[Subscription]:
    return [Subscription(f"s{i}", f"c{i}", "pro", 10.0, "USD", T0) for i in range(n)]


def test_no_events_warns() -> None:
    ds = Dataset.from_records(_customers(4), _subscriptions(4))
    with pytest.warns(BlindModelWarning, match="there are no events, so the 4 accounts"):
        HealthModel.default().score(ds, AS_OF)


def test_no_kind_a_rule_reads_warns() -> None:
    events = [Event("c0", "invoice_sent", T0 + timedelta(days=1))]
    ds = Dataset.from_records(_customers(2), _subscriptions(2), events)
    with pytest.warns(BlindModelWarning, match="none of the 1 events is of a kind a rule reads"):
        HealthModel.default().score(ds, AS_OF)


def test_most_accounts_silent_warns_and_half_does_not() -> None:
    # 3 of 5 accounts without a login: more than half are silent
    events = [Event(f"c{i}", "login", T0 + timedelta(days=10)) for i in range(2)]
    ds = Dataset.from_records(_customers(5), _subscriptions(5), events)
    with pytest.warns(BlindModelWarning, match="3 of 5 accounts have no event"):
        HealthModel.default().score(ds, AS_OF)
    # 2 of 4 silent is exactly half: no warning (warnings are errors in this suite)
    events = [Event(f"c{i}", "login", T0 + timedelta(days=10)) for i in range(2)]
    ds = Dataset.from_records(_customers(4), _subscriptions(4), events)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", BlindModelWarning)
        HealthModel.default().score(ds, AS_OF)


def test_events_after_as_of_do_not_count() -> None:
    later = [Event(f"c{i}", "login", AS_OF + timedelta(days=1)) for i in range(3)]
    ds = Dataset.from_records(_customers(3), _subscriptions(3), later)
    with pytest.warns(BlindModelWarning, match="there are no events"):
        HealthModel.default().score(ds, AS_OF)


def test_describe_counts_by_hand() -> None:
    events = [
        Event("c0", "login", T0 + timedelta(days=1)),
        Event("c0", "login", T0 + timedelta(days=2)),
        Event("c1", "nps_response", T0 + timedelta(days=3), 9),
        Event("c1", "invoice_sent", T0 + timedelta(days=4)),
    ]
    subs = [
        Subscription("s0", "c0", "pro", 10.0, "USD", T0),
        Subscription("s1", "c1", "pro", 25.0, "EUR", T0, T0 + timedelta(days=5)),
        Subscription("s2", "c2", "pro", 7.5, "EUR", T0),
    ]
    report = Dataset.from_records(_customers(3), subs, events).describe()
    assert (report.customers, report.subscriptions, report.events) == (3, 3, 4)
    assert report.customers_without_events == 1
    assert report.customers_without_events_examples == ("c2",)
    usage = {k.kind: (k.events, k.customers, bool(k.rules)) for k in report.kinds}
    assert usage == {
        "login": (2, 1, True),
        "nps_response": (1, 1, True),
        "invoice_sent": (1, 1, False),
    }
    # running MRR per currency: s1 ended, so EUR counts s2 only
    assert report.currencies == {"EUR": (2, 7.5), "USD": (1, 10.0)}
    assert report.first == np.datetime64("2024-01-01T00:00:00", "us")
    assert report.last == np.datetime64("2024-01-06T00:00:00", "us")
    assert "billing.payment_failures" in report.unread_rules
    assert report.sources == ()
    text = str(report)
    assert "invoice_sent: 1 events, 1 customers; read by no rule" in text
    assert "Customers without events: 1 (e.g. c2)" in text
