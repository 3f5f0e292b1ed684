"""Hand-worked checks of the pure metric formulas, and their error messages."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from custsuccess.errors import ValidationError
from custsuccess.metrics import (
    annual_churn_rate,
    arpa,
    average_time_on_site,
    cart_adds_per_customer,
    churn_rate,
    clv,
    email_rates,
    first_response_times,
    grr,
    ltv,
    monthly_churn_rate,
    nps,
    nrr,
    pages_per_visit,
    quick_ratio,
    referral_rate,
    repeat_purchase_rate,
    retention_rate,
    revenue_churn_rate,
    stickiness,
)

# --------------------------------------------------------------------------- NPS


def test_nps_hand_worked() -> None:
    # answers: 10 9 | 8 7 7 | 6 5 0 3 2  -> 2 promoters, 3 passives, 5 detractors, n=10
    # NPS = 100 * (2 - 5) / 10 = -30
    r = nps([10, 9, 8, 7, 7, 6, 5, 0, 3, 2])
    assert (r.promoters, r.passives, r.detractors, r.n) == (2, 3, 5, 10)
    assert r.score == pytest.approx(-30.0)


def test_nps_extremes_and_boundaries() -> None:
    assert nps([9, 10]).score == 100.0  # all promoters
    assert nps([0, 6]).score == -100.0  # all detractors
    assert nps([7, 8]).score == 0.0  # passives only
    # 9 is a promoter, 6 a detractor, 7 a passive: (1 - 1) / 3 = 0
    assert nps([9, 6, 7]).score == 0.0


def test_nps_empty_is_documented_nan() -> None:
    r = nps([])
    assert r.n == 0
    assert math.isnan(r.score)
    assert (r.promoters, r.passives, r.detractors) == (0, 0, 0)


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([9, 11, 3], "got 11 at position 1"),
        ([9, 3, -1], "got -1 at position 2"),
        ([9.0, float("nan")], "got nan at position 1"),
        ([8, 7.5], "got 7.5 at position 1"),
        (["9", 3], "got '9' at position 0"),
        ([None, 3], "got None at position 0"),
    ],
)
def test_nps_rejects_bad_scores_naming_position_and_value(
    scores: list[object], message: str
) -> None:
    with pytest.raises(ValidationError, match="whole numbers from 0 to 10") as info:
        nps(scores)
    assert message in str(info.value)


def test_nps_counts_all_invalid_scores() -> None:
    with pytest.raises(ValidationError, match=r"3 invalid scores in all"):
        nps([11, 12, 13, 5])


def test_nps_rejects_scalars_and_2d() -> None:
    with pytest.raises(ValidationError, match="sequence"):
        nps(9)
    with pytest.raises(ValidationError, match="one-dimensional"):
        nps([[9, 10]])


def test_nps_does_not_mutate_input() -> None:
    a = np.array([10, 0, 7])
    nps(a)
    assert a.tolist() == [10, 0, 7]


# --------------------------------------------------------------------------- churn / retention


def test_churn_rate_both_forms() -> None:
    # 200 customers at the start, 50 new, 10 lost
    assert churn_rate(10, 200, 50) == pytest.approx(10 / 200)  # 0.05, conventional default
    assert churn_rate(10, 200, 50, method="founding") == pytest.approx(10 / 250)  # 0.04


def test_viralheat_ten_percent() -> None:
    # BusinessNewsDaily: Viralheat's churn fell to 10 % month over month
    assert churn_rate(10, 100) == pytest.approx(0.10)
    # compounding: 1 - 0.9^12 = 0.7176..., not 120 %
    assert annual_churn_rate(0.10) == pytest.approx(1 - 0.9**12)
    assert monthly_churn_rate(annual_churn_rate(0.10)) == pytest.approx(0.10)
    assert annual_churn_rate(0.05, periods_per_year=4) == pytest.approx(1 - 0.95**4)


def test_churn_rate_zero_customers_raises_clear_error_without_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValidationError, match="customers_start is 0"):
            churn_rate(0, 0)
        with pytest.raises(ValidationError, match="none acquired"):
            churn_rate(0, 0, 0, method="founding")
    # the founding form is defined with no starting customers but some new ones
    assert churn_rate(1, 0, 4, method="founding") == pytest.approx(0.25)


def test_churn_rate_rejects_impossible_counts() -> None:
    with pytest.raises(ValidationError, match=r"lost \(12\) cannot exceed customers_start \(10\)"):
        churn_rate(12, 10, 5)
    with pytest.raises(ValidationError, match="whole number"):
        churn_rate(1.5, 10)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="whole number"):
        churn_rate(-1, 10)
    with pytest.raises(ValidationError, match="method must be one of"):
        churn_rate(1, 10, method="average")


def test_retention_rate_founding_formula() -> None:
    # CE=110, CN=20, CS=100: (110 - 20) / 100 = 0.9 (the founding text's 90 %, a fraction)
    assert retention_rate(110, 20, 100) == pytest.approx(0.9)
    assert retention_rate(100, 0, 100) == 1.0
    assert retention_rate(20, 20, 100) == 0.0


def test_retention_rate_errors() -> None:
    with pytest.raises(ValidationError, match="customers_start is 0"):
        retention_rate(10, 10, 0)
    with pytest.raises(ValidationError, match=r"customers_end - new_customers = -5"):
        retention_rate(5, 10, 100)
    with pytest.raises(
        ValidationError, match=r"= 150 must be between 0 and customers_start \(100\)"
    ):
        retention_rate(160, 10, 100)


def test_churn_and_retention_agree() -> None:
    # CS=100, 8 lost, 15 new -> CE = 107; retention 0.92 = 1 - churn 0.08
    assert retention_rate(107, 15, 100) == pytest.approx(1 - churn_rate(8, 100, 15))


# --------------------------------------------------------------------------- revenue


def test_grr_nrr_revenue_churn_hand_worked() -> None:
    # start 10,000; churned 600; contraction 400; expansion 1,500
    assert grr(10_000, churned=600, contraction=400) == pytest.approx(0.90)  # 9,000 / 10,000
    assert nrr(10_000, churned=600, contraction=400, expansion=1_500) == pytest.approx(1.05)
    assert revenue_churn_rate(10_000, churned=600, contraction=400) == pytest.approx(0.10)
    assert revenue_churn_rate(
        10_000, churned=600, contraction=400, expansion=1_500, method="net"
    ) == pytest.approx(-0.05)


def test_revenue_rates_errors() -> None:
    with pytest.raises(ValidationError, match="start_mrr is 0"):
        grr(0, churned=0, contraction=0)
    with pytest.raises(ValidationError, match="MRR is never negative"):
        grr(-5, churned=0, contraction=0)
    with pytest.raises(ValidationError, match="churned must be an amount >= 0"):
        nrr(100, churned=-1, contraction=0, expansion=0)
    with pytest.raises(ValidationError, match=r"cannot exceed start_mrr \(100\)"):
        grr(100, churned=80, contraction=30)
    with pytest.raises(ValidationError, match="method must be 'gross' or 'net'"):
        revenue_churn_rate(100, churned=1, contraction=0, method="other")
    with pytest.raises(ValidationError, match="must be a finite number"):
        grr(float("nan"), churned=0, contraction=0)


def test_quick_ratio() -> None:
    # (new 500 + expansion 250 + reactivation 50) / (churn 300 + contraction 100) = 2
    assert quick_ratio(new=500, expansion=250, reactivation=50, churned=300, contraction=100) == 2.0
    assert quick_ratio(new=1, expansion=0, churned=0, contraction=0) == math.inf
    with pytest.raises(ValidationError, match="no MRR was gained or lost"):
        quick_ratio(new=0, expansion=0, churned=0, contraction=0)


def test_arpa() -> None:
    # paying accounts 120 + 80 + 100 = 300 over 3 -> 100; the zero account is not paying
    assert arpa([120.0, 0.0, 80.0, 100.0]) == pytest.approx(100.0)
    assert arpa([120.0, 0.0, 80.0, 100.0], include_zero=True) == pytest.approx(75.0)
    assert math.isnan(arpa([]))
    assert math.isnan(arpa([0.0, 0.0]))
    with pytest.raises(ValidationError, match=r"mrr must be >= 0, got -3.0 at position 1"):
        arpa([10.0, -3.0])


def test_ltv_and_clv() -> None:
    # ARPA 80 a month, 75 % margin, 2 % monthly churn: 80 * 0.75 / 0.02 = 3,000
    assert ltv(80.0, 0.02, gross_margin=0.75) == pytest.approx(3000.0)
    assert ltv(80.0, 0.5) == pytest.approx(160.0)
    with pytest.raises(ValidationError, match="churn_rate is 0"):
        ltv(80.0, 0.0)
    with pytest.raises(ValidationError, match=r"churn_rate must be in \(0, 1\]"):
        ltv(80.0, 1.5)
    with pytest.raises(ValidationError, match=r"gross_margin must be in \[0, 1\]"):
        ltv(80.0, 0.1, gross_margin=1.2)
    # founding text: average sale 40 x 6 purchases a year x 2.5 years = 600
    assert clv(40.0, 6.0, 2.5) == pytest.approx(600.0)
    with pytest.raises(ValidationError, match="average_sale must be >= 0"):
        clv(-1.0, 6.0, 2.5)


# --------------------------------------------------------------------------- engagement


def test_engagement_hand_worked() -> None:
    # DAU over 4 days 10, 20, 30, 40 -> mean 25; MAU 100 -> 0.25
    assert stickiness([10, 20, 30, 40], 100) == pytest.approx(0.25)
    assert math.isnan(stickiness([], 100))
    assert math.isnan(stickiness([0, 0], 0))
    with pytest.raises(ValidationError, match="cannot exceed monthly_active"):
        stickiness([5, 120], 100)
    # visits of 30 s, 90 s, 180 s: 300 / 3 = 100 s
    assert average_time_on_site([30, 90, 180]) == pytest.approx(100.0)
    # 7 + 3 pages over 2 + 3 visits = 2 pages per visit
    assert pages_per_visit([7, 3], [2, 3]) == pytest.approx(2.0)
    assert pages_per_visit(10, 4) == pytest.approx(2.5)
    assert math.isnan(pages_per_visit([0], [0]))
    with pytest.raises(ValidationError, match="no visits"):
        pages_per_visit([3], [0])
    # 0 + 2 + 4 + 0 + 4 cart adds over 5 customers = 2
    assert cart_adds_per_customer([0, 2, 4, 0, 4]) == pytest.approx(2.0)
    # buyers: 1, 3, 2, 1 purchases (the 0 is not a buyer): repeat buyers 2 of 4
    assert repeat_purchase_rate([1, 3, 0, 2, 1]) == pytest.approx(0.5)
    assert math.isnan(repeat_purchase_rate([0, 0]))
    # 1 referrer of 4 customers
    assert referral_rate([0, 3, 0, 0]) == pytest.approx(0.25)
    assert math.isnan(referral_rate([]))
    with pytest.raises(ValidationError, match=r"whole counts, got 1.5 at position 0"):
        referral_rate([1.5])


def test_email_rates_denominators() -> None:
    # 1,000 sent, 950 delivered, 380 opened, 95 clicked
    r = email_rates(1000, 380, 95, delivered=950)
    assert r.denominator == "delivered"
    assert r.open_rate == pytest.approx(380 / 950)  # 0.4
    assert r.click_through_rate == pytest.approx(95 / 950)  # 0.1
    assert r.click_to_open_rate == pytest.approx(95 / 380)  # 0.25
    s = email_rates([600, 400], [200, 180], [50, 45])  # per-customer counts, summed
    assert s.denominator == "sent"
    assert s.open_rate == pytest.approx(0.38)
    empty = email_rates(0, 0, 0)
    assert math.isnan(empty.open_rate)
    assert math.isnan(empty.click_to_open_rate)
    with pytest.raises(ValidationError, match=r"opened \(960\) cannot exceed delivered \(950\)"):
        email_rates(1000, 960, 10, delivered=950)
    with pytest.raises(ValidationError, match=r"delivered \(1100\) cannot exceed sent"):
        email_rates(1000, 1, 1, delivered=1100)


def test_first_response_times_pairs_first_reply_after_request() -> None:
    t0 = np.datetime64("2024-03-01T09:00:00", "us")

    def at(minutes: float) -> np.datetime64:
        return t0 + np.timedelta64(int(minutes * 60), "s")

    requests = ["T1", "T1", "T2", "T3", "T2"]
    req_times = [at(0), at(1), at(5), at(7), at(60)]
    replies = ["T2", "T1", "T1", "T2"]
    rep_times = [at(4), at(3), at(10), at(65)]
    # T1@0 -> T1 reply @3 (180 s); T1@1 -> same reply (120 s);
    # T2@5 -> the T2 reply @4 is before it, next T2 reply @65 (3600 s);
    # T3 never answered; T2@60 -> @65 (300 s)
    out = first_response_times(requests, req_times, replies, rep_times)
    assert out[:3].tolist() == [180.0, 120.0, 3600.0]
    assert math.isnan(out[3])
    assert out[4] == 300.0


def test_first_response_times_accepts_aware_datetimes_and_validates() -> None:
    t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    out = first_response_times([1], [t], [1], [t + timedelta(seconds=42)])
    assert out.tolist() == [42.0]
    with pytest.raises(ValidationError, match="differ in length"):
        first_response_times([1, 2], [t], [1], [t])
    with pytest.raises(ValidationError, match="reply_times is missing at row 0"):
        first_response_times([1], [t], [1], [None])
