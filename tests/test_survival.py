"""Kaplan-Meier and the log-rank test: Freireich's 6-MP trial worked by hand, equality with
lifelines, lifetimes from a dataset, properties, and input errors."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from custsuccess import ValidationError
from custsuccess.churn import kaplan_meier, lifetimes_from, logrank_test, records
from custsuccess.churn._examples import small_dataset
from custsuccess.demo import generate

# Freireich et al. (1963), remission times in weeks; observed = relapse (0: censored).
MP = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
MP_OBSERVED = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
Z95 = 1.959963984540054


def test_freireich_6mp_by_hand() -> None:
    km = kaplan_meier(MP, MP_OBSERVED)
    # Event times, at risk, deaths: 6: 21, 3; 7: 17, 1; 10: 15, 1; 13: 12, 1; 16: 11, 1;
    # 22: 7, 1; 23: 6, 1.
    s6 = 18 / 21
    s7 = s6 * 16 / 17
    s10 = s7 * 14 / 15
    s13 = s10 * 11 / 12
    s16 = s13 * 10 / 11
    s22 = s16 * 6 / 7
    s23 = s22 * 5 / 6
    expected = [s6, s7, s10, s13, s16, s22, s23]
    assert [round(s, 3) for s in expected] == [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448]
    assert km.survival_at([6, 7, 10, 13, 16, 22, 23]) == pytest.approx(expected, abs=1e-15)
    # Between events and after the last one the curve stays flat; before 0 it is 1.
    assert km.survival_at([-1, 0, 5.9, 8, 24, 100]).tolist() == pytest.approx(
        [1, 1, 1, s7, s23, s23]
    )
    table = {
        t: (n, d, c)
        for t, n, d, c in zip(km.timeline, km.at_risk, km.events, km.censored, strict=True)
    }
    assert table[6.0] == (21, 3, 1)
    assert table[9.0] == (16, 0, 1)
    assert table[32.0] == (4, 0, 2)
    assert km.n == 21
    # Greenwood at 6 and at 7, then the log(-log) band at 6.
    g6 = 3 / (21 * 18)
    g7 = g6 + 1 / (17 * 16)
    assert km.greenwood[km.timeline == 6.0][0] == pytest.approx(g6)
    assert km.greenwood[km.timeline == 7.0][0] == pytest.approx(g7)
    v = math.log(s6)
    lower = math.exp(-math.exp(math.log(-v) - Z95 * math.sqrt(g6) / v))
    upper = math.exp(-math.exp(math.log(-v) + Z95 * math.sqrt(g6) / v))
    lo, hi = km.band_at([6])
    assert (lo[0], hi[0]) == pytest.approx((lower, upper), abs=1e-12)
    assert (round(lower, 3), round(upper, 3)) == (0.620, 0.952)
    # Median: the first time S <= 0.5 is 23 weeks.
    assert km.median == 23.0
    assert km.median_lower == 13.0
    assert km.median_upper == math.inf
    assert "median=23" in repr(km)


def test_logrank_6mp_against_placebo_by_hand() -> None:
    result = logrank_test(MP, MP_OBSERVED, PLACEBO, [1] * 21)
    assert result.observed == (9.0, 21.0)
    assert result.expected[0] == pytest.approx(19.25, abs=0.01)  # textbook: E = 19.25
    assert result.expected[0] + result.expected[1] == pytest.approx(30.0)
    assert result.statistic == pytest.approx(16.79, abs=0.005)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(result.statistic / 2)), rel=1e-9)
    assert result.p_value < 1e-4
    assert result.degrees_of_freedom == 1
    swapped = logrank_test(PLACEBO, [1] * 21, MP, MP_OBSERVED)
    assert swapped.statistic == pytest.approx(result.statistic)


def test_groups_give_one_curve_each() -> None:
    durations = MP + PLACEBO
    observed = MP_OBSERVED + [1] * 21
    curves = kaplan_meier(durations, observed, groups=["6-MP"] * 21 + ["placebo"] * 21)
    assert list(curves) == ["6-MP", "placebo"]
    assert curves["6-MP"].survival.tolist() == kaplan_meier(MP, MP_OBSERVED).survival.tolist()
    assert curves["placebo"].median == 8.0


def _lifelines() -> Any:
    return pytest.importorskip("lifelines", reason="lifelines is not installed")


def _compare_with_lifelines(
    durations: Sequence[float], observed: Sequence[int], alpha: float
) -> None:
    ll = _lifelines()
    ours = kaplan_meier(durations, observed, alpha=alpha)
    theirs = ll.KaplanMeierFitter(alpha=alpha).fit(durations, observed)
    timeline = theirs.survival_function_.index.to_numpy()
    np.testing.assert_allclose(ours.timeline, timeline, rtol=0, atol=0)
    np.testing.assert_allclose(
        ours.survival, theirs.survival_function_.iloc[:, 0], rtol=0, atol=1e-9
    )
    ci = theirs.confidence_interval_survival_function_
    np.testing.assert_allclose(ours.lower, ci.iloc[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.upper, ci.iloc[:, 1], rtol=0, atol=1e-9)
    # the median is exact where S(t) is exactly 1/2 (in rationals), whatever the rounding
    assert ours.median == _exact_median(durations, observed)
    # lifelines rounds S (it sums logs) and takes the first S <= 0.5 without allowance;
    # on its curve rounded to 12 digits its own rule gives the exact median too. (It
    # squeezes a one-point curve, all durations 0, to a scalar: median inf there.)
    if len(timeline) > 1:
        rounded = theirs.survival_function_.round(12)
        assert ours.median == ll.utils.qth_survival_time(0.5, rounded)
    table = theirs.event_table
    np.testing.assert_array_equal(ours.at_risk, table["at_risk"])
    np.testing.assert_array_equal(ours.events, table["observed"])
    np.testing.assert_array_equal(ours.censored, table["censored"])


def _exact_median(durations: Sequence[float], observed: Sequence[int]) -> float:
    """The first time the product-limit estimate is <= 1/2, in exact rational arithmetic."""
    survival = Fraction(1)
    for t in sorted(set(durations)):
        at_risk = sum(1 for d in durations if d >= t)
        events = sum(1 for d, o in zip(durations, observed, strict=True) if d == t and o)
        survival *= 1 - Fraction(events, at_risk)
        if survival <= Fraction(1, 2):
            return float(t)
    return math.inf


def test_median_is_exact_where_the_survival_is_exactly_one_half() -> None:
    km = kaplan_meier(np.arange(1, 25))
    assert km.survival[12] != 0.5  # rounded: 0.5000000000000001
    assert km.median == 12.0 == _exact_median(list(range(1, 25)), [1] * 24)
    assert km.percentile(0.5) == 12.0
    # 1/4 is reached exactly at 18 (6 of 24 left)
    assert km.percentile(0.25) == 18.0 == float(np.arange(1, 25)[17])
    assert km.percentile(0.75) == 6.0
    assert kaplan_meier([1.0, 2.0], [0, 0]).percentile(0.5) == math.inf
    with pytest.raises(ValidationError, match=r"p must be a probability in \[0, 1\]"):
        km.percentile(1.5)
    ll = _lifelines()
    assert ll.KaplanMeierFitter().fit(np.arange(1, 25)).median_survival_time_ == 12.0


def test_logrank_with_zero_variance_is_no_evidence_like_lifelines_and_r() -> None:
    # every subject censored; and one tied sample against itself with all events at once
    for args in (
        ([1.0], [0], [2.0], [0]),
        ([1.0, 2.0, 3.0], [0, 0, 0], [1.0, 2.0, 3.0], [0, 0, 0]),
        ([4.0, 4.0], [1, 1], [4.0, 4.0], [1, 1]),
    ):
        result = logrank_test(*args)
        assert (result.statistic, result.p_value) == (0.0, 1.0)
        ll = _lifelines()
        theirs = ll.statistics.logrank_test(args[0], args[2], args[1], args[3])
        assert (theirs.test_statistic, theirs.p_value) == (0.0, 1.0)


def test_equal_to_lifelines_on_freireich() -> None:
    _compare_with_lifelines(MP, MP_OBSERVED, 0.05)
    _compare_with_lifelines(PLACEBO, [1] * 21, 0.1)
    ll = _lifelines()
    theirs = ll.statistics.logrank_test(MP, PLACEBO, MP_OBSERVED, [1] * 21)
    ours = logrank_test(MP, MP_OBSERVED, PLACEBO, [1] * 21)
    assert ours.statistic == pytest.approx(theirs.test_statistic, abs=1e-9)
    assert ours.p_value == pytest.approx(theirs.p_value, abs=1e-9)


@pytest.mark.skipif(
    importlib.util.find_spec("lifelines") is None, reason="lifelines is not installed"
)
@settings(max_examples=30, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 30).map(float) | st.floats(0, 50, allow_nan=False), st.integers(0, 1)
        ),
        min_size=2,
        max_size=60,
    ),
    alpha=st.sampled_from([0.05, 0.1, 0.2]),
)
@example(data=[(float(i), 1) for i in range(1, 25)], alpha=0.05)
def test_equal_to_lifelines_on_random_data(data: list[tuple[float, int]], alpha: float) -> None:
    durations = [d for d, _ in data]
    observed = [o for _, o in data]
    _compare_with_lifelines(durations, observed, alpha)
    half = len(data) // 2
    if sum(observed[:half]) + sum(observed[half:]) and half:
        ll = _lifelines()
        ours = logrank_test(durations[:half], observed[:half], durations[half:], observed[half:])
        theirs = ll.statistics.logrank_test(
            durations[:half], durations[half:], observed[:half], observed[half:]
        )
        assert ours.statistic == pytest.approx(theirs.test_statistic, abs=1e-9)
        assert ours.p_value == pytest.approx(theirs.p_value, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.floats(0, 100, allow_nan=False), st.booleans()), min_size=1, max_size=40
    ),
    seed=st.integers(0, 1000),
)
def test_curve_properties(data: list[tuple[float, bool]], seed: int) -> None:
    durations = np.array([d for d, _ in data])
    observed = np.array([o for _, o in data])
    km = kaplan_meier(durations, observed)
    assert np.all(np.diff(km.survival) <= 1e-15)  # never increases
    assert np.all((km.survival >= 0) & (km.survival <= 1))
    assert np.all(km.lower <= km.survival + 1e-12)
    assert np.all(km.survival <= km.upper + 1e-12)
    order = np.random.default_rng(seed).permutation(len(data))
    again = kaplan_meier(durations[order], observed[order])
    assert again.survival.tolist() == km.survival.tolist()
    if not observed.any():
        assert km.survival.tolist() == [1.0] * len(km.timeline)
        assert km.median == math.inf


def test_lifetimes_from_a_dataset() -> None:
    life = lifetimes_from(small_dataset(), datetime(2024, 12, 31, tzinfo=timezone.utc))
    assert life.customer_id.tolist() == ["acme", "bolt", "cove", "dune", "echo"]
    # acme 2024-01-01 -> 07-01: 182; bolt 60; cove 01-15 -> as_of 12-31: 351 (censored);
    # dune 304; echo 01-01 -> as_of: 365, came back so censored.
    assert life.durations.tolist() == [182.0, 60.0, 351.0, 304.0, 365.0]
    assert life.observed.tolist() == [True, True, False, True, False]
    assert len(life) == 5
    km = life.kaplan_meier()
    assert km.survival_at([60, 182, 304]).tolist() == pytest.approx([4 / 5, 3 / 5, 3 / 5 * 2 / 3])
    by = life.kaplan_meier_by("segment")
    assert sorted(by) == ["enterprise", "smb"]
    assert by["enterprise"].n == 2
    with pytest.raises(ValidationError, match=r"by must be 'segment' or 'plan', got 'color'"):
        life.kaplan_meier_by("color")


def test_lifetimes_agree_with_churn_records() -> None:
    ds = generate(500, seed=9)
    as_of = "2026-06-01T00:00:00Z"
    life = lifetimes_from(ds, as_of)
    recs = records(ds, as_of, classifiers=())
    assert set(life.customer_id[life.observed].tolist()) == set(recs.customer_id.tolist())
    churned = np.isin(life.customer_id, recs.customer_id)
    assert np.allclose(np.sort(life.durations[churned]), np.sort(recs.tenure_days))
    assert life.observed.sum() > 0
    assert (~life.observed).sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"durations": [1, -2]}, r"durations\[1\] = -2.0: durations must be finite and >= 0"),
        (
            {"durations": [1, float("nan"), float("inf")]},
            r"durations\[1\] = nan: .*\(2 bad values in all\)",
        ),
        ({"durations": [[1, 2]]}, r"durations must be one-dimensional, got shape \(1, 2\)"),
        ({"durations": ["a"]}, r"durations must hold numbers, got dtype <U1"),
        (
            {"durations": [1, 2], "observed": [1]},
            r"observed must have shape \(2,\) like the durations",
        ),
        (
            {"durations": [1, 2], "observed": [1, 2]},
            r"observed\[1\] = 2: expected True/False or 1/0",
        ),
        ({"durations": [1, 2], "alpha": 1.5}, r"alpha must be in \(0, 1\), got 1.5"),
        ({"durations": [1, 2], "groups": ["a"]}, r"groups must have shape \(2,\)"),
        ({"durations": [1, 2], "groups": ["a", None]}, r"groups\[1\] is None"),
    ],
)
def test_kaplan_meier_input_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        kaplan_meier(**kwargs)


def test_logrank_input_errors() -> None:
    with pytest.raises(ValidationError, match=r"at least one subject in each group"):
        logrank_test([], [], [1.0], [1])
    with pytest.raises(ValidationError, match=r"durations_b\[0\] = -1.0"):
        logrank_test([1.0], [1], [-1.0], [1])


def test_to_pandas() -> None:
    pytest.importorskip("pandas")
    frame = kaplan_meier(MP, MP_OBSERVED).to_pandas()
    assert frame.index.name == "time"
    assert frame["at_risk"].tolist()[:2] == [21, 21]
    assert frame["survival"].to_numpy()[frame.index.to_numpy() == 23.0][0] == pytest.approx(
        0.448, abs=5e-4
    )
