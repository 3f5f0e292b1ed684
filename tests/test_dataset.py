"""The columnar Dataset: both builders agree, input order does not matter, views share
memory, point-in-time windows, and bad input is named precisely."""

from __future__ import annotations

import tracemalloc
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Event, EventKind, Subscription, ValidationError
from custsuccess.dataset import BUILTIN_KINDS, Categorical, to_datetime64

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def sample_records() -> tuple[list[Customer], list[Subscription], list[Event]]:
    customers = [
        Customer("beta", day(0), name="Beta Ltd", segment="smb", plan="starter"),
        Customer("alpha", day(-10), segment="enterprise", attributes={"seats": 40}),
        Customer("gamma", day(5)),
    ]
    subscriptions = [
        Subscription("s2", "beta", "starter", 49.0, "USD", day(0), day(40), cancel_reason="price"),
        Subscription("s1", "alpha", "pro", 299.0, "EUR", day(-10)),
        Subscription("s3", "alpha", "addon", 20.0, "EUR", day(3), day(20)),
    ]
    events = [
        Event("beta", "login", day(2)),
        Event("alpha", "nps_response", day(1), 9),
        Event("alpha", "feature_used", day(1), properties={"feature": "reports"}),
        Event("beta", "support_request", day(3), properties={"channel": "chat", "ticket": "t1"}),
        Event("beta", "support_reply", day(3.001), properties={"channel": "chat", "ticket": "t1"}),
        Event("gamma", "webinar", day(6)),
        Event("alpha", "purchase", day(30), 120.5),
    ]
    return customers, subscriptions, events


def sample_columns() -> dict[str, dict[str, Any]]:
    """The same data as sample_records, written as columns by hand."""
    return {
        "customers": {
            "id": ["beta", "alpha", "gamma"],
            "created_at": [day(0), day(-10), day(5)],
            "name": ["Beta Ltd", None, None],
            "segment": ["smb", "enterprise", None],
            "plan": ["starter", None, None],
            "seats": np.array([None, 40, None], dtype=object),
        },
        "subscriptions": {
            "id": ["s2", "s1", "s3"],
            "customer_id": ["beta", "alpha", "alpha"],
            "plan": ["starter", "pro", "addon"],
            "mrr": [49.0, 299.0, 20.0],
            "currency": ["USD", "EUR", "EUR"],
            "started_at": [day(0), day(-10), day(3)],
            "ended_at": [day(40), None, day(20)],
            "cancel_reason": ["price", None, None],
        },
        "events": {
            "customer_id": ["beta", "alpha", "alpha", "beta", "beta", "gamma", "alpha"],
            "kind": [
                "login",
                "nps_response",
                "feature_used",
                "support_request",
                "support_reply",
                "webinar",
                "purchase",
            ],
            "occurred_at": [day(2), day(1), day(1), day(3), day(3.001), day(6), day(30)],
            "value": [None, 9, None, None, None, None, 120.5],
            "feature": [None, None, "reports", None, None, None, None],
            "channel": [None, None, None, "chat", "chat", None, None],
            "ticket": [None, None, None, "t1", "t1", None, None],
        },
    }


def test_from_records_layout() -> None:
    ds = Dataset.from_records(*sample_records())
    assert ds.customer_ids.tolist() == ["alpha", "beta", "gamma"]
    events = ds.events
    # sorted by (customer index, time)
    assert events.customer.tolist() == [0, 0, 0, 1, 1, 1, 2]
    assert events.offsets().tolist() == [0, 3, 6, 7]
    assert np.all(np.diff(events.time[:3]) >= np.timedelta64(0, "us"))
    assert ds.kinds[: len(BUILTIN_KINDS)] == BUILTIN_KINDS
    assert ds.kinds[len(BUILTIN_KINDS) :] == ("webinar",)
    assert events.kind_code(EventKind.LOGIN) == 0
    assert events.kind_code("webinar") == len(BUILTIN_KINDS)
    assert events.kind_code("never") == -1
    subs = ds.subscriptions
    assert subs.ids.tolist() == ["s1", "s3", "s2"]
    assert subs.offsets().tolist() == [0, 2, 3, 3]
    assert np.isnat(subs.ended_at).tolist() == [True, False, False]
    assert subs.cancel_reason.decode().tolist() == [None, None, "price"]
    assert ds.customers.attributes["seats"].tolist() == [40, None, None]
    assert events.time.dtype == np.dtype("datetime64[us]")
    # an exact tie in time is broken by kind code: feature_used (1) before nps_response (11)
    assert np.isnan(events.value[0])
    assert events.value[1] == 9.0


def test_both_builders_agree() -> None:
    a = Dataset.from_records(*sample_records())
    b = Dataset.from_columns(**sample_columns())
    assert a.equals(b)
    assert b.equals(a)


def test_round_trips() -> None:
    ds = Dataset.from_records(*sample_records())
    assert Dataset.from_records(*ds.to_records()).equals(ds)
    assert Dataset.from_columns(**ds.to_columns()).equals(ds)


def test_from_columns_accepts_pandas_dataframes() -> None:
    pd = pytest.importorskip("pandas")
    cols = sample_columns()
    frames = {name: pd.DataFrame(table) for name, table in cols.items()}
    # A tz-aware column in another zone is converted to UTC.
    frames["events"]["occurred_at"] = pd.to_datetime(
        frames["events"]["occurred_at"], utc=True
    ).dt.tz_convert("America/New_York")
    before = {name: frame.copy(deep=True) for name, frame in frames.items()}
    ds = Dataset.from_columns(**frames)
    assert ds.equals(Dataset.from_records(*sample_records()))
    for name, frame in frames.items():
        assert frame.equals(before[name]), f"{name} frame was modified"


def test_equals_detects_differences() -> None:
    recs = sample_records()
    ds = Dataset.from_records(*recs)
    customers, subscriptions, events = recs
    changed = [*events[:-1], Event("alpha", "purchase", day(30), 120.25)]
    assert not ds.equals(Dataset.from_records(customers, subscriptions, changed))
    assert not ds.equals(ds.until(day(10)))


def test_input_arrays_not_mutated_and_not_shared() -> None:
    cols = sample_columns()
    times = np.array([to_datetime64(t) for t in cols["events"]["occurred_at"]])
    cols["events"]["occurred_at"] = times
    values = np.array([np.nan, 9, np.nan, np.nan, np.nan, np.nan, 120.5])
    cols["events"]["value"] = values
    snapshot = (times.copy(), values.copy())
    ds = Dataset.from_columns(**cols)
    assert np.array_equal(times, snapshot[0])
    assert np.array_equal(values, snapshot[1], equal_nan=True)
    values[1] = 3.0  # changing the input afterwards does not reach the dataset
    assert 9.0 in ds.events.value


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_shuffled_input_gives_the_same_dataset(rnd: Any) -> None:
    customers, subscriptions, events = sample_records()
    # add exact ties in (customer, time) that differ only in kind, value or properties
    events = [
        *events,
        Event("beta", "login", day(2)),
        Event("beta", "page_view", day(2)),
        Event("beta", "time_on_site", day(2), 30),
        Event("beta", "time_on_site", day(2), 10),
        Event("beta", "feature_used", day(2), properties={"feature": "b"}),
        Event("beta", "feature_used", day(2), properties={"feature": "a"}),
    ]
    reference = Dataset.from_records(customers, subscriptions, events)
    for items in (customers, subscriptions, events):
        rnd.shuffle(items)
    assert Dataset.from_records(customers, subscriptions, events).equals(reference)


def test_until_is_point_in_time() -> None:
    ds = Dataset.from_records(*sample_records())
    view = ds.until(day(3))
    assert view.as_of == to_datetime64(day(3))
    # events at or before as_of only: day(3) itself is included, day(3.001) is not
    assert view.events.time.max() == to_datetime64(day(3))
    assert len(view.events) == 4
    subs = view.subscriptions
    # s3 starts at day 3 (visible), s2 ends at day 40 (after as_of: shown active, no reason)
    assert subs.ids.tolist() == ["s1", "s3", "s2"]
    assert np.isnat(subs.ended_at).all()
    assert subs.cancel_reason.decode().tolist() == [None, None, None]
    earlier = ds.until(day(1))
    assert earlier.subscriptions.ids.tolist() == ["s1", "s2"]
    # the original is unchanged
    assert ds.subscriptions.cancel_reason.decode().tolist() == [None, None, "price"]


def test_between_is_half_open_and_nests() -> None:
    ds = Dataset.from_records(*sample_records())
    window = ds.between(day(1), day(3))
    assert window.window == (to_datetime64(day(1)), to_datetime64(day(3)))
    assert sorted(window.events.time.tolist()) == sorted(
        t.replace(tzinfo=None) for t in [day(1), day(1), day(2)]
    )
    narrower = window.until(day(1.5))
    assert len(narrower.events) == 2
    with pytest.raises(ValidationError, match=r"end .* is before start"):
        ds.between(day(3), day(1))


def test_events_of_uses_kinds_and_window() -> None:
    ds = Dataset.from_records(*sample_records())
    support = ds.events_of(EventKind.SUPPORT_REQUEST, "support_reply")
    assert support.customer.tolist() == [1, 1]
    assert support.property("ticket").decode().tolist() == ["t1", "t1"]
    assert support.property("channel").decode().tolist() == ["chat", "chat"]
    assert len(ds.events_of("no_such_kind")) == 0
    assert len(ds.until(day(3)).events_of("support_reply")) == 0
    only_feature = ds.events_of("feature_used", properties=["feature"])
    assert list(only_feature.properties) == ["feature"]


def test_views_share_memory() -> None:
    ds = Dataset.from_records(*sample_records())
    one = ds.customer("beta")
    assert one.n_customers == 1
    assert one.events.customer.tolist() == [0, 0, 0]
    assert np.shares_memory(one.events.time, ds.events.time)
    assert np.shares_memory(one.events.value, ds.events.value)
    assert np.shares_memory(one.customers.created_at, ds.customers.created_at)
    part = ds.slice(1, 3)
    assert part.customer_ids.tolist() == ["beta", "gamma"]
    assert part.events.offsets().tolist() == [0, 3, 4]
    assert part.subscriptions.customer.tolist() == [0]
    with pytest.raises(ValidationError, match=r"slice \[2, 5\) is outside 0\.\.3"):
        ds.slice(2, 5)


def test_until_allocates_nothing_per_event() -> None:
    n = 200_000
    ds = Dataset.from_columns(
        customers={"id": ["a"], "created_at": [T0]},
        events={
            "customer_id": np.full(n, "a"),
            "kind": np.full(n, "login"),
            "occurred_at": np.datetime64("2024-01-01T00:00:00", "us")
            + np.arange(n).astype("timedelta64[s]"),
        },
    )
    tracemalloc.start()
    view = ds.until(day(1)).between(day(0), day(0.5))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10_000  # bytes: a view, not a copy of 200k events
    assert len(view.events) == 43_200


def test_index_of() -> None:
    ds = Dataset.from_records(*sample_records())
    assert ds.index_of(["gamma", "alpha"]).tolist() == [2, 0]
    assert ds.index_of("beta").tolist() == [1]
    with pytest.raises(ValidationError, match=r"unknown customer id\(s\): row 1: 'zeta'"):
        ds.index_of(["alpha", "zeta"])


# ----------------------------------------------------------------------------- errors


def columns_with(table: str, **changes: Any) -> dict[str, dict[str, Any]]:
    cols = sample_columns()
    cols[table].update(changes)
    return cols


def test_unknown_customer_ids_listed() -> None:
    cols = columns_with(
        "events",
        customer_id=["beta", "x1", "alpha", "x2", "x3", "x4", "alpha"],
    )
    with pytest.raises(ValidationError) as info:
        Dataset.from_columns(**cols)
    message = str(info.value)
    assert "events.customer_id: 4 row(s) refer to unknown customer ids" in message
    assert "row 1: 'x1', row 3: 'x2', row 4: 'x3' (and 1 more)" in message


def test_subscription_for_unknown_customer() -> None:
    cols = columns_with("subscriptions", customer_id=["beta", "nobody", "alpha"])
    with pytest.raises(ValidationError, match=r"subscriptions\.customer_id: .*row 1: 'nobody'"):
        Dataset.from_columns(**cols)


def test_duplicate_ids() -> None:
    with pytest.raises(ValidationError, match=r"customers\.id has duplicates: row 2: 'beta'"):
        Dataset.from_columns(**columns_with("customers", id=["beta", "alpha", "beta"]))
    with pytest.raises(ValidationError, match=r"subscriptions\.id has duplicates, e\.g\. 's1'"):
        Dataset.from_columns(**columns_with("subscriptions", id=["s1", "s1", "s3"]))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"value": [None, 12, None, None, None, None, 120.5]},
            r"events row 1 \(customer 'alpha', kind 'nps_response' "
            r"at 2024-01-02T00:00:00\.000000\): "
            r"value must be an NPS answer, a whole number from 0 to 10, got 12\.0",
        ),
        (
            {"value": [np.inf, 9, None, None, None, None, 120.5]},
            r"events row 0 .*value must be a finite number, got inf",
        ),
        (
            {"value": [None, 9, None, None, None, None, -3]},
            r"events row 6 .*kind 'purchase'.*value must be >= 0, got -3\.0",
        ),
        (
            {"value": [None, None, None, None, None, None, 120.5]},
            r"events row 1 .*value is required",
        ),
        (
            {"channel": [None, None, None, " ", "chat", None, None]},
            r"events row 3 .*properties\['channel'\] is required: the channel's name",
        ),
        (
            {"ticket": [None, None, None, None, "t1", None, None]},
            r"events row 3 .*properties\['ticket'\] is required",
        ),
        ({"feature": [None] * 7}, r"events row 2 .*properties\['feature'\] is required"),
    ],
)
def test_event_column_rules_match_the_model(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Dataset.from_columns(**columns_with("events", **changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"mrr": [49.0, -1.0, 20.0]},
            r"subscriptions row 1 \(id 's1'\): mrr must be a finite number >= 0, got -1\.0",
        ),
        ({"mrr": [49.0, np.nan, 20.0]}, r"row 1 \(id 's1'\): mrr must be a finite number"),
        ({"currency": ["USD", "eur", "EUR"]}, r"row 1 \(id 's1'\): currency must be an ISO 4217"),
        ({"ended_at": [day(-1), None, day(20)]}, r"row 0 \(id 's2'\): ended_at .* is before"),
        ({"started_at": [day(0), None, day(3)]}, r"subscriptions\.started_at is missing at row 1"),
    ],
)
def test_subscription_column_rules(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Dataset.from_columns(**columns_with("subscriptions", **changes))


def test_structural_errors() -> None:
    cols = sample_columns()
    del cols["events"]["kind"]
    with pytest.raises(ValidationError, match=r"events: missing required column\(s\) \['kind'\]"):
        Dataset.from_columns(**cols)
    with pytest.raises(ValidationError, match=r"customers: columns have different lengths"):
        Dataset.from_columns(**columns_with("customers", segment=["smb"]))
    with pytest.raises(
        ValidationError, match=r"customers\.created_at row 1 must be timezone-aware"
    ):
        Dataset.from_columns(
            **columns_with("customers", created_at=[day(0), datetime(2024, 1, 1), day(5)])
        )
    with pytest.raises(ValidationError, match=r"must carry a UTC offset.*'2024-01-01T00:00:00'"):
        Dataset.from_columns(
            **columns_with("customers", created_at=[day(0), "2024-01-01T00:00:00", day(5)])
        )
    with pytest.raises(
        ValidationError, match=r"events\.kind must be a non-empty string, got '' at row 0"
    ):
        Dataset.from_columns(**columns_with("events", kind=np.array(["", *["login"] * 6])))
    with pytest.raises(ValidationError, match=r"events\.value must hold numbers"):
        Dataset.from_columns(**columns_with("events", value=["a"] * 7))


def test_iso_strings_with_offsets_are_accepted() -> None:
    cols = columns_with(
        "customers", created_at=["2024-01-01T00:00:00Z", "2023-12-22T01:00:00+01:00", day(5)]
    )
    assert Dataset.from_columns(**cols).equals(Dataset.from_columns(**sample_columns()))


def test_constructor_checks_tables() -> None:
    ds = Dataset.from_records(*sample_records())
    events = ds.events
    shuffled = events.take(np.array([0, 2, 1, 3, 4, 5, 6]))
    with pytest.raises(ValidationError, match="sorted by time within each customer"):
        Dataset(ds.customers, ds.subscriptions, shuffled)
    bad_customers = ds.customers.take(np.array([1, 0, 2]))
    with pytest.raises(ValidationError, match="unique and sorted"):
        Dataset(bad_customers, ds.subscriptions, events)
    assert Dataset(ds.customers, ds.subscriptions, events).equals(ds)


def test_categorical() -> None:
    c = Categorical.encode(np.array(["b", "a", None, "b", ""], dtype=object))
    assert c.categories == ("a", "b")
    assert c.codes.tolist() == [1, 0, -1, 1, -1]
    assert c.code_of("b") == 1
    assert c.code_of("z") == -1
    assert Categorical.encode([]).categories == ()
    with pytest.raises(ValidationError, match=r"plan must hold strings, got 3 at row 1"):
        Categorical.encode(["a", 3], "plan")


def test_empty_dataset() -> None:
    ds = Dataset.from_records([])
    assert ds.n_customers == 0
    assert len(ds.events) == 0
    assert len(ds.subscriptions) == 0
    assert ds.events.offsets().tolist() == [0]


def test_customer_lookup_survives_hash_collisions(monkeypatch: pytest.MonkeyPatch) -> None:
    """When two customer ids hash alike, the lookup falls back to an exact string search
    and gives the same dataset and the same errors."""
    import custsuccess.dataset as dataset_module

    reference = Dataset.from_columns(**sample_columns())

    def colliding(codes: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint64]]:
        return np.zeros(len(codes), dtype=np.uint64)

    monkeypatch.setattr(dataset_module, "_fnv_hash", colliding)
    assert Dataset.from_columns(**sample_columns()).equals(reference)
    cols = columns_with("events", customer_id=["beta", "x1", *["alpha"] * 5])
    with pytest.raises(ValidationError, match=r"1 row\(s\) refer to unknown customer ids: row 1"):
        Dataset.from_columns(**cols)
