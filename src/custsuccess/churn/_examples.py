"""A tiny hand-made dataset for the doctests of :mod:`custsuccess.churn` and docs/churn.md.

As of 2024-12-31:

* ``acme`` (pro, 100 USD) subscribed 2024-01-01, cancelled 2024-07-01 saying
  "too expensive": 182 days of tenure.
* ``bolt`` (basic, 50 USD) subscribed 2024-03-01, ended 2024-04-30 (60 days); it logged
  in but never used a feature: never onboarded.
* ``cove`` (pro, 100 USD) subscribed 2024-01-15 and is still active.
* ``dune`` (basic, 20 USD) subscribed 2024-02-01, ended 2024-12-01 (304 days); it used
  features every week until 2024-09-26, once more on 2024-10-02, then nothing for 60
  days: disengaged.
* ``echo`` (basic, 30 USD) cancelled 2024-05-01, came back 2024-08-01 and is active.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from custsuccess.dataset import Dataset
from custsuccess.models import Customer, Event, Subscription

__all__ = ["small_dataset"]


def _t(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


def small_dataset() -> Dataset:
    """The dataset described in the module docstring."""
    customers = [
        Customer("acme", _t(2024, 1, 1), segment="smb", plan="pro"),
        Customer("bolt", _t(2024, 3, 1), segment="smb", plan="basic"),
        Customer("cove", _t(2024, 1, 15), segment="enterprise", plan="pro"),
        Customer("dune", _t(2024, 2, 1), segment="enterprise", plan="basic"),
        Customer("echo", _t(2024, 1, 1), segment="smb", plan="basic"),
    ]
    subscriptions = [
        Subscription("s1", "acme", "pro", 100.0, "USD", _t(2024, 1, 1), _t(2024, 7, 1),
                     cancel_reason="too expensive"),
        Subscription("s2", "bolt", "basic", 50.0, "USD", _t(2024, 3, 1), _t(2024, 4, 30)),
        Subscription("s3", "cove", "pro", 100.0, "USD", _t(2024, 1, 15)),
        Subscription("s4", "dune", "basic", 20.0, "USD", _t(2024, 2, 1), _t(2024, 12, 1)),
        Subscription("s5", "echo", "basic", 30.0, "USD", _t(2024, 1, 1), _t(2024, 5, 1)),
        Subscription("s6", "echo", "basic", 30.0, "USD", _t(2024, 8, 1)),
    ]
    events = [Event("acme", "feature_used", _t(2024, 6, 20), properties={"feature": "report"})]
    events += [Event("bolt", "login", _t(2024, 3, d)) for d in (2, 9, 16)]
    events += [
        Event("cove", "feature_used", _t(2024, 1, 15) + timedelta(weeks=w),
              properties={"feature": "report"})
        for w in range(50)
    ]
    events += [
        Event("dune", "feature_used", _t(2024, 2, 1) + timedelta(weeks=w),
              properties={"feature": "export"})
        for w in range(35)
    ]
    events += [Event("dune", "feature_used", _t(2024, 10, 2), properties={"feature": "export"})]
    return Dataset.from_records(customers, subscriptions, events)
