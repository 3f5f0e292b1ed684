"""MRR, MRR movements, customer flow, revenue rates and cohorts on hand-built datasets,
plus the exact bridge identity (hypothesis) against a per-customer reference."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Subscription
from custsuccess.errors import ValidationError
from custsuccess.metrics import (
    MOVEMENT_KINDS,
    cohort_retention,
    customer_flow,
    customer_mrr,
    mrr_movements,
    mrr_series,
    revenue_rates,
    windows,
)


def t(month: int, day: int = 1, year: int = 2024, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


def sub(
    sid: str,
    cust: str,
    mrr: float,
    start: datetime,
    end: datetime | None = None,
    currency: str = "USD",
) -> Subscription:
    return Subscription(sid, cust, "plan", mrr, currency, start, end)


def dataset(subs: list[Subscription], customers: dict[str, datetime] | None = None) -> Dataset:
    ids = customers or {s.customer_id: t(1) for s in subs}
    return Dataset.from_records([Customer(c, when) for c, when in ids.items()], subs)


JAN, MAY = "2024-01-01T00:00:00Z", "2024-05-01T00:00:00Z"


# --------------------------------------------------------------------------- movements


@pytest.fixture
def story() -> Dataset:
    """Every movement kind, hand-worked month by month (boundaries at each month start):

    a: 100 from Jan 10; swaps to 150 on Feb 10 (upgrade); ends Mar 15 -> churn in March;
       returns at 80 on Apr 2 -> reactivation in April.
    b: 50 from Feb 3 plus a 20 add-on Feb 3..Apr 20 (two subscriptions, one customer):
       new 70 in February, contraction 20 in April.
    c: a trial at 0 MRR in January, then 30 from Mar 5: new in March (0-MRR never counted).
    d: 40 from Dec 2023 (before the first period): opening MRR 40, never moves.
    e: 25 Jan 5 .. Jan 20 only (never seen at a boundary), then 60 from Apr 10: a
       paying subscription started before April 1 (Jan 5), so April is a reactivation.
    """
    return dataset(
        [
            sub("a1", "a", 100.0, t(1, 10), t(2, 10)),
            sub("a2", "a", 150.0, t(2, 10), t(3, 15)),
            sub("a3", "a", 80.0, t(4, 2)),
            sub("b1", "b", 50.0, t(2, 3)),
            sub("b2", "b", 20.0, t(2, 3), t(4, 20)),
            sub("c0", "c", 0.0, t(1, 2), t(3, 5)),
            sub("c1", "c", 30.0, t(3, 5)),
            sub("d1", "d", 40.0, t(12, 2, 2023)),
            sub("e1", "e", 25.0, t(1, 5), t(1, 20)),
            sub("e2", "e", 60.0, t(4, 10)),
        ]
    )


def test_movements_totals_hand_worked(story: Dataset) -> None:
    m = mrr_movements(story, start=JAN, end="2024-04-30T00:00:00Z")
    assert m.periods.labels == ("2024-01", "2024-02", "2024-03", "2024-04")
    # Jan 1: d 40                                   -> opening 40
    # Jan: a new 100                                 -> Feb 1: 140
    # Feb: a +50 expansion, b new 70                 -> Mar 1: 260
    # Mar: a churn 150, c new 30                     -> Apr 1: 140
    # Apr: a reactivation 80, b contraction 20, e reactivation 60 -> May 1: 260
    assert m.opening.tolist() == [40.0, 140.0, 260.0, 140.0]
    assert m.new.tolist() == [100.0, 70.0, 30.0, 0.0]
    assert m.expansion.tolist() == [0.0, 50.0, 0.0, 0.0]
    assert m.contraction.tolist() == [0.0, 0.0, 0.0, 20.0]
    assert m.churn.tolist() == [0.0, 0.0, 150.0, 0.0]
    assert m.reactivation.tolist() == [0.0, 0.0, 0.0, 140.0]
    assert m.closing.tolist() == [140.0, 260.0, 140.0, 260.0]
    assert m.counts[3].tolist() == [0, 0, 1, 0, 2]  # contraction b; reactivation a, e
    assert m.net_new.tolist() == [100.0, 120.0, -120.0, 120.0]


def test_movements_per_customer_rows(story: Dataset) -> None:
    m = mrr_movements(story, start=JAN, end="2024-04-30T00:00:00Z")
    ids = story.customer_ids
    rows = sorted(
        (str(ids[c]), m.periods.labels[p], MOVEMENT_KINDS[k], a, b, x)
        for c, p, k, a, b, x in zip(
            m.customer, m.period, m.kind, m.amount, m.before, m.after, strict=True
        )
    )
    assert rows == [
        ("a", "2024-01", "new", 100.0, 0.0, 100.0),
        ("a", "2024-02", "expansion", 50.0, 100.0, 150.0),
        ("a", "2024-03", "churn", 150.0, 150.0, 0.0),
        ("a", "2024-04", "reactivation", 80.0, 0.0, 80.0),
        ("b", "2024-02", "new", 70.0, 0.0, 70.0),
        ("b", "2024-04", "contraction", 20.0, 70.0, 50.0),
        ("c", "2024-03", "new", 30.0, 0.0, 30.0),
        ("e", "2024-04", "reactivation", 60.0, 0.0, 60.0),
    ]
    assert m.customer_opening.tolist() == [0.0, 0.0, 0.0, 40.0, 0.0]
    assert m.customer_closing.tolist() == [80.0, 50.0, 30.0, 40.0, 60.0]
    assert int(m.of_kind("churn").sum()) == 1
    frame = m.customer_frame(story)
    assert frame.loc[frame.movement == "churn", "customer"].tolist() == ["a"]
    with pytest.raises(ValidationError, match="kind must be one of"):
        m.of_kind("upsell")


def test_subscription_ending_exactly_at_a_boundary_churns_in_the_month_holding_the_end() -> None:
    # ends at the first instant of March: running through February's last instant, so in
    # February's closing MRR, and the churn happens in March (the period holding the end)
    ds = dataset([sub("s", "a", 10.0, t(1, 15), t(3, 1))])
    m = mrr_movements(ds, start=JAN, end="2024-03-15T00:00:00Z")
    assert m.churn.tolist() == [0.0, 0.0, 10.0]
    assert mrr_series(ds, start=JAN, end="2024-03-15T00:00:00Z").closing.tolist() == [
        10.0,
        10.0,
        0.0,
    ]


def test_a_start_at_a_periods_first_instant_belongs_to_that_period_everywhere() -> None:
    # billing anchored at midnight on the 1st: new MRR of January, in January's closing,
    # not December's; the first-payment cohort is January too
    ds = dataset([sub("s", "a", 10.0, t(1, 1), None)])
    dec = "2023-12-01T00:00:00Z"
    m = mrr_movements(ds, start=dec, end="2024-02-15T00:00:00Z")
    assert m.periods.labels == ("2023-12", "2024-01", "2024-02")
    assert m.new.tolist() == [0.0, 10.0, 0.0]
    assert m.closing.tolist() == [0.0, 10.0, 10.0]
    assert m.opening.tolist() == [0.0, 0.0, 10.0]
    series = mrr_series(ds, start=dec, end="2024-02-15T00:00:00Z")
    assert series.closing.tolist() == [0.0, 10.0, 10.0]
    assert series.customers.tolist() == [0, 1, 1]
    flow = customer_flow(ds, start=dec, end="2024-02-15T00:00:00Z")
    assert flow.new.tolist() == [0, 1, 0]
    cohorts = cohort_retention(ds, start=dec, end="2024-02-15T00:00:00Z", cohort_by="first_payment")
    assert cohorts.size.tolist() == [0, 1, 0]
    assert m.periods.assign(np.array(["2024-01-01T00:00:00"], dtype="datetime64[us]"))[0] == 1


def test_plan_swap_at_same_price_is_no_movement() -> None:
    ds = dataset([sub("s1", "a", 10.0, t(1, 2), t(2, 1)), sub("s2", "a", 10.0, t(2, 1))])
    m = mrr_movements(ds, start=JAN, end="2024-03-01T00:00:00Z")
    assert m.new.tolist() == [10.0, 0.0, 0.0]
    assert m.customer.size == 1


def test_churn_only_when_last_subscription_ends() -> None:
    # two overlapping subscriptions; the first ending is a contraction, not churn
    ds = dataset([sub("s1", "a", 10.0, t(1, 2), t(2, 5)), sub("s2", "a", 5.0, t(1, 2), t(3, 5))])
    m = mrr_movements(ds, start=JAN, end="2024-03-20T00:00:00Z")
    assert m.contraction.tolist() == [0.0, 10.0, 0.0]
    assert m.churn.tolist() == [0.0, 0.0, 5.0]


def test_mrr_series_hand_worked(story: Dataset) -> None:
    s = mrr_series(story, start=JAN, end="2024-04-30T00:00:00Z")
    assert s.closing.tolist() == [140.0, 260.0, 140.0, 260.0]
    # paying at each month's end: a d | a b d | b c d | a b c d e
    assert s.customers.tolist() == [2, 3, 3, 5]
    assert s.arpa.tolist() == pytest.approx([70.0, 260.0 / 3, 140.0 / 3, 52.0])
    assert s.to_pandas()["mrr"].tolist() == s.closing.tolist()


def test_quarterly_and_explicit_windows(story: Dataset) -> None:
    q = mrr_movements(story, freq="quarter", start=JAN, end="2024-04-30T00:00:00Z")
    assert q.periods.labels == ("2024Q1", "2024Q2")
    # Q1: Jan 1 40 -> Apr 1 140: a new 100 then churned (invisible: 0 -> 0 across Q1 ends:
    # a is 0 on Jan 1 and 0 on Apr 1), b new 70, c new 30
    assert q.opening.tolist() == [40.0, 140.0]
    assert q.new.tolist() == [100.0, 0.0]
    assert q.closing.tolist()[0] == 140.0
    w = mrr_movements(
        story, periods=windows([(JAN, "2024-02-15T00:00:00Z"), ("2024-02-15T00:00:00Z", MAY)])
    )
    # Feb 15: a 150 + b 70 + d 40 = 260; May 1: 260
    assert w.closing.tolist() == [260.0, 260.0]
    gap = windows([(JAN, "2024-02-01T00:00:00Z"), ("2024-03-01T00:00:00Z", MAY)])
    with pytest.raises(ValidationError, match="contiguous"):
        mrr_movements(story, periods=gap)
    with pytest.raises(ValidationError, match="either periods or start/end"):
        mrr_movements(story, periods=gap, start=JAN)


def test_currency_must_be_chosen_when_mixed() -> None:
    ds = dataset([sub("s1", "a", 10.0, t(1, 2)), sub("s2", "b", 9.0, t(1, 2), currency="EUR")])
    with pytest.raises(ValidationError, match=r"several currencies \(EUR, USD\)"):
        mrr_series(ds)
    assert mrr_series(ds, currency="EUR", end="2024-01-31T00:00:00Z").closing.tolist() == [9.0]
    with pytest.raises(ValidationError, match="currency 'GBP' does not occur"):
        mrr_series(ds, currency="GBP")


def test_customer_mrr_combines_subscriptions(story: Dataset) -> None:
    # Mar 1: a 150, b 50 + 20, c 0, d 40, e 0
    assert customer_mrr(story, "2024-03-01T00:00:00Z").tolist() == [150.0, 70.0, 0.0, 40.0, 0.0]
    # as of a view: b's add-on ends after the view's end, so it still runs
    view = story.until("2024-04-19T00:00:00Z")
    assert customer_mrr(view).tolist() == [80.0, 70.0, 30.0, 40.0, 60.0]


def test_views_do_not_see_the_future(story: Dataset) -> None:
    view = story.until("2024-03-10T00:00:00Z")
    m = mrr_movements(view)
    # a's churn on Mar 15 is after the view: no churn yet, March still open
    assert m.periods.labels[-1] == "2024-03"
    assert m.churn.sum() == 0.0


def test_empty_dataset_has_no_periods() -> None:
    ds = Dataset.from_records([Customer("a", t(1))])
    m = mrr_movements(ds)
    assert len(m) == 0
    assert m.customer_closing.tolist() == [0.0]
    assert len(mrr_series(ds)) == 0
    # with explicit dates: zeros
    s = mrr_series(ds, start=JAN, end="2024-02-01T00:00:00Z")
    assert s.closing.tolist() == [0.0, 0.0]
    assert np.isnan(s.arpa).all()


# --------------------------------------------------------------------------- flow and rates


def test_customer_flow_hand_worked(story: Dataset) -> None:
    f = customer_flow(story, start=JAN, end="2024-04-30T00:00:00Z")
    # paying at Jan 1: d; Feb 1: a, d; Mar 1: a, b, d; Apr 1: b, c, d; May 1: a, b, c, d, e
    assert f.customers_start.tolist() == [1, 2, 3, 3]
    assert f.new.tolist() == [1, 1, 1, 2]
    assert f.lost.tolist() == [0, 0, 1, 0]
    assert f.customers_end.tolist() == [2, 3, 3, 5]
    # March: 1 lost of 3 at the start; founding form: 1 / (1 new + 3)
    assert f.churn_rate.tolist()[2] == pytest.approx(1 / 3)
    founding = customer_flow(story, start=JAN, end="2024-04-30T00:00:00Z", method="founding")
    assert founding.churn_rate.tolist()[2] == pytest.approx(1 / 4)
    # retention March: (3 - 1) / 3, a fraction
    assert f.retention_rate[2] == pytest.approx(2 / 3)
    assert f.to_pandas().shape == (4, 6)


def test_customer_flow_zero_start_is_nan_not_warning() -> None:
    ds = dataset([sub("s1", "a", 10.0, t(1, 2))])
    f = customer_flow(ds, start=JAN, end="2024-02-15T00:00:00Z")
    assert np.isnan(f.churn_rate[0])
    assert f.churn_rate[1] == 0.0


def test_revenue_rates_hand_worked(story: Dataset) -> None:
    r = revenue_rates(story, start=JAN, end="2024-04-30T00:00:00Z")
    # Feb: opening 140, expansion 50, no losses -> grr 1, nrr 190/140, quick ratio inf
    assert r.grr[1] == 1.0
    assert r.nrr[1] == pytest.approx(190 / 140)
    assert r.quick_ratio[1] == np.inf
    # Mar: opening 260, churn 150 -> grr 110/260; quick ratio 30/150
    assert r.grr[2] == pytest.approx(110 / 260)
    assert r.gross_churn[2] == pytest.approx(150 / 260)
    assert r.quick_ratio[2] == pytest.approx(0.2)
    # Apr: opening 140, contraction 20, reactivation 140 -> net churn 20/140, qr 7
    assert r.net_churn[3] == pytest.approx(20 / 140)
    assert r.quick_ratio[3] == pytest.approx(7.0)


# --------------------------------------------------------------------------- cohorts


def test_cohort_retention_hand_worked(story: Dataset) -> None:
    customers = {"a": t(1, 10), "b": t(2, 3), "c": t(1, 2), "d": t(12, 2, 2023), "e": t(1, 5)}
    ds = dataset(list(story.to_records()[1]), customers)
    r = cohort_retention(ds, start=JAN, end="2024-04-30T00:00:00Z")
    assert r.periods.labels == ("2024-01", "2024-02", "2024-03", "2024-04")
    # January cohort: a, c, e (d signed up in 2023: outside the periods)
    # end Jan: a paying; end Feb: a; end Mar: c; end Apr: a, c, e
    assert r.size.tolist() == [3, 1, 0, 0]
    assert r.customers[0].tolist() == [1, 1, 1, 3]
    assert r.customer_rate[0].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1.0])
    # MRR: 100 -> 150 -> 30 -> 80 + 30 + 60
    assert r.mrr[0].tolist() == [100.0, 150.0, 30.0, 170.0]
    assert r.mrr_rate[0].tolist() == pytest.approx([1.0, 1.5, 0.3, 1.7])
    # February cohort: b 70 at end Feb and Mar, 50 at end Apr; offset 3 not observed
    assert r.customers[1].tolist() == [1, 1, 1, 0]
    assert r.observed[1].tolist() == [True, True, True, False]
    assert r.mrr_rate[1, :3].tolist() == pytest.approx([1.0, 1.0, 50 / 70])
    assert np.isnan(r.mrr_rate[1, 3])
    frame = r.to_pandas("customers")
    assert frame.loc["2024-02", "size"] == 1
    assert np.isnan(frame.loc["2024-02", 3])


def test_cohort_by_first_payment(story: Dataset) -> None:
    r = cohort_retention(story, start=JAN, end="2024-04-30T00:00:00Z", cohort_by="first_payment")
    # first paying starts: a Jan 10, b Feb 3, c Mar 5 (the 0-MRR trial does not count),
    # d Dec 2023 (outside), e Jan 5
    assert r.size.tolist() == [2, 1, 1, 0]
    with pytest.raises(ValidationError, match="cohort_by must be one of"):
        cohort_retention(story, cohort_by="plan")


# --------------------------------------------------------------------------- exactness


def _reference(
    subs: list[tuple[int, int, int | None, float]],
    bounds: list[np.datetime64],
    origin: np.datetime64,
    n: int,
) -> dict[str, Any]:
    """Per-customer Python loop from the definitions, in integer micro-units."""

    def mrr_at(c: int, b: np.datetime64) -> int:
        """MRR at the last instant before boundary b (the closing of the period ending
        at b): subscriptions with s < b <= e."""
        total = 0
        for cust, start, length, m in subs:
            s = origin + np.timedelta64(start, "D")
            e = None if length is None else s + np.timedelta64(length, "D")
            if cust == c and m > 0 and s < b and (e is None or b <= e):
                total += round(m * 1_000_000)
        return total

    def paid_before(c: int, b: np.datetime64) -> bool:
        return any(
            cust == c and m > 0 and origin + np.timedelta64(start, "D") < b
            for cust, start, _, m in subs
        )

    totals = {k: [0] * (len(bounds) - 1) for k in MOVEMENT_KINDS}
    levels = [[mrr_at(c, b) for b in bounds] for c in range(n)]
    for c in range(n):
        for i in range(len(bounds) - 1):
            a, b = levels[c][i], levels[c][i + 1]
            if a == b:
                continue
            if a == 0:
                kind = "reactivation" if paid_before(c, bounds[i]) else "new"
            elif b == 0:
                kind = "churn"
            else:
                kind = "expansion" if b > a else "contraction"
            totals[kind][i] += abs(b - a)
    return {"totals": totals, "levels": levels}


def _check_bounds(ds: Dataset) -> None:
    """Rates of every dataset-level revenue metric stay within their documented bounds."""
    lo, hi = "2024-01-01T00:00:00Z", "2024-09-30T00:00:00Z"
    flow = customer_flow(ds, start=lo, end=hi)
    for rate, top in ((flow.churn_rate, 1.0), (flow.retention_rate, 1.0)):
        ok = rate[~np.isnan(rate)]
        assert np.all((ok >= 0) & (ok <= top))
    assert (flow.customers_end == flow.customers_start - flow.lost + flow.new).all()
    rates = revenue_rates(ds, start=lo, end=hi)
    for rate in (rates.grr, rates.gross_churn):
        ok = rate[~np.isnan(rate)]
        assert np.all((ok >= 0) & (ok <= 1 + 1e-12))
    assert np.all(rates.nrr[~np.isnan(rates.nrr)] >= 0)
    cohorts = cohort_retention(ds, start=lo, end=hi)
    ok = cohorts.customer_rate[~np.isnan(cohorts.customer_rate)]
    assert np.all((ok >= 0) & (ok <= 1))
    assert (cohorts.customers <= cohorts.size[:, None]).all()


money = st.sampled_from([0.0, 9.99, 19.0, 33.33, 49.5, 100.0, 0.01, 1234.56])
subscription = st.tuples(
    st.integers(0, 3),  # customer
    st.integers(0, 200),  # start day after 2023-12-01
    st.one_of(st.none(), st.integers(0, 150)),  # length in days (None: running)
    money,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(subscription, max_size=10))
def test_bridge_identity_is_exact_and_matches_reference(
    subs: list[tuple[int, int, int | None, float]],
) -> None:
    origin = np.datetime64("2023-12-01T00:00:00", "us")
    n = 4
    starts = [origin + np.timedelta64(s, "D") for _, s, _, _ in subs]
    ds = Dataset.from_columns(
        customers={
            "id": [f"c{i}" for i in range(n)],
            "created_at": np.full(n, origin, dtype="datetime64[us]"),
        },
        subscriptions={
            "id": [f"s{i}" for i in range(len(subs))],
            "customer_id": [f"c{c}" for c, _, _, _ in subs],
            "plan": ["p"] * len(subs),
            "mrr": np.array([m for *_, m in subs], dtype=float),
            "currency": ["USD"] * len(subs),
            "started_at": np.array(starts, dtype="datetime64[us]"),
            "ended_at": np.array(
                [
                    np.datetime64("NaT", "us") if ln is None else s + np.timedelta64(ln, "D")
                    for s, (_, _, ln, _) in zip(starts, subs, strict=True)
                ],
                dtype="datetime64[us]",
            ),
        },
    )
    m = mrr_movements(ds, start="2024-01-01T00:00:00Z", end="2024-09-30T00:00:00Z")
    _check_bounds(ds)
    micro = {
        k: np.rint(getattr(m, k) * 1_000_000).astype(np.int64)
        for k in ("opening", "closing", *MOVEMENT_KINDS)
    }
    # total identity, exact in integer micro-units
    bridge = (
        micro["opening"]
        + micro["new"]
        + micro["expansion"]
        + micro["reactivation"]
        - micro["contraction"]
        - micro["churn"]
    )
    assert bridge.tolist() == micro["closing"].tolist()
    assert micro["opening"][1:].tolist() == micro["closing"][:-1].tolist()
    # per customer: opening + signed movements == closing
    sign = np.array([1, 1, -1, -1, 1])[m.kind]
    per = np.zeros(n, dtype=np.int64)
    np.add.at(per, m.customer, sign * np.rint(m.amount * 1_000_000).astype(np.int64))
    opening_c = np.rint(m.customer_opening * 1_000_000).astype(np.int64)
    closing_c = np.rint(m.customer_closing * 1_000_000).astype(np.int64)
    assert (opening_c + per).tolist() == closing_c.tolist()
    # and every number agrees with the per-customer reference loop
    bounds = list(m.periods.boundaries())
    ref = _reference(subs, bounds, origin, n)
    for kind in MOVEMENT_KINDS:
        assert micro[kind].tolist() == ref["totals"][kind], kind
    assert opening_c.tolist() == [lv[0] for lv in ref["levels"]]
    assert closing_c.tolist() == [lv[-1] for lv in ref["levels"]]


def test_cohort_period_spelling(story: Dataset) -> None:
    q = cohort_retention(story, period="quarter", start=JAN, end="2024-04-30T00:00:00Z")
    assert q.periods.labels == ("2024Q1", "2024Q2")
    with pytest.raises(ValidationError, match="pass freq or period, not both"):
        cohort_retention(story, freq="year", period="quarter")


def test_customer_mrr_defaults_to_the_state_after_every_change(story: Dataset) -> None:
    # latest known date: b's add-on end (Apr 20): a 80, b 50, c 30, d 40, e 60
    assert customer_mrr(story).tolist() == [80.0, 50.0, 30.0, 40.0, 60.0]
    empty = Dataset.from_records([Customer("z", t(1))])
    assert customer_mrr(empty).tolist() == [0.0]


def test_batch_equals_single_account(story: Dataset) -> None:
    full = mrr_movements(story, start=JAN, end="2024-04-30T00:00:00Z")
    for index, cid in enumerate(story.customer_ids.tolist()):
        one = mrr_movements(story.customer(cid), periods=full.periods)
        rows = full.customer == index
        assert one.kind.tolist() == full.kind[rows].tolist()
        assert one.amount.tolist() == full.amount[rows].tolist()
        assert one.period.tolist() == full.period[rows].tolist()
        assert one.customer_closing.tolist() == [full.customer_closing[index]]


def test_record_order_does_not_matter(story: Dataset) -> None:
    customers, subs, _ = story.to_records()
    shuffled = Dataset.from_records(customers[::-1], subs[::-1])
    a = mrr_movements(story, start=JAN, end="2024-04-30T00:00:00Z").to_pandas()
    b = mrr_movements(shuffled, start=JAN, end="2024-04-30T00:00:00Z").to_pandas()
    assert a.equals(b)
