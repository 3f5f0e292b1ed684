"""The account and contract fields: Event.user_id, Customer.owner / parent_id (hierarchies,
cycles rejected), Subscription.billing_interval / renews_at / auto_renew, in the models
and in both Dataset builders."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Event, Subscription, ValidationError
from custsuccess.models import BILLING_INTERVALS, mrr_from_amount

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def bad(value: object) -> Any:
    """A wrongly typed value, as a host's untyped code might pass."""
    return value


# --------------------------------------------------------------------------- models


def test_existing_constructors_keep_working_and_defaults_are_neutral() -> None:
    s = Subscription("s1", "a", "pro", 99.0, "USD", day(0), day(30), cancel_reason="price")
    assert (s.billing_interval, s.renews_at, s.auto_renew, s.amount) == ("month", None, True, 99.0)
    c = Customer("a", day(0), plan="pro")
    assert (c.owner, c.parent_id) == (None, None)
    e = Event("a", "login", day(1))
    assert e.user_id is None


def test_mrr_stays_monthly_and_amounts_are_normalised() -> None:
    # 12,000 a year and 3,000 a quarter are both 1,000 a month
    year = Subscription.from_amount("s1", "a", "pro", 12_000, "USD", day(0),
                                    billing_interval="year", renews_at=day(365))
    quarter = Subscription.from_amount("s2", "a", "pro", 3_000, "USD", day(0),
                                       billing_interval="quarter")
    assert year.mrr == quarter.mrr == 1000.0
    assert (year.amount, quarter.amount) == (12_000.0, 3_000.0)
    assert dict(BILLING_INTERVALS) == {"month": 1, "quarter": 3, "year": 12}
    assert mrr_from_amount(600, "month") == 600.0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Subscription("s", "a", "p", 1.0, "USD", day(0), billing_interval="week"),
         r"billing_interval must be one of \('month', 'quarter', 'year'\), got 'week'"),
        (lambda: Subscription("s", "a", "p", 1.0, "USD", day(5), renews_at=day(1)),
         r"renews_at 2024-01-02.* is before started_at 2024-01-06"),
        (lambda: Subscription("s", "a", "p", 1.0, "USD", day(0), auto_renew=bad("yes")),
         r"auto_renew must be True or False, got 'yes'"),
        (lambda: Subscription("s", "a", "p", 1.0, "USD", day(0), renews_at=datetime(2024, 5, 1)),
         r"renews_at must be timezone-aware"),
        (lambda: Customer("a", day(0), parent_id="a"), r"parent_id must name another account"),
        (lambda: Customer("a", day(0), owner=""), r"owner must be a non-empty string or None"),
        (lambda: Customer("a", day(0), parent_id=bad(3)), r"parent_id must be a non-empty string"),
        (lambda: Event("a", "login", day(0), user_id=""), r"user_id must be a non-empty string"),
        (lambda: Event("a", "login", day(0), properties={"user_id": "u"}),
         r"put the user in Event.user_id"),
        (lambda: mrr_from_amount(-5, "year"), r"amount must be a finite number >= 0, got -5"),
        (lambda: mrr_from_amount(5, "fortnight"), r"billing_interval must be one of"),
        (lambda: mrr_from_amount(bad("5"), "year"), r"amount must be a number, got '5'"),
    ],
)
def test_bad_fields_are_named(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()  # type: ignore[operator]


# --------------------------------------------------------------------------- dataset


def records() -> tuple[list[Customer], list[Subscription], list[Event]]:
    customers = [
        Customer("group", day(0), owner="ann"),
        Customer("eu", day(0), parent_id="group", owner="ann"),
        Customer("fr", day(1), parent_id="eu", owner="bob"),
        Customer("solo", day(2)),
    ]
    subscriptions = [
        Subscription.from_amount("s1", "group", "ent", 24_000, "USD", day(0),
                                 billing_interval="year", renews_at=day(365), auto_renew=False),
        Subscription("s2", "fr", "pro", 50.0, "USD", day(1)),
        Subscription("s3", "solo", "pro", 30.0, "USD", day(2), renews_at=day(32)),
    ]
    events = [
        Event("fr", "login", day(3), user_id="u1"),
        Event("fr", "login", day(3), user_id="u2"),
        Event("solo", "login", day(4)),
    ]
    return customers, subscriptions, events


def test_from_records_carries_the_new_columns() -> None:
    ds = Dataset.from_records(*records())
    ids = ds.customer_ids.tolist()
    assert ids == ["eu", "fr", "group", "solo"]
    assert ds.customers.owner.decode().tolist() == ["ann", "bob", "ann", None]
    # eu -> group (index 2), fr -> eu (index 0), group and solo are top level
    assert ds.customers.parent.tolist() == [2, 0, -1, -1]
    subs = ds.subscriptions
    assert subs.ids.tolist() == ["s2", "s1", "s3"]  # by customer index: fr, group, solo
    assert subs.mrr.tolist() == [50.0, 2000.0, 30.0]
    assert subs.interval_months.tolist() == [1, 12, 1]
    assert subs.auto_renew.tolist() == [True, False, True]
    assert [str(t)[:10] for t in subs.renews_at] == ["NaT", "2024-12-31", "2024-02-02"]
    assert ds.events.property("user_id").decode().tolist() == ["u1", "u2", None]


def test_both_builders_agree_and_records_round_trip() -> None:
    from_records = Dataset.from_records(*records())
    columns = from_records.to_columns()
    assert columns["customers"]["parent_id"].tolist() == ["group", "eu", None, None]
    assert columns["subscriptions"]["billing_interval"].tolist() == ["month", "year", "month"]
    rebuilt = Dataset.from_columns(**columns)
    assert rebuilt.equals(from_records)
    customers, subscriptions, events = from_records.to_records()
    assert {c.id: c.parent_id for c in customers} == {
        "eu": "group", "fr": "eu", "group": None, "solo": None}
    by_id = {s.id: (s.billing_interval, s.auto_renew) for s in subscriptions}
    assert by_id["s1"] == ("year", False)
    assert sorted(e.user_id or "-" for e in events) == ["-", "u1", "u2"]
    assert Dataset.from_records(customers, subscriptions, events).equals(from_records)


def test_data_without_the_new_fields_exports_as_before() -> None:
    ds = Dataset.from_records([Customer("a", day(0))],
                              [Subscription("s", "a", "p", 1.0, "USD", day(0))])
    columns = ds.to_columns()
    assert not {"owner", "parent_id"} & set(columns["customers"])
    assert not {"billing_interval", "renews_at", "auto_renew"} & set(columns["subscriptions"])


def test_a_cycle_is_rejected_naming_it() -> None:
    customers = {
        "id": ["a", "b", "c", "d"],
        "created_at": [day(0)] * 4,
        "parent_id": ["c", "a", "b", None],  # a -> c -> b -> a
    }
    with pytest.raises(ValidationError, match=r"forms a cycle: 'a' -> 'c' -> 'b' -> 'a'"):
        Dataset.from_columns(customers=customers)


def test_an_account_leading_into_a_cycle_names_the_cycle_only() -> None:
    customers = {
        "id": ["x", "y", "z"],
        "created_at": [day(0)] * 3,
        "parent_id": ["y", "z", "y"],  # x -> y <-> z
    }
    with pytest.raises(ValidationError, match=r"cycle: 'y' -> 'z' -> 'y'$"):
        Dataset.from_columns(customers=customers)


def test_outside_parents_are_kept_and_bad_contract_columns_are_named() -> None:
    # a parent outside the dataset (another partition of the book) is kept as text only
    outside = Dataset.from_columns(customers={"id": ["a"], "created_at": [day(0)],
                                              "parent_id": ["elsewhere"]})
    assert outside.customers.parent.tolist() == [-1]
    assert outside.to_columns()["customers"]["parent_id"].tolist() == ["elsewhere"]
    base = {"id": ["s1", "s2"], "customer_id": ["a", "a"], "plan": ["p", "p"],
            "mrr": [1.0, 2.0], "currency": ["USD", "USD"], "started_at": [day(0), day(1)]}
    customers = {"id": ["a"], "created_at": [day(0)]}
    with pytest.raises(ValidationError, match=r"row 1 \(id 's2'\): billing_interval .* 'weekly'"):
        Dataset.from_columns(customers=customers,
                             subscriptions={**base, "billing_interval": ["year", "weekly"]})
    with pytest.raises(ValidationError, match=r"row 0 \(id 's1'\): renews_at .* before started_at"):
        Dataset.from_columns(customers=customers,
                             subscriptions={**base, "renews_at": [day(-1), None]})
    with pytest.raises(ValidationError, match=r"row 1 \(id 's2'\): auto_renew must be True or "
                                              r"False, got 'no'"):
        Dataset.from_columns(customers=customers,
                             subscriptions={**base, "auto_renew": [True, "no"]})


def test_missing_contract_values_take_the_defaults() -> None:
    ds = Dataset.from_columns(
        customers={"id": ["a"], "created_at": [day(0)]},
        subscriptions={"id": ["s1", "s2"], "customer_id": ["a", "a"], "plan": ["p", "p"],
                       "mrr": [1.0, 2.0], "currency": ["USD", "USD"],
                       "started_at": [day(0), day(1)], "billing_interval": [None, "quarter"],
                       "auto_renew": [None, False]},
    )
    assert ds.subscriptions.interval_months.tolist() == [1, 3]
    assert ds.subscriptions.auto_renew.tolist() == [True, False]


def test_views_keep_the_new_columns_and_slices_cut_outside_parents() -> None:
    ds = Dataset.from_records(*records())
    view = ds.until(day(10))
    assert view.subscriptions.interval_months.tolist() == [1, 12, 1]
    assert view.customers.parent.tolist() == [2, 0, -1, -1]
    fr = ds.customer("fr")
    assert fr.customers.parent.tolist() == [-1]  # its parent is not in the slice
    assert fr.customers.parent_id.decode().tolist() == ["eu"]  # but the link is kept
    first_two = ds.slice(0, 2)  # eu, fr: fr's parent eu is kept, eu's parent group is not
    assert first_two.customers.parent.tolist() == [-1, 0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=30),
       st.data())
def test_any_forest_builds_and_any_back_edge_is_a_cycle(
    seeds: list[int], data: st.DataObject
) -> None:
    n = len(seeds)
    ids = [f"c{i:03d}" for i in range(n)]
    # a forest by construction: each account's parent comes earlier in the list
    parents: list[str | None] = [None]
    parents += [None if s % 3 == 0 else ids[s % i] for i, s in enumerate(seeds[1:], start=1)]
    ds = Dataset.from_columns(customers={"id": ids, "created_at": [day(0)] * n,
                                         "parent_id": parents})
    decoded = [None if p < 0 else str(ds.customer_ids[p]) for p in ds.customers.parent.tolist()]
    assert decoded == parents  # ids are already sorted
    # point one account's ancestor chain back at itself: a cycle through it
    chained = [i for i in range(n) if parents[i] is not None]
    if not chained:
        return
    child = data.draw(st.sampled_from(chained))
    root = child
    while parents[root] is not None:
        root = ids.index(parents[root])  # type: ignore[arg-type]
    cyclic = list(parents)
    cyclic[root] = ids[child]
    with pytest.raises(ValidationError, match=r"forms a cycle: "):
        Dataset.from_columns(customers={"id": ids, "created_at": [day(0)] * n,
                                        "parent_id": cyclic})


def test_user_ids_are_an_ordinary_event_column() -> None:
    ds = Dataset.from_columns(
        customers={"id": ["a"], "created_at": [day(0)]},
        events={"customer_id": ["a", "a"], "kind": ["login", "login"],
                "occurred_at": [day(1), day(2)], "user_id": ["u9", np.nan]},
    )
    assert ds.events.property("user_id").decode().tolist() == ["u9", None]


def test_the_store_keeps_the_new_columns(tmp_path: Path) -> None:
    from custsuccess.store import SQLiteStore

    ds = Dataset.from_records(*records())
    with SQLiteStore(tmp_path / "cs.db") as store:
        store.save(ds)
        back = store.load()
    assert back.equals(ds)
    assert back.customers.parent.tolist() == [2, 0, -1, -1]
    assert back.customers.owner.decode().tolist() == ["ann", "bob", "ann", None]
    assert back.subscriptions.interval_months.tolist() == [1, 12, 1]
    assert back.subscriptions.auto_renew.tolist() == [True, False, True]
