"""Tests of the demo data generator: determinism, shape, validity and the built-in story.

Every expectation is computed here from the dataset's arrays, independently of the
generator's internals.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import numpy.typing as npt
import pytest

from custsuccess import Dataset, EventKind, ValidationError
from custsuccess.demo import CANCEL_REASONS, DEFAULT_END, FEATURES, PLANS, SEAT_PRICES, generate

N = 5000
END = np.datetime64("2026-10-31T00:00:00", "us")
DAY = np.timedelta64(1, "D")
USAGE = ("login", "feature_used", "page_view", "time_on_site")


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return generate(N, seed=0)


def last_rows(ds: Dataset) -> npt.NDArray[np.int64]:
    """Index of each customer's latest subscription row."""
    off = ds.subscriptions.offsets()
    assert np.all(np.diff(off) >= 1), "every customer has a subscription"
    return off[1:] - 1


def churn_dates(ds: Dataset) -> npt.NDArray[np.datetime64]:
    """When each customer's last subscription ended (NaT for customers still paying)."""
    return ds.subscriptions.ended_at[last_rows(ds)]


# --------------------------------------------------------------------------- basics


def test_same_seed_gives_the_same_dataset() -> None:
    assert generate(800, seed=3).equals(generate(800, seed=3))


def test_different_seeds_differ() -> None:
    a, b = generate(800, seed=3), generate(800, seed=4)
    assert not a.equals(b)
    assert not np.array_equal(a.customers.created_at, b.customers.created_at)
    assert len(a.events) != len(b.events)


def test_sizes_and_ids(ds: Dataset) -> None:
    assert ds.n_customers == N
    assert ds.customer_ids[0] == "cus_0000000"
    assert ds.customer_ids[-1] == f"cus_{N - 1:07d}"
    assert len(np.unique(ds.subscriptions.ids)) == len(ds.subscriptions)
    # about 20 events a customer, so that 1M customers make about 20M events
    assert 20 <= len(ds.events) / N <= 26
    assert N <= len(ds.subscriptions) <= 1.6 * N
    assert ds.subscriptions.currency.categories == ("USD",)


def test_zero_customers() -> None:
    empty = generate(0)
    assert empty.n_customers == 0
    assert len(empty.events) == 0
    assert len(empty.subscriptions) == 0


def test_round_trip_through_columns_is_identical() -> None:
    small = generate(400, seed=5)
    again = Dataset.from_columns(**small.to_columns())
    assert again.equals(small)


def test_every_builtin_kind_occurs(ds: Dataset) -> None:
    counts = np.bincount(ds.events.kind, minlength=len(ds.kinds))
    for kind in EventKind:
        assert counts[ds.events.kind_code(kind)] > 0, kind
    assert ds.kinds[: len(EventKind)] == tuple(k.value for k in EventKind)


def test_signups_span_three_years_and_everything_is_before_end(ds: Dataset) -> None:
    created = ds.customers.created_at
    assert created.min() >= END - 3 * 365 * DAY
    assert created.min() < END - 2 * 365 * DAY  # really spread over the period
    assert created.max() < END
    assert ds.events.time.max() < END
    assert ds.subscriptions.started_at.max() < END
    ended = ds.subscriptions.ended_at
    assert ended[~np.isnat(ended)].max() < END
    # growth: more signups in the last year than in the first
    assert np.sum(created >= END - 365 * DAY) > np.sum(created < END - 2 * 365 * DAY)
    # nothing happens to a customer before they sign up
    assert np.all(ds.events.time >= created[ds.events.customer])
    subs = ds.subscriptions
    assert np.all(subs.started_at >= created[subs.customer])


def test_custom_end() -> None:
    end = datetime(2020, 1, 1, tzinfo=timezone.utc)
    small = generate(300, seed=2, end=end)
    assert small.customers.created_at.min() >= np.datetime64("2017-01-01")
    assert small.events.time.max() < np.datetime64("2020-01-01")
    # the same history moved in time: same shape as with the string form of the end
    assert small.equals(generate(300, seed=2, end="2020-01-01T00:00:00+00:00"))
    assert DEFAULT_END.startswith("2026-10-31")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_customers": -1}, "n_customers must be a non-negative integer, got -1"),
        ({"n_customers": "10"}, "n_customers must be a non-negative integer, got '10'"),
        ({"n_customers": True}, "n_customers must be a non-negative integer, got True"),
        ({"n_customers": 2.5}, "n_customers must be a non-negative integer, got 2.5"),
        ({"seed": -3}, "seed must be a non-negative integer, got -3"),
        ({"seed": None}, "seed must be a non-negative integer, got None"),
        ({"end": "2024-01-01T00:00"}, "end must carry a UTC offset"),
        ({"end": datetime(2024, 1, 1)}, "end must be timezone-aware"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        generate(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- subscriptions


def test_subscriptions_are_valid_and_never_overlap(ds: Dataset) -> None:
    subs = ds.subscriptions
    ended = subs.ended_at
    assert np.all(np.isnat(ended) | (ended >= subs.started_at))
    same = subs.customer[1:] == subs.customer[:-1]
    prev_end = ended[:-1][same]
    # a later row of the same customer starts once the previous one has ended
    assert not np.isnat(prev_end).any()
    assert np.all(subs.started_at[1:][same] >= prev_end)
    # at most one subscription per customer running at any moment
    for at in (END - 400 * DAY, END - 100 * DAY, END - np.timedelta64(1, "us")):
        active = subs.customer[subs.active_at(at)]
        assert len(np.unique(active)) == len(active)


def test_plans_and_prices(ds: Dataset) -> None:
    subs = ds.subscriptions
    assert set(subs.plan.categories) == set(PLANS)
    plan = np.array(subs.plan.categories)[subs.plan.codes]
    price = dict(zip(PLANS, SEAT_PRICES, strict=True))
    seats = ds.customers.attributes["seats"][subs.customer]
    expected = np.array([price[p] for p in plan]) * seats
    expected = np.where(plan == "enterprise", np.maximum(expected, 2000.0), expected)
    np.testing.assert_allclose(subs.mrr, expected)
    # plans have different prices: the average MRR rises with the plan
    means = [subs.mrr[plan == p].mean() for p in PLANS]
    assert means == sorted(means)
    # the customer table's plan is the plan of the latest subscription
    latest = plan[last_rows(ds)]
    np.testing.assert_array_equal(ds.customers.plan.decode(), latest)


def test_every_kind_of_mrr_movement_occurs(ds: Dataset) -> None:
    subs = ds.subscriptions
    same = subs.customer[1:] == subs.customer[:-1]
    switch = same & (subs.started_at[1:] == subs.ended_at[:-1])
    comeback = same & (subs.started_at[1:] > subs.ended_at[:-1])
    up = switch & (subs.mrr[1:] > subs.mrr[:-1])
    down = switch & (subs.mrr[1:] < subs.mrr[:-1])
    assert up.sum() > 0.03 * N, "upgrades (expansion)"
    assert down.sum() > 0.01 * N, "downgrades (contraction)"
    assert comeback.sum() > 0.005 * N, "reactivations"
    churned = ~np.isnat(churn_dates(ds))
    assert 0.15 < churned.mean() < 0.6, "churners"
    # a switch never leaves a cancel reason on the replaced row
    assert np.all(subs.cancel_reason.codes[:-1][switch] == -1)


def test_cancel_reasons(ds: Dataset) -> None:
    subs = ds.subscriptions
    last = last_rows(ds)
    churned = ~np.isnat(subs.ended_at[last])
    reason = subs.cancel_reason.codes[last][churned]
    assert set(subs.cancel_reason.categories) <= set(CANCEL_REASONS)
    given = reason >= 0
    assert 0.3 < given.mean() < 0.8, "a reason for some churners, none for others"
    assert len(np.unique(reason[given])) == len(CANCEL_REASONS)
    # only ended subscriptions carry a reason
    assert np.all(np.isnat(subs.ended_at[subs.cancel_reason.codes >= 0]) == False)  # noqa: E712


# --------------------------------------------------------------------------- events


def per_customer(ds: Dataset, kinds: tuple[str, ...], lo: npt.NDArray[np.datetime64],
                 hi: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64]:
    """Number of events of ``kinds`` per customer with time in ``[lo[c], hi[c])``."""
    ev = ds.events_of(*kinds)
    inside = (ev.time >= lo[ev.customer]) & (ev.time < hi[ev.customer])
    return np.bincount(ev.customer[inside], minlength=ds.n_customers)


def test_churners_usage_decays_before_they_cancel(ds: Dataset) -> None:
    churn = churn_dates(ds)
    created = ds.customers.created_at
    long = ~np.isnat(churn) & (churn - created > 150 * DAY)
    assert long.sum() > 200
    c_end = np.where(np.isnat(churn), END, churn)
    before = c_end - 30 * DAY
    last30 = per_customer(ds, USAGE, before, c_end)[long] / 30.0
    earlier_days = (before - created)[long] / DAY
    earlier = per_customer(ds, USAGE, created, before)[long] / earlier_days
    assert last30.mean() < 0.35 * earlier.mean()
    # retained customers show no such drop: their last 30 days against the 90 before
    kept = np.isnat(churn) & (END - created > 150 * DAY)
    window = [np.full(N, END - d * DAY) for d in (120, 30, 0)]
    kept_before = per_customer(ds, USAGE, window[0], window[1])[kept] / 90.0
    kept30 = per_customer(ds, USAGE, window[1], window[2])[kept] / 30.0
    assert kept30.mean() > 0.8 * kept_before.mean()
    # the period of non-use: most churners had no usage in the week before cancelling
    last7 = per_customer(ds, USAGE, c_end - 7 * DAY, c_end)[long]
    assert (last7 == 0).mean() > 0.7


def test_some_customers_never_onboard(ds: Dataset) -> None:
    created = ds.customers.created_at
    old = END - created > 120 * DAY
    first90 = per_customer(ds, USAGE, created, created + 90 * DAY)[old]
    inactive = first90 <= 1
    assert 0.03 < inactive.mean() < 0.3
    # and they churn far more than those who onboarded
    churned = ~np.isnat(churn_dates(ds))[old]
    assert churned[inactive].mean() > 1.5 * churned[~inactive].mean()


def test_nps_values_and_cadence(ds: Dataset) -> None:
    nps = ds.events_of("nps_response")
    assert np.all(nps.value == np.rint(nps.value))
    assert nps.value.min() >= 0
    assert nps.value.max() <= 10
    assert len(np.unique(nps.value)) == 11
    respondents = np.unique(nps.customer)
    assert 0.2 * N < len(respondents) < 0.6 * N, "a share of customers answers"
    # roughly quarterly: answers of one customer are at least ~2 months apart
    same = nps.customer[1:] == nps.customer[:-1]
    gaps = (nps.time[1:] - nps.time[:-1])[same] / DAY
    assert gaps.min() > 60


def test_support_replies_follow_their_requests(ds: Dataset) -> None:
    req = ds.events_of("support_request")
    rep = ds.events_of("support_reply")
    req_ticket = req.property("ticket").decode()
    rep_ticket = rep.property("ticket").decode()
    assert len(np.unique(req_ticket.astype(str))) == len(req), "one request per ticket"
    assert len(np.unique(rep_ticket.astype(str))) == len(rep), "at most one reply per ticket"
    where = {t: i for i, t in enumerate(req_ticket.tolist())}
    pair = np.array([where[t] for t in rep_ticket.tolist()])
    assert np.all(rep.customer == req.customer[pair])
    assert np.all(rep.time > req.time[pair])
    req_channel = req.property("channel").decode()
    rep_channel = rep.property("channel").decode()
    assert np.all(rep_channel == req_channel[pair])
    assert set(req_channel.tolist()) == {"phone", "email", "chat", "social"}
    assert 0.02 < 1 - len(rep) / len(req) < 0.15, "some requests are never answered"
    seconds = (rep.time - req.time[pair]) / np.timedelta64(1, "s")
    median = {c: np.median(seconds[rep_channel == c]) for c in ("phone", "email", "chat")}
    assert median["chat"] < 120  # about a minute
    assert 60 < median["phone"] < 600  # minutes
    assert 3600 < median["email"] < 2 * 86400  # hours to days
    assert np.percentile(seconds[rep_channel == "email"], 90) > 86400
    assert median["chat"] < median["phone"] < median["email"]


def test_feature_and_value_columns(ds: Dataset) -> None:
    used = ds.events_of("feature_used")
    feature = used.property("feature")
    assert feature.codes.min() >= 0
    assert set(feature.categories) == set(FEATURES)
    site = ds.events_of("time_on_site").value
    assert site.min() >= 0
    assert 60 < np.median(site) < 3600
    purchase = ds.events_of("purchase")
    assert purchase.value.min() > 0
    # every purchase comes after a cart_add of the same customer
    carts = ds.events_of("cart_add")
    assert len(carts) > len(purchase)
    first_cart = np.full(N, END)
    np.minimum.at(first_cart, carts.customer, carts.time)
    assert np.all(first_cart[purchase.customer] <= purchase.time)
    # events of other kinds carry no value and no feature
    plain = ds.events_of("login", "page_view", "email_sent", "referral", "payment_failed")
    assert np.isnan(plain.value).all()
    assert (plain.property("feature").codes == -1).all()


def test_email_funnel(ds: Dataset) -> None:
    sent = len(ds.events_of("email_sent"))
    opened = len(ds.events_of("email_open"))
    clicked = len(ds.events_of("email_click"))
    assert 0.15 < opened / sent < 0.6
    assert 0.1 < clicked / opened < 0.5


# --------------------------------------------------------------------------- the story


def test_signals_come_before_churn(ds: Dataset) -> None:
    """Low usage, detractor NPS, slow support and failed payments all predict churn."""
    big = generate(20_000, seed=11)
    as_of = END - 200 * DAY
    active, churns = horizon_churn_n(big, as_of, 120)
    base = churns[active].mean()
    start = np.full(big.n_customers, as_of - 30 * DAY)
    stop = np.full(big.n_customers, as_of)
    recent = per_customer(big, USAGE, start, stop)
    idle = active & (recent == 0)
    busy = active & (recent >= 3)
    assert churns[idle].mean() > 2 * churns[busy].mean()

    nps = big.until(as_of).events_of("nps_response")
    latest = np.full(big.n_customers, -1.0)
    latest[nps.customer] = nps.value  # sorted by time: the last answer wins
    detractor = active & (latest >= 0) & (latest <= 6)
    promoter = active & (latest >= 9)
    assert churns[detractor].mean() > 1.5 * churns[promoter].mean()

    failed = np.zeros(big.n_customers, dtype=bool)
    pf = big.between(as_of - 90 * DAY, as_of).events_of("payment_failed")
    failed[pf.customer] = True
    assert churns[active & failed].mean() > 1.5 * base

    req = big.until(as_of).events_of("support_request")
    rep = big.until(as_of).events_of("support_reply")
    answered = np.isin(req.property("ticket").decode(), rep.property("ticket").decode())
    unanswered = np.zeros(big.n_customers, dtype=bool)
    unanswered[req.customer[~answered]] = True
    asked = np.zeros(big.n_customers, dtype=bool)
    asked[req.customer] = True
    # support friction against smooth support: accounts left without an answer churn
    # more than accounts whose every request was answered (0.18 against 0.10 here)
    assert churns[active & unanswered].mean() > 1.5 * churns[active & asked & ~unanswered].mean()
    assert churns[active & unanswered].mean() > base


def horizon_churn_n(ds: Dataset, as_of: np.datetime64, days: int) -> tuple[
    npt.NDArray[np.bool_], npt.NDArray[np.bool_]
]:
    """(active at as_of, no longer paying ``days`` later) per customer of ``ds``."""
    subs = ds.subscriptions
    n = ds.n_customers
    active = np.zeros(n, dtype=bool)
    active[subs.customer[subs.active_at(as_of)]] = True
    active_later = np.zeros(n, dtype=bool)
    active_later[subs.customer[subs.active_at(as_of + days * DAY)]] = True
    return active, active & ~active_later


def test_involuntary_churn_follows_failed_payments(ds: Dataset) -> None:
    churn = churn_dates(ds)
    last = last_rows(ds)
    no_reason = ds.subscriptions.cancel_reason.codes[last] == -1
    pf = ds.events_of("payment_failed")
    c_end = np.where(np.isnat(churn), END, churn)
    recent_fail = np.zeros(N, dtype=int)
    inside = pf.time >= c_end[pf.customer] - 30 * DAY
    np.add.at(recent_fail, pf.customer[inside], 1)
    churned = ~np.isnat(churn)
    dunned = churned & (recent_fail >= 2)
    assert dunned.sum() > 0.005 * N
    # involuntary churners give no reason
    assert no_reason[dunned].mean() > 0.9

