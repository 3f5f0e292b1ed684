"""score_one: one account from plain records gives the same numbers as the batch."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Event, Registry, Subscription, ValidationError
from custsuccess.dataset import to_datetime64
from custsuccess.health import HealthModel, _kernels
from custsuccess.health.single import one_customer_dataset

UTC = timezone.utc
AS_OF = datetime(2024, 7, 1, 12, tzinfo=UTC)
MODEL = HealthModel.default(Registry(entry_points=False))

KINDS = ["login", "page_view", "feature_used", "time_on_site", "nps_response",
         "support_request", "support_reply", "referral", "payment_failed", "email_open",
         "custom_kind"]


@st.composite
def events_of(draw: st.DrawFn, cid: str) -> list[Event]:
    out = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(KINDS))
        # minutes before as_of (some after it, some exactly equal: ties)
        at = AS_OF - timedelta(minutes=draw(st.sampled_from([0, 1, 5, 90, 1440])) *
                               draw(st.integers(-3, 200)))
        value = None
        props: dict[str, str] = {}
        if kind == "nps_response":
            value = float(draw(st.integers(0, 10)))
        elif kind == "time_on_site":
            value = float(draw(st.integers(0, 999)))
        elif kind == "feature_used":
            props["feature"] = draw(st.sampled_from(["a", "b", "c", "d", "e", "f"]))
        elif kind in ("support_request", "support_reply"):
            props["channel"] = draw(st.sampled_from(["phone", "chat", "email", "social"]))
            props["ticket"] = draw(st.sampled_from(["t1", "t2", "t3"]))
        out.append(Event(cid, kind, at, value, props))
    return out


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    n = draw(st.integers(1, 4))
    customers, subs, events = [], [], []
    for i in range(n):
        cid = f"c{i}"
        created = AS_OF - timedelta(days=draw(st.integers(0, 300)), hours=draw(st.integers(0, 23)))
        customers.append(Customer(cid, created, plan="pro"))
        for j in range(draw(st.integers(0, 2))):
            start = created + timedelta(days=draw(st.integers(0, 100)))
            end = draw(st.one_of(st.none(), st.integers(1, 400)))
            subs.append(Subscription(
                f"s{i}{j}", cid, "pro", 10.0, "USD", start,
                None if end is None else start + timedelta(days=end),
            ))
        events += draw(events_of(cid))
    return Dataset.from_records(customers, subs, events)


def same_columns(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> bool:
    for table in a:
        if a[table].keys() != b[table].keys():
            return False
        for name, col in a[table].items():
            other = b[table][name]
            if col.dtype.kind in "fM":
                if not np.array_equal(col, other, equal_nan=True):
                    return False
            elif col.tolist() != other.tolist():
                return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_score_one_equals_the_batch(ds: Dataset) -> None:
    batch = MODEL.score(ds, AS_OF, include_churned=True)
    for i, cid in enumerate(batch.customer_ids.tolist()):
        (customer,), subs, events = ds.customer(cid).to_records()
        assert one_customer_dataset(customer, subs, events).equals(
            Dataset.from_records([customer], subs, events)
        )
        # built cut at as_of: what until(as_of) shows
        cut = one_customer_dataset(customer, subs, events, as_of=to_datetime64(AS_OF))
        whole = Dataset.from_records([customer], subs, events).until(AS_OF)
        assert same_columns(cut.to_columns(), whole.to_columns())
        one = MODEL.score_one(customer, subs, events, AS_OF)
        assert one.customer_ids.tolist() == [cid]
        np.testing.assert_array_equal(one.score, batch.score[i : i + 1])
        np.testing.assert_array_equal(one.rule_scores, batch.rule_scores[i : i + 1])
        assert one.tier.tolist() == [batch.tier[i]]
        np.testing.assert_array_equal(one.recommended, batch.recommended[i : i + 1])
        assert one.to_records()[0] == batch.to_records()[i]


def test_score_one_of_a_churned_account_is_scored() -> None:
    t0 = AS_OF - timedelta(days=100)
    customer = Customer("a", t0)
    subs = [Subscription("s", "a", "pro", 10.0, "USD", t0, AS_OF - timedelta(days=5))]
    report = MODEL.score_one(customer, subs, [Event("a", "login", AS_OF)], AS_OF)
    assert len(report) == 1
    assert report.rule_score("usage.recency")[0] == 100.0


def test_score_one_errors() -> None:
    t0 = AS_OF - timedelta(days=10)
    a = Customer("a", t0)
    message = r"events\[1\] \(kind 'login'\) belongs to customer 'b'"
    with pytest.raises(ValidationError, match=message):
        MODEL.score_one(a, [], [Event("a", "login", t0), Event("b", "login", t0)], AS_OF)
    message = r"subscriptions\[0\] \(id 's'\) belongs to customer 'b'"
    with pytest.raises(ValidationError, match=message):
        MODEL.score_one(a, [Subscription("s", "b", "pro", 1.0, "USD", t0)], [], AS_OF)
    with pytest.raises(ValidationError, match=r"events\[0\] must be an Event, got dict"):
        MODEL.score_one(a, [], [{"kind": "login"}], AS_OF)  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="customer must be a Customer"):
        MODEL.score_one("a", [], [], AS_OF)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"created at .* after as_of"):
        MODEL.score_one(a, [], [], t0 - timedelta(days=1))
    with pytest.raises(ValidationError, match="as_of is required"):
        MODEL.score_one(a, [], [])
    with pytest.raises(ValidationError, match=r"subscriptions\.id has duplicates"):
        MODEL.score_one(a, [Subscription("s", "a", "pro", 1.0, "USD", t0)] * 2, [], AS_OF)


def test_score_one_far_future_times_are_exact() -> None:
    # beyond 2**52 microseconds the builder takes the exact (slow) path
    t0 = datetime(2150, 1, 1, tzinfo=UTC)
    customer = Customer("a", t0)
    events = [Event("a", "login", t0 + timedelta(microseconds=7))]
    assert one_customer_dataset(customer, [], events).equals(
        Dataset.from_records([customer], [], events)
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_activity_kinds_read_together_or_one_by_one_agree(ds: Dataset) -> None:
    together = MODEL.score(ds, AS_OF, include_churned=True)
    old = _kernels.COMBINE_KINDS_UP_TO
    try:
        _kernels.COMBINE_KINDS_UP_TO = 0  # type: ignore[misc]
        one_by_one = MODEL.score(ds, AS_OF, include_churned=True)
    finally:
        _kernels.COMBINE_KINDS_UP_TO = old  # type: ignore[misc]
    np.testing.assert_array_equal(together.rule_scores, one_by_one.rule_scores)
    np.testing.assert_array_equal(together.recommended, one_by_one.recommended)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), st.randoms(use_true_random=False))
def test_bounds_sums_and_record_order(ds: Dataset, rnd: Any) -> None:
    report = MODEL.score(ds, AS_OF, include_churned=True)
    scored = ~np.isnan(report.score)
    assert ((report.score[scored] >= 0) & (report.score[scored] <= 100)).all()
    rules = report.rule_scores[~np.isnan(report.rule_scores)]
    assert ((rules >= 0) & (rules <= 100)).all()
    np.testing.assert_allclose(
        np.nansum(report.contributions[scored], axis=1), report.score[scored], rtol=1e-12
    )
    for cid in report.customer_ids[scored].tolist()[:2]:
        ex = report.explain(cid)
        assert ex.score is not None
        assert sum(r.effect or 0.0 for r in ex.rules) == pytest.approx(ex.score - 50)
    # the order of the input records changes nothing
    customers, subs, events = ds.to_records()
    for items in (customers, subs, events):
        rnd.shuffle(items)
    again = MODEL.score(Dataset.from_records(customers, subs, events), AS_OF, include_churned=True)
    np.testing.assert_array_equal(again.rule_scores, report.rule_scores)
    assert again.to_records() == report.to_records()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), st.randoms(use_true_random=False))
def test_builder_takes_events_in_any_order(ds: Dataset, rnd: Any) -> None:
    # sorted, reversed (a fast path: views made contiguous) or shuffled: the same dataset
    for cid in ds.customer_ids.tolist():
        (customer,), subs, events = ds.customer(cid).to_records()
        expected = Dataset.from_records([customer], subs, events)
        shuffled = list(events)
        rnd.shuffle(shuffled)
        for order in (events, events[::-1], shuffled):
            built = one_customer_dataset(customer, subs, order)
            assert built.equals(expected)
            table = built.events
            assert all(
                a.flags.c_contiguous for a in (table.kind, table.time, table.value)
            ), "reordered columns are contiguous"
