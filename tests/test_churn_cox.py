"""Cox regression: the Rossi recidivism data against R's and lifelines' published
results, Breslow ties by hand, concordance by brute force, predictions and errors."""

from __future__ import annotations

import csv
import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import ValidationError
from custsuccess.churn import lifetimes_from
from custsuccess.churn._examples import small_dataset
from custsuccess.churn.cox import CoxModel, concordance_index, covariates_from_lifetimes
from custsuccess.errors import ConvergenceError, NotFittedError

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


def rossi() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    with (FIXTURES / "rossi.csv").open() as f:
        rows = list(csv.DictReader(f))
    week = np.array([float(r["week"]) for r in rows])
    arrest = np.array([int(r["arrest"]) for r in rows])
    return week, arrest, {n: np.array([float(r[n]) for r in rows]) for n in NAMES}


def test_rossi_efron_matches_published_coefficients() -> None:
    # Fox (2002), "Cox Proportional-Hazards Regression for Survival Data", appendix to An
    # R and S-PLUS Companion to Applied Regression, R's coxph (Efron ties):
    #   coef:     fin -0.3794 age -0.0574 race 0.3139 wexp -0.1498 mar -0.4337
    #             paro -0.0849 prio 0.0915
    #   se(coef): 0.1914 0.0220 0.3080 0.2122 0.3819 0.1958 0.0286
    #   Likelihood ratio test = 33.3 on 7 df, p = 2.4e-05
    # lifelines' documentation (CoxPHFitter on load_rossi) prints the same coefficients,
    # log-likelihood -658.75 and concordance 0.64.
    week, arrest, x = rossi()
    model = CoxModel().fit(week, arrest, x)
    published = {"fin": -0.3794, "age": -0.0574, "race": 0.3139, "wexp": -0.1498,
                 "mar": -0.4337, "paro": -0.0849, "prio": 0.0915}
    published_se = {"fin": 0.1914, "age": 0.0220, "race": 0.3080, "wexp": 0.2122,
                    "mar": 0.3819, "paro": 0.1958, "prio": 0.0286}
    for name in NAMES:
        assert model.params_[name] == pytest.approx(published[name], abs=5e-5)
        assert model.standard_errors_[name] == pytest.approx(published_se[name], abs=5e-5)
        assert model.hazard_ratios_[name] == pytest.approx(math.exp(published[name]), rel=2e-4)
    assert round(model.log_likelihood_, 2) == -658.75
    assert round(model.concordance_, 2) == 0.64
    statistic, df, p = model.likelihood_ratio_test()
    assert (round(statistic, 1), df) == (33.3, 7)
    assert p == pytest.approx(2.4e-5, rel=0.05)
    summary = model.summary()
    assert summary["fin"]["exp(coef) lower"] == pytest.approx(
        math.exp(model.params_["fin"] - 1.959963984540054 * model.standard_errors_["fin"])
    )
    assert model.log_partial_likelihood(model.params_) == pytest.approx(model.log_likelihood_)
    assert model.log_partial_likelihood(np.zeros(7)) < model.log_likelihood_


def test_breslow_ties_by_hand() -> None:
    # times 1, 1, 2, 3 (censored at 3), one covariate x = 0, 1, 1, 0.
    # Breslow: l(b) = [b*0 + b*1 - 2 ln(1 + 3 e^b... )] computed below explicitly.
    d, e, x = [1, 1, 2, 3], [1, 1, 1, 0], [0.0, 1.0, 1.0, 0.0]

    def breslow(b: float) -> float:
        r = [math.exp(b * v) for v in x]
        return (b * 0 + b * 1 - 2 * math.log(sum(r))) + (b * 1 - math.log(r[2] + r[3]))

    def efron(b: float) -> float:
        r = [math.exp(b * v) for v in x]
        s0, tied = sum(r), r[0] + r[1]
        return (b * 1 - math.log(s0) - math.log(s0 - tied / 2)) + (
            b * 1 - math.log(r[2] + r[3])
        )

    for ties, loglik in (("breslow", breslow), ("efron", efron)):
        model = CoxModel(ties).fit(d, e, {"x": x})  # type: ignore[arg-type]
        b = model.params_["x"]
        # at the maximum the derivative vanishes and the value is the partial likelihood
        h = 1e-5
        assert (loglik(b + h) - loglik(b - h)) / (2 * h) == pytest.approx(0, abs=1e-6)
        assert model.log_likelihood_ == pytest.approx(loglik(b), rel=1e-10)
        curvature = (loglik(b + h) - 2 * loglik(b) + loglik(b - h)) / h**2
        assert model.standard_errors_["x"] == pytest.approx(1 / math.sqrt(-curvature), rel=1e-4)


def brute_concordance(d: np.ndarray, r: np.ndarray, e: np.ndarray) -> float:
    correct = tied = pairs = 0.0
    for i, j in itertools.permutations(range(len(d)), 2):
        if not e[i]:
            continue
        if d[i] < d[j] or (d[i] == d[j] and not e[j]):
            pairs += 1
            if r[i] > r[j]:
                correct += 1
            elif r[i] == r[j]:
                tied += 1
    return (correct + tied / 2) / pairs


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.booleans(), st.integers(0, 4)),
                min_size=2, max_size=30))
def test_concordance_equals_the_pairwise_definition(rows: list[tuple[int, bool, int]]) -> None:
    d = np.array([r[0] for r in rows], dtype=float)
    e = np.array([r[1] for r in rows])
    r = np.array([r[2] for r in rows], dtype=float)
    try:
        expected = brute_concordance(d, r, e)
    except ZeroDivisionError:
        with pytest.raises(ValidationError, match="no comparable pair"):
            concordance_index(d, r, e)
        return
    assert concordance_index(d, r, e) == pytest.approx(expected, rel=1e-12)


def test_predictions() -> None:
    week, arrest, x = rossi()
    model = CoxModel().fit(week, arrest, x)
    times, s0 = model.baseline_survival()
    assert np.all(np.diff(s0) <= 0)
    assert 0 < s0[-1] < 1
    means = {n: np.array([v.mean()]) for n, v in x.items()}
    # the average subject has the baseline curve
    assert model.predict_survival(means, times)[0] == pytest.approx(s0, rel=1e-12)
    first = {n: v[:3] for n, v in x.items()}
    hazard = model.predict_partial_hazard(first)
    surv = model.predict_survival(first, [52])
    assert surv[:, 0] == pytest.approx(s0[-1] ** hazard, rel=1e-12)
    medians = model.predict_median(first)
    assert medians.shape == (3,)


def test_cox_input_errors() -> None:
    with pytest.raises(NotFittedError):
        _ = CoxModel().params_
    with pytest.raises(ValidationError, match="ties must be"):
        CoxModel("exact")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'c' is constant"):
        CoxModel().fit([1, 2, 3], [1, 1, 1], {"c": [1, 1, 1]})
    with pytest.raises(ValidationError, match=r"covariate 'x'\[1\] = nan"):
        CoxModel().fit([1, 2, 3], [1, 1, 1], {"x": [1, np.nan, 3]})
    with pytest.raises(ValidationError, match="one row per subject"):
        CoxModel().fit([1, 2, 3], [1, 1, 1], {"x": [1, 2]})
    with pytest.raises(ValidationError, match="no event"):
        CoxModel().fit([1, 2, 3], [0, 0, 0], {"x": [1, 2, 3]})
    # x perfectly orders the events: the likelihood grows without bound
    with pytest.raises(ConvergenceError, match="did not converge"):
        CoxModel().fit([1, 2, 3, 4], [1, 1, 1, 1], {"x": [4.0, 3.0, 2.0, 1.0]})


def test_covariates_from_a_dataset() -> None:
    life = lifetimes_from(small_dataset(), "2024-12-31T00:00:00+00:00")
    cov = covariates_from_lifetimes(life, extra={"tenure_start": np.arange(len(life))})
    # basic and smb are the most common levels: the references, without a column
    assert set(cov) == {"plan=pro", "segment=enterprise", "tenure_start"}
    assert cov["plan=pro"].tolist() == [
        float(life.plan.categories[c] == "pro") if c >= 0 else 0.0 for c in life.plan.codes
    ]
    assert all(len(v) == len(life) for v in cov.values())
    with pytest.raises(ValidationError, match="one value per lifetime"):
        covariates_from_lifetimes(life, extra={"mrr": [1.0]})
    # the MRR each customer started with (docs/churn.md's table of the small dataset)
    with_mrr = covariates_from_lifetimes(life, dataset=small_dataset())
    assert dict(zip(life.customer_id.tolist(), with_mrr["mrr_at_start"].tolist(),
                    strict=True)) == {"acme": 100, "bolt": 50, "cove": 100, "dune": 20,
                                      "echo": 30}


def test_hazard_ratio_plot() -> None:
    pytest.importorskip("matplotlib")
    week, arrest, x = rossi()
    model = CoxModel().fit(week, arrest, x)
    ax = model.plot().axes[0]
    assert ax.lines[0].get_xdata() == pytest.approx(list(model.hazard_ratios_.values()))


@pytest.mark.peer
def test_against_lifelines() -> None:
    lifelines = pytest.importorskip("lifelines")
    import pandas as pd
    from lifelines.statistics import proportional_hazard_test
    from lifelines.utils import concordance_index as peer_concordance

    week, arrest, x = rossi()
    frame = pd.DataFrame({"week": week, "arrest": arrest, **x})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = lifelines.CoxPHFitter().fit(frame, "week", "arrest")
    model = CoxModel().fit(week, arrest, frame[NAMES])  # a DataFrame of covariates
    assert list(model.params_.values()) == pytest.approx(peer.params_.to_numpy(), abs=1e-7)
    assert list(model.standard_errors_.values()) == pytest.approx(
        peer.standard_errors_.to_numpy(), rel=1e-6
    )
    assert model.log_likelihood_ == pytest.approx(peer.log_likelihood_, rel=1e-10)
    assert model.concordance_ == pytest.approx(peer.concordance_index_, rel=1e-12)
    times, s0 = model.baseline_survival()
    assert s0 == pytest.approx(peer.baseline_survival_.loc[times].to_numpy()[:, 0], rel=1e-7)
    expected = peer.predict_survival_function(frame[NAMES].iloc[:5], times=[10, 30, 52])
    assert model.predict_survival(frame[NAMES].iloc[:5], [10, 30, 52]) == pytest.approx(
        expected.to_numpy().T, rel=1e-7
    )
    for transform in ("km", "rank", "identity", "log"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer_test = proportional_hazard_test(peer, frame, time_transform=transform)
        ours = model.check_assumptions(transform)
        assert ours.statistic == pytest.approx(peer_test.test_statistic.to_numpy(), rel=1e-6)
    rng = np.random.default_rng(0)
    d = rng.integers(1, 50, 3000).astype(float)
    e = rng.random(3000) < 0.6
    r = rng.integers(0, 20, 3000).astype(float)
    assert concordance_index(d, r, e) == pytest.approx(peer_concordance(d, -r, e), rel=1e-12)
