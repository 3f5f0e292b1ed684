"""k-sample, weighted, stratified and pairwise log-rank tests: R's published values on
the lung data, Freireich's trial, lifelines, and properties."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import ValidationError
from custsuccess.churn import logrank_test
from custsuccess.churn.logrank import (
    adjust_p_values,
    multivariate_logrank_test,
    pairwise_logrank_test,
)

FIXTURES = Path(__file__).parent / "fixtures"
MP = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
MP_OBSERVED = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def lung() -> dict[str, np.ndarray]:
    with (FIXTURES / "lung.csv").open() as f:
        rows = list(csv.DictReader(f))
    return {
        "time": np.array([float(r["time"]) for r in rows]),
        "status": np.array([int(r["status"]) for r in rows]),
        "sex": np.array([int(r["sex"]) for r in rows]),
        "age": np.array([float(r["age"]) for r in rows]),
    }


def test_lung_by_sex_matches_r_survdiff() -> None:
    # R (survival 3.x): survdiff(Surv(time, status) ~ sex, data = lung)
    #   N Observed Expected: sex=1 138 112 91.6; sex=2 90 53 73.4;
    #   Chisq= 10.3 on 1 degrees of freedom, p= 0.001
    # survdiff(..., rho = 1): Chisq= 12.7 on 1 degrees of freedom, p= 4e-04
    data = lung()
    result = multivariate_logrank_test(data["time"], data["status"], data["sex"])
    assert round(result.statistic, 1) == 10.3
    assert result.p_value == pytest.approx(0.00131, abs=5e-6)
    assert result.observed.tolist() == [112, 53]
    assert result.expected.round(1).tolist() == [91.6, 73.4]
    rho = multivariate_logrank_test(
        data["time"], data["status"], data["sex"], weighting="fleming-harrington", p=1
    )
    assert round(rho.statistic, 1) == 12.7
    assert round(rho.p_value, 4) == 0.0004


def test_two_groups_equal_the_two_sample_test() -> None:
    two = logrank_test(MP, MP_OBSERVED, PLACEBO, [1] * 21)
    k = multivariate_logrank_test(
        MP + PLACEBO, MP_OBSERVED + [1] * 21, ["a"] * 21 + ["b"] * 21
    )
    assert k.statistic == pytest.approx(two.statistic, rel=1e-13)
    assert k.p_value == pytest.approx(two.p_value, rel=1e-10)
    assert k.degrees_of_freedom == 1
    assert k.expected.tolist() == pytest.approx(list(two.expected), rel=1e-13)


def test_weights_by_hand_on_a_tiny_sample() -> None:
    # group a: 1, 3 (events); group b: 2 (event), 4 (censored)
    # t=1: n=(2,2) d=(1,0); t=2: n=(1,2) d=(0,1); t=3: n=(1,1) d=(1,0)
    d, e, g = [1, 3, 2, 4], [1, 1, 1, 0], ["a", "a", "b", "b"]
    rows = [((2, 2), (1, 0)), ((1, 2), (0, 1)), ((1, 1), (1, 0))]
    for weighting, weights in [
        ("logrank", [1.0, 1.0, 1.0]),
        ("wilcoxon", [4.0, 3.0, 2.0]),
        ("tarone-ware", [2.0, 3**0.5, 2**0.5]),
        ("peto", [1 - 1 / 5, (1 - 1 / 5) * (1 - 1 / 4), (1 - 1 / 5) * (1 - 1 / 4) * (1 - 1 / 3)]),
    ]:
        z = v = 0.0
        for w, ((na, nb), (da, db)) in zip(weights, rows, strict=True):
            n, dd = na + nb, da + db
            z += w * (da - na * dd / n)
            v += w**2 * dd * (na / n) * (1 - na / n) * ((n - dd) / (n - 1) if n > 1 else 1)
        result = multivariate_logrank_test(d, e, g, weighting=weighting)  # type: ignore[arg-type]
        assert result.statistic == pytest.approx(z * z / v, rel=1e-13), weighting


def test_stratified_sums_scores_over_strata() -> None:
    rng = np.random.default_rng(5)
    n = 300
    d = rng.exponential(5, n).round(1) + 0.1
    e = rng.random(n) < 0.8
    g = rng.integers(0, 3, n)
    s = rng.integers(0, 2, n)
    result = multivariate_logrank_test(d, e, g, strata=s)
    parts = [multivariate_logrank_test(d[s == k], e[s == k], g[s == k]) for k in (0, 1)]
    z = parts[0].z + parts[1].z
    v = parts[0].covariance + parts[1].covariance
    expected = z[:-1] @ np.linalg.inv(v[:-1, :-1]) @ z[:-1]
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert result.degrees_of_freedom == 2
    one = multivariate_logrank_test(d, e, g, strata=np.zeros(n))
    assert one.statistic == pytest.approx(multivariate_logrank_test(d, e, g).statistic)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.booleans(), st.integers(0, 2)),
                min_size=6, max_size=40))
def test_statistic_ignores_subject_order(rows: list[tuple[int, bool, int]]) -> None:
    d = np.array([r[0] for r in rows], dtype=float)
    e = np.array([r[1] for r in rows])
    g = np.array([r[2] for r in rows])
    if len(set(g.tolist())) < 2 or not e.any():
        return
    perm = np.random.default_rng(len(rows)).permutation(len(rows))
    try:
        a = multivariate_logrank_test(d, e, g, weighting="wilcoxon")
    except ValidationError:
        return
    b = multivariate_logrank_test(d[perm], e[perm], g[perm], weighting="wilcoxon")
    assert b.statistic == pytest.approx(a.statistic, rel=1e-9, abs=1e-12)
    assert 0 <= a.p_value <= 1


def test_p_value_adjustments_match_r_p_adjust() -> None:
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.2), "holm") = 0.04 0.09 0.09 0.20
    #    p.adjust(..., "BH") = 0.04 0.0533 0.0533 0.2; "bonferroni" = 0.04 0.16 0.12 0.8
    p = np.array([0.01, 0.04, 0.03, 0.2])
    assert adjust_p_values(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert adjust_p_values(p, "bh") == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    assert adjust_p_values(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.8])
    with pytest.raises(ValidationError, match="adjustment must be"):
        adjust_p_values(p, "sidak")


def test_pairwise_tests_each_pair_alone() -> None:
    data = lung()
    age_band = np.digitize(data["age"], [55, 65])
    result = pairwise_logrank_test(data["time"], data["status"], age_band, adjustment="bonferroni")
    assert result.pairs == ((0, 1), (0, 2), (1, 2))
    m = (age_band == 0) | (age_band == 2)
    alone = multivariate_logrank_test(data["time"][m], data["status"][m], age_band[m])
    assert result.statistic[1] == pytest.approx(alone.statistic)
    assert result.adjusted_p_value[1] == pytest.approx(min(1.0, 3 * alone.p_value))


def test_logrank_input_errors() -> None:
    with pytest.raises(ValidationError, match="at least two distinct"):
        multivariate_logrank_test([1, 2], [1, 1], ["a", "a"])
    with pytest.raises(ValidationError, match="weighting must be"):
        multivariate_logrank_test([1, 2], [1, 1], ["a", "b"], weighting="gehan")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="q must be"):
        multivariate_logrank_test([1, 2], [1, 1], ["a", "b"], q=-1)
    nothing = multivariate_logrank_test([1, 2], [0, 0], ["a", "b"])
    assert (nothing.statistic, nothing.p_value) == (0.0, 1.0)
    with pytest.raises(ValidationError, match=r"groups must have shape \(2,\)"):
        multivariate_logrank_test([1, 2], [1, 1], ["a"])


@pytest.mark.peer
@pytest.mark.parametrize(
    ("weighting", "p", "q"),
    [("logrank", 1, 0), ("wilcoxon", 1, 0), ("tarone-ware", 1, 0), ("peto", 1, 0),
     ("fleming-harrington", 1, 1), ("fleming-harrington", 0.5, 2)],
)
def test_against_lifelines(weighting: str, p: float, q: float) -> None:
    statistics = pytest.importorskip("lifelines.statistics")
    rng = np.random.default_rng(3)
    n = 500
    g = rng.integers(0, 3, n)
    d = (rng.exponential(10, n) * (1 + 0.2 * g)).round() + 1
    e = rng.random(n) < 0.7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = statistics.multivariate_logrank_test(
            d, g, e, weightings=None if weighting == "logrank" else weighting, p=p, q=q
        )
    ours = multivariate_logrank_test(d, e, g, weighting=weighting, p=p, q=q)  # type: ignore[arg-type]
    assert ours.statistic == pytest.approx(peer.test_statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(peer.p_value, rel=1e-9)
    assert ours.degrees_of_freedom == peer.degrees_of_freedom
