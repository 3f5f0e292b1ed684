"""MBG/NBD, BG/BB, known parameters, JSON, purchase-count probabilities, P(alive)
matrices, tracking, delta-method intervals and the Gamma-Gamma q constraint: published
values (BTYDplus on CDNOW, Fader-Hardie-Shang's donations), lifetimes, and properties."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import ValidationError
from custsuccess.clv import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    ShiftedBetaGeometricModel,
    delta_method_interval,
    expected_cumulative_transactions,
    load_model,
    parametric_bootstrap_interval,
    period_transactions,
    probability_alive_matrix,
    probability_alive_path,
    probability_of_purchases,
    save_model,
)

FIXTURES = Path(__file__).parent / "fixtures"
# Fader, Hardie & Lee (2005), BG/NBD on CDNOW (weeks): r, alpha, a, b
FHL = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def cdnow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with (FIXTURES / "cdnow_customers_summary_with_transactions.csv").open() as f:
        rows = list(csv.DictReader(f))
    return (np.array([float(r["x"]) for r in rows]), np.array([float(r["t_x"]) for r in rows]),
            np.array([float(r["T"]) for r in rows]))


def donations() -> tuple[np.ndarray, ...]:
    with (FIXTURES / "donations.csv").open() as f:
        rows = list(csv.DictReader(f))
    return tuple(np.array([float(r[k]) for r in rows])
                 for k in ("frequency", "recency", "periods", "weights"))


def test_mbgnbd_on_cdnow_matches_btydplus() -> None:
    # BTYDplus (Platzer), mbgnbd.EstimateParameters(cdnowSample cbs):
    # r 0.525, alpha 6.183, a 0.891, b 1.614
    x, t_x, age = cdnow()
    m = ModifiedBetaGeoModel().fit(x, t_x, age)
    assert [round(m.params_[k], 3) for k in ("r", "alpha", "a", "b")] == [
        0.525, 6.183, 0.891, 1.614
    ]
    # zero-repeat customers can be dead under MBG/NBD (never under BG/NBD)
    assert 0 < m.probability_alive([0], [0], [38.0])[0] < 1
    r, alpha, a, b = (m.params_[k] for k in ("r", "alpha", "a", "b"))
    # P(alive | x=0, T) = 1 / (1 + a/b ((alpha+T)/alpha)^r)
    assert m.probability_alive([0], [0], [38.0])[0] == pytest.approx(
        1 / (1 + a / b * ((alpha + 38) / alpha) ** r)
    )


def test_bgbb_on_donations_matches_fader_hardie_shang() -> None:
    # Fader, Hardie & Shang (2010), table 2: alpha 1.204, beta 0.750, gamma 0.657,
    # delta 2.783, LL -33,225.6
    x, t_x, n, w = donations()
    m = BetaGeoBetaBinomModel().fit(x, t_x, n, weights=w)
    assert [round(m.params_[k], 3) for k in ("alpha", "beta", "gamma", "delta")] == [
        1.204, 0.750, 0.657, 2.783
    ]
    assert round(m.log_likelihood_, 1) == -33225.6
    # P(X(6) = x) over x sums to one, and E[X(6)] equals its mean
    pmf = [m.probability_of_purchases(k, 6) for k in range(7)]
    assert sum(pmf) == pytest.approx(1.0, abs=1e-12)
    assert float(m.expected_purchases(6)[0]) == pytest.approx(
        sum(k * p for k, p in enumerate(pmf)), rel=1e-10
    )
    # the model's P(X(6) = x) times the donors reproduces the paper's in-sample fit
    # (figure 3): the observed 3,464 zero-donation donors against the model's ~3,455
    assert 11104 * pmf[0] == pytest.approx(3464, rel=0.01)


def test_bgbb_input_errors() -> None:
    with pytest.raises(ValidationError, match="frequency must be <= recency"):
        BetaGeoBetaBinomModel().fit([3], [2], [6])
    with pytest.raises(ValidationError, match="recency must be <= n_periods"):
        BetaGeoBetaBinomModel().fit([1], [7], [6])
    with pytest.raises(ValidationError, match="whole numbers"):
        BetaGeoBetaBinomModel().fit([1.5], [2], [6])


def test_from_params_and_json_round_trip(tmp_path: Path) -> None:
    m = BetaGeoModel.from_params(**FHL)
    assert dict(m.params_) == FHL
    assert math.isnan(m.standard_errors_["r"])
    with pytest.raises(ValidationError, match="needs exactly the parameters"):
        BetaGeoModel.from_params(r=1.0, alpha=1.0, a=1.0)
    with pytest.raises(ValidationError, match="b must be a finite number > 0"):
        BetaGeoModel.from_params(r=1.0, alpha=1.0, a=1.0, b=-2.0)
    x, t_x, age = cdnow()
    fitted = ParetoNBDModel().fit(x[:500], t_x[:500], age[:500])
    path = tmp_path / "model.json"
    save_model(fitted, path)
    back = load_model(path)
    assert isinstance(back, ParetoNBDModel)
    assert dict(back.params_) == dict(fitted.params_)
    assert np.array_equal(back.covariance_, fitted.covariance_)
    assert back.log_likelihood_ == fitted.log_likelihood_
    assert back.probability_alive([2], [30.0], [38.0]) == pytest.approx(
        fitted.probability_alive([2], [30.0], [38.0]), rel=0
    )
    for cls, params in [
        (ShiftedBetaGeometricModel, {"alpha": 0.7, "beta": 3.0}),
        (GammaGammaModel, {"p": 6.25, "q": 3.74, "v": 15.44}),
        (ModifiedBetaGeoModel, FHL),
        (BetaGeoBetaBinomModel, {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}),
    ]:
        model = cls.from_params(**params)
        assert dict(cls.from_json(model.to_json()).params_) == params
    with pytest.raises(ValidationError, match="holds a BetaGeoModel, not a ParetoNBDModel"):
        ParetoNBDModel.from_json(m.to_json())
    with pytest.raises(ValidationError, match="invalid JSON"):
        BetaGeoModel.from_json("{")


def test_bgnbd_pmf_by_hand() -> None:
    # FHL 2005 eq. 8 at x = 0: B(a, b)/B(a, b) (alpha/(alpha+t))^r = (alpha/(alpha+t))^r
    # for the first term, and no second term.
    m = BetaGeoModel.from_params(**FHL)
    r, alpha = FHL["r"], FHL["alpha"]
    assert float(m.probability_of_purchases(0, 39)) == pytest.approx(
        (alpha / (alpha + 39)) ** r, rel=1e-12
    )
    assert float(m.probability_of_purchases(0, 0)) == 1.0
    # probabilities over n sum to one and their mean is E[X(t)]
    pmf = [float(m.probability_of_purchases(k, 39)) for k in range(400)]
    assert sum(pmf) == pytest.approx(1.0, abs=1e-9)
    assert sum(k * p for k, p in enumerate(pmf)) == pytest.approx(
        float(m.expected_purchases(39)), rel=1e-7
    )


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 6), st.floats(0.0, 30.0), st.floats(0.5, 10.0),
       st.sampled_from(["bgnbd", "pareto"]))
def test_conditional_pmf_is_a_distribution_with_the_conditional_mean(
    x: int, recency_share: float, t: float, which: str
) -> None:
    age = 38.0
    t_x = 0.0 if x == 0 else recency_share / 30.0 * age
    model = (BetaGeoModel.from_params(**FHL) if which == "bgnbd" else
             ParetoNBDModel.from_params(r=0.553, alpha=10.58, s=0.606, beta=11.67))
    pmf = np.array([float(probability_of_purchases(model, k, t, [x], [t_x], [age])[0])
                    for k in range(50)])
    assert np.all(pmf >= -1e-12)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-7)
    expected = float(model.conditional_expected_purchases(t, [x], [t_x], [age])[0])
    assert float((np.arange(50) * pmf).sum()) == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_probability_alive_matrix_matches_single_calls() -> None:
    m = BetaGeoModel.from_params(**FHL)
    _, _, p = probability_alive_matrix(m, max_frequency=5, max_recency=38, T=38)
    assert p.shape == (6, 39)
    assert p[3, 20] == pytest.approx(float(m.probability_alive([3], [20.0], [38.0])[0]))
    assert np.all(p[0] == 1.0)  # BG/NBD: no purchase, no chance to drop out
    pytest.importorskip("matplotlib")
    from custsuccess.plot import probability_alive_matrix as draw

    image = draw(m, max_frequency=5, max_recency=38, T=38).axes[0].images[0]
    assert np.asarray(image.get_array()) == pytest.approx(p)


def test_expected_cumulative_transactions_by_hand() -> None:
    m = BetaGeoModel.from_params(**FHL)
    births = np.array([0.0, 0.0, 2.0])
    repeats = np.array([1.5, 3.0, 3.0, 7.0])
    track = expected_cumulative_transactions(
        m, births, repeats, times=[1, 3, 8], calibration_end=5
    )

    def e(t: float) -> float:
        return float(m.expected_purchases(t))

    assert track.expected.tolist() == pytest.approx(
        [2 * e(1), 2 * e(3) + e(1), 2 * e(8) + e(6)]
    )
    assert track.actual.tolist() == [0, 3, 4]
    pytest.importorskip("matplotlib")
    lines = track.plot().axes[0].lines
    assert np.asarray(lines[1].get_ydata()).tolist() == pytest.approx(track.expected.tolist())


def test_delta_method_on_a_parameter_is_the_wald_interval() -> None:
    x, t_x, age = cdnow()
    m = BetaGeoModel().fit(x, t_x, age)
    est, low, high = delta_method_interval(m, lambda f: f.params_["r"])
    se = m.standard_errors_["r"]
    assert est[0] == m.params_["r"]
    assert high[0] - est[0] == pytest.approx(1.959963984540054 * se, rel=1e-6)

    def predict(f: object) -> np.ndarray:
        assert isinstance(f, BetaGeoModel)
        return f.conditional_expected_purchases(39, [0, 2, 5], [0, 10, 30], [38] * 3)

    est, low, high = delta_method_interval(m, predict)
    assert np.all((low < est) & (est < high))
    with pytest.raises(ValidationError, match="no parameter covariance"):
        delta_method_interval(BetaGeoModel.from_params(**FHL), lambda f: f.params_["r"])


def test_gamma_gamma_q_constraint() -> None:
    # spends with a heavy tail: the unconstrained fit can put q below 1
    rng = np.random.default_rng(3)
    x = rng.integers(1, 8, 400).astype(float)
    m = np.round(np.exp(rng.normal(3, 1.2, 400)), 2)
    free = GammaGammaModel().fit(x, m)
    constrained = GammaGammaModel().fit(x, m, q_greater_than_one=True)
    assert constrained.params_["q"] > 1
    assert constrained.log_likelihood_ <= free.log_likelihood_ + 1e-6
    assert math.isfinite(constrained.population_mean_spend())
    assert np.all(np.isfinite(constrained.expected_average_spend([0, 1, 5], [1.0, 20.0, 50.0])))


@pytest.mark.peer
def test_against_lifetimes() -> None:
    lifetimes = pytest.importorskip("lifetimes")
    bg = BetaGeoModel.from_params(**FHL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer_bg = lifetimes.BetaGeoFitter()
        peer_bg.params_ = __import__("pandas").Series(FHL)
        expected = [peer_bg.probability_of_n_purchases_up_to_time(39, k) for k in range(5)]
    ours = [float(bg.probability_of_purchases(k, 39)) for k in range(5)]
    assert ours == pytest.approx(expected, rel=1e-10)
    pnbd = {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}
    pareto = ParetoNBDModel.from_params(**pnbd)
    hist = (np.array([0.0, 2, 5, 1]), np.array([0.0, 10, 30, 30]), np.full(4, 38.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer_p = lifetimes.ParetoNBDFitter()
        peer_p.params_ = __import__("pandas").Series(pnbd)
        for k in range(4):
            theirs = peer_p.conditional_probability_of_n_purchases_up_to_time(k, 20, *hist)
            assert pareto.probability_of_purchases(k, 20, *hist) == pytest.approx(
                theirs, rel=1e-9
            )
            # unconditional = conditional on an empty history at T = 0
            unconditional = peer_p.conditional_probability_of_n_purchases_up_to_time(
                k, 39, 0, 0, 0
            )
            assert float(pareto.probability_of_purchases(k, 39)) == pytest.approx(
                unconditional, rel=1e-9
            )
        peer_m = lifetimes.ModifiedBetaGeoFitter()
        peer_m.params_ = __import__("pandas").Series(FHL)
        mbg = ModifiedBetaGeoModel.from_params(**FHL)
        assert mbg.conditional_expected_purchases(10, *hist) == pytest.approx(
            peer_m.conditional_expected_number_of_purchases_up_to_time(10, *hist), rel=1e-9
        )
        assert mbg.expected_purchases([10.0, 39.0]) == pytest.approx(
            peer_m.expected_number_of_purchases_up_to_time(np.array([10.0, 39.0])), rel=1e-9
        )
        f, r, n = np.array([1, 3, 6]), np.array([1, 5, 6]), np.array([6, 6, 6])
        peer_b = lifetimes.BetaGeoBetaBinomFitter()
        bgbb_params = {"alpha": 1.204, "beta": 0.75, "gamma": 0.657, "delta": 2.783}
        peer_b.params_ = __import__("pandas").Series(bgbb_params)
        bgbb = BetaGeoBetaBinomModel.from_params(**bgbb_params)
        assert bgbb.conditional_expected_purchases(5, f, r, n) == pytest.approx(
            peer_b.conditional_expected_number_of_purchases_up_to_time(5, f, r, n), rel=1e-8
        )
        assert bgbb.probability_alive(f, r, n) == pytest.approx(
            peer_b.conditional_probability_alive(1, f, r, n), rel=1e-8
        )


def test_alive_path_and_period_transactions() -> None:
    m = BetaGeoModel.from_params(**FHL)
    path = probability_alive_path(m, [3.0, 5.0, 8.0], [1.0, 3.0, 6.0, 8.0, 20.0])
    assert np.isnan(path[0])  # before the first purchase
    assert path[1] == 1.0  # no repeat purchase yet
    # at 6: one repeat (at 5, recency 2), age 3; at 20: two repeats, recency 5, age 17
    expected = m.probability_alive([1, 2, 2], [2.0, 5.0, 5.0], [3.0, 5.0, 17.0])
    assert path[2:] == pytest.approx(expected)
    x, _, age = cdnow()
    actual, model_counts = period_transactions(m, x, age, max_frequency=7)
    # FHL (2005), figure 1: CDNOW customers with 0, 1, ..., 7+ repeat purchases
    assert actual.tolist() == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert model_counts.sum() == pytest.approx(len(x))
    assert model_counts[0] == pytest.approx(
        sum(float(m.probability_of_purchases(0, t)) for t in age), rel=1e-10
    )
    pytest.importorskip("matplotlib")
    from matplotlib.container import BarContainer

    from custsuccess.plot import period_transactions as draw

    bars = draw(m, x, age).axes[0].containers[0]
    assert isinstance(bars, BarContainer)
    assert np.asarray(bars.datavalues).tolist() == actual.tolist()


def test_parametric_bootstrap_agrees_with_the_delta_method() -> None:
    x, t_x, age = cdnow()
    m = BetaGeoModel().fit(x, t_x, age)

    def predict(f: object) -> np.ndarray:
        assert isinstance(f, BetaGeoModel)
        return f.conditional_expected_purchases(39, [2, 5], [30.0, 35.0], [38.0, 38.0])

    est, low, high = delta_method_interval(m, predict)
    b_est, b_low, b_high = parametric_bootstrap_interval(m, predict, draws=400, seed=1)
    assert b_est == pytest.approx(est)
    # large sample: the two intervals nearly coincide
    assert b_low == pytest.approx(low, rel=0.05)
    assert b_high == pytest.approx(high, rel=0.05)
    again = parametric_bootstrap_interval(m, predict, draws=400, seed=1)
    assert np.array_equal(again[1], b_low)
    with pytest.raises(ValidationError, match="draws must be"):
        parametric_bootstrap_interval(m, predict, draws=3)
