"""Regressions for numerical defects: each test failed before its fix."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from custsuccess.clv import BetaGeoModel, GammaGammaModel, ParetoNBDModel
from custsuccess.errors import ConvergenceError, ValidationError

FIXTURES = Path(__file__).parent / "fixtures"


def _cdnow_rfm() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = np.loadtxt(
        FIXTURES / "cdnow_customers_summary_with_transactions.csv", delimiter=",", skiprows=1
    )
    return table[:, 1], table[:, 2], table[:, 3]


def _hyp2f1_series(a: float, b: float, c: float, z: float, terms: int = 20000) -> float:
    """The Gauss series summed term by term in plain floats (converges for |z| < 1)."""
    total, term = 1.0, 1.0
    for k in range(terms):
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        total += term
        if abs(term) < 1e-17 * abs(total):
            break
    return total


# ---------------------------------------------------------------- BG/NBD sign of 2F1


@pytest.mark.filterwarnings("ignore:BetaGeoModel. the Hessian")
def test_bgnbd_expected_purchases_where_the_hypergeometric_term_is_negative() -> None:
    x, t_x, T = _cdnow_rfm()
    model = BetaGeoModel(penalizer=0.1).fit(x, t_x, T)
    r, alpha, a, b = (model.params_[k] for k in ("r", "alpha", "a", "b"))
    assert a + b - 1 < 0  # the case: 2F1(r, b; a+b-1; z) is negative
    value = float(model.expected_purchases(39))
    # lifetimes and a 40-digit evaluation agree on 1.371101 (the fit itself matches
    # lifetimes' penalised fit)
    assert value == pytest.approx(1.371101, abs=5e-6)
    # and by the Gauss series at the fitted parameters, evaluated independently
    z = 39 / (alpha + 39)
    by_hand = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + 39)) ** r * _hyp2f1_series(r, b, a + b - 1, z))
    )
    assert value == pytest.approx(by_hand, rel=1e-9)
    # conditional predictions at the same parameters are finite and match the series too
    cond = model.conditional_expected_purchases(39, [0, 1], [0, 20], 38.0)
    assert np.all(np.isfinite(cond))
    xx, tx, age = 1.0, 20.0, 38.0
    zz = 39 / (alpha + age + 39)
    series = (
        (a + b + xx - 1)
        / (a - 1)
        * (
            1
            - ((alpha + age) / (alpha + age + 39)) ** (r + xx)
            * _hyp2f1_series(r + xx, b + xx, a + b + xx - 1, zz)
        )
    )
    alive = 1 / (1 + a / (b + xx - 1) * ((alpha + age) / (alpha + tx)) ** (r + xx))
    assert cond[1] == pytest.approx(series * alive, rel=1e-9)


def test_bgnbd_never_passes_nan_off_as_a_nonnegative_prediction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from custsuccess.errors import NumericalError

    model = BetaGeoModel()
    model.fit(
        [0, 1, 1, 2, 2, 3, 5, 8],
        [0, 4, 25, 5, 30, 28, 32, 34],
        [38, 38, 38, 38, 38, 38, 37, 36],
        weights=[1400, 250, 200, 100, 120, 100, 60, 40],
    )
    # a hypergeometric value scipy cannot give (NaN) must not come out as a number
    import custsuccess.clv.bgnbd as bgnbd

    def broken(*args: Any) -> np.ndarray:
        return np.full(np.broadcast(*args).shape, np.nan)

    monkeypatch.setattr(bgnbd, "hyp2f1", broken)
    with pytest.raises(NumericalError, match="expected_purchases"):
        model.expected_purchases([1.0, 2.0])
    with pytest.raises(NumericalError, match="conditional_expected_purchases"):
        model.conditional_expected_purchases(10, [1], [5], 10)


def test_bgnbd_predictions_are_continuous_through_a_equal_to_one() -> None:
    """At a = 1 the closed form is 0/0; the value is the limit, not an error."""
    from custsuccess.clv.base import _Fit

    def with_a(a: float) -> BetaGeoModel:
        model = BetaGeoModel()
        params = {"r": 0.5, "alpha": 3.0, "a": a, "b": 2.0}
        object.__setattr__(model, "_fit", _Fit(params, params, np.eye(4), 0.0, 1.0, 1))
        return model

    at_one = with_a(1.0).expected_purchases([5.0, 20.0])
    near = (
        with_a(1.001).expected_purchases([5.0, 20.0])
        + with_a(0.999).expected_purchases([5.0, 20.0])
    ) / 2
    assert np.all(np.isfinite(at_one))
    np.testing.assert_allclose(at_one, near, rtol=1e-5)
    cond = with_a(1.0).conditional_expected_purchases(5.0, [0, 2], [0, 3], 10)
    near_c = (
        with_a(1.001).conditional_expected_purchases(5.0, [0, 2], [0, 3], 10)
        + with_a(0.999).conditional_expected_purchases(5.0, [0, 2], [0, 3], 10)
    ) / 2
    np.testing.assert_allclose(cond, near_c, rtol=1e-5)


# ---------------------------------------------------------------- boundary optima, options


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ParetoNBDModel])
def test_no_repeat_purchase_is_a_convergence_error_not_the_start_values(
    model_cls: type[BetaGeoModel] | type[ParetoNBDModel],
) -> None:
    with pytest.raises(ConvergenceError, match="every customer has frequency 0"):
        model_cls().fit([0, 0, 0, 0], [0, 0, 0, 0], [10, 20, 30, 40])
    with pytest.raises(ConvergenceError, match="every customer has frequency 0"):
        model_cls(penalizer=0.1).fit([0, 0, 0, 0], [0, 0, 0, 0], [10, 20, 30, 40])


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ParetoNBDModel])
def test_an_optimum_at_the_boundary_is_a_convergence_error(
    model_cls: type[BetaGeoModel] | type[ParetoNBDModel],
) -> None:
    # everyone buys as one Poisson process and nobody drops out: the dropout parameter's
    # maximum likelihood is its limit 0, which no finite fit represents
    rng = np.random.default_rng(1)
    times = [np.sort(rng.uniform(0, 52, rng.poisson(0.5 * 52))) for _ in range(500)]
    x = np.array([max(len(t) - 1, 0) for t in times], dtype=float)
    last = np.array([t[-1] - t[0] if len(t) > 1 else 0.0 for t in times])
    T = np.array([52 - t[0] if len(t) else 52.0 for t in times])
    with pytest.raises(ConvergenceError, match=r"on the boundary of the parameter space: . -> 0"):
        model_cls().fit(x, last, T)


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ParetoNBDModel, GammaGammaModel])
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("tol", math.nan),
        ("tol", -1.0),
        ("tol", math.inf),
        ("tol", "1e-6"),
        ("tol", True),
        ("maxiter", 0),
        ("maxiter", 2.5),
        ("maxiter", True),
        ("maxiter", -3),
    ],
)
def test_bad_optimiser_options_are_refused(model_cls: type, option: str, value: object) -> None:
    x, t_x, T = [0, 1, 2, 5], [0, 3, 8, 9], [10, 10, 10, 10]
    model = model_cls()
    args: tuple[Any, ...] = (
        ([1, 2, 5], [10.0, 12.0, 9.0]) if model_cls is GammaGammaModel else (x, t_x, T)
    )
    with pytest.raises(ValidationError, match=option):
        model.fit(*args, **{option: value})


# ---------------------------------------------------------------- Pareto/NBD stability


def _pareto_loglik_by_quadrature(
    r: float, alpha: float, s: float, beta: float, x: float, t_x: float, T: float
) -> float:
    """Fader & Hardie's eq. 18 with its dropout-time integral done by scipy's quad."""
    from scipy.integrate import quad
    from scipy.special import gammaln

    p = r + x
    top = -p * math.log(alpha + t_x) - (s + 1) * math.log(beta + t_x)

    def integrand(u: float) -> float:
        return math.exp(-p * math.log(alpha + u) - (s + 1) * math.log(beta + u) - top)

    inner, _ = quad(integrand, t_x, T, epsabs=0.0, epsrel=1e-12, limit=400)
    head = gammaln(r + x) - gammaln(r) + r * math.log(alpha) + s * math.log(beta)
    alive = -(r + x) * math.log(alpha + T) - s * math.log(beta + T)
    died = math.log(s) + top + math.log(inner) if inner > 0 else -math.inf
    return float(head + np.logaddexp(alive, died))


def test_pareto_likelihood_is_finite_where_scipy_hyp2f1_fails() -> None:
    from scipy.special import hyp2f1

    from custsuccess.clv.pareto_nbd import _loglik

    params = (4.2311, 598.91, 5451.47, 2715825.6)
    assert math.isnan(hyp2f1(5455.7011, 4.2311, 5456.7011, (2715825.6 - 598.91) / 2715825.6))
    x, t_x, T = np.array([0.0, 3.0, 5.0]), np.array([0.0, 100.0, 534.0]), np.full(3, 534.0)
    ours = _loglik(*params, x, t_x, T)
    assert ours[0] == pytest.approx(-1.3146, abs=5e-5)
    for i in range(3):
        expected = _pareto_loglik_by_quadrature(*params, x[i], t_x[i], T[i])
        assert ours[i] == pytest.approx(expected, rel=1e-9)


def test_pareto_fit_heading_to_infinity_fails_fast_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # one purchase rate and one dropout rate for everybody: no heterogeneity, so the
    # Gamma shape r runs to infinity; the fit stops there with a clear error
    rng = np.random.default_rng(1)
    n = 600
    life = rng.exponential(500.0, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        end = min(life[i], 534.0)
        k = rng.poisson(end / 150.0)
        if k:
            x[i], t_x[i] = k, np.sort(rng.uniform(0, end, k))[-1]
    calls: list[int] = []
    import custsuccess.clv.pareto_nbd as pareto

    original = pareto._loglik

    def counted(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(pareto, "_loglik", counted)
    with pytest.raises(ConvergenceError, match=r"r -> infinity .*no heterogeneity"):
        ParetoNBDModel().fit(x, t_x, np.full(n, 534.0))
    assert len(calls) < 1000  # numerical gradients: 8 evaluations a step


# ---------------------------------------------------------------- dates out of range


@pytest.mark.parametrize(
    "moment",
    [
        np.datetime64("300000-01-01"),  # wraps to year -284555 in microseconds
        np.datetime64("-300000-01-01"),
        np.datetime64("10000-01-01"),  # fits in microseconds, not in a calendar
        np.datetime64("0000-06-01"),
    ],
)
def test_moments_out_of_range_are_refused_not_wrapped(moment: np.datetime64) -> None:
    from datetime import datetime, timezone

    from custsuccess import Customer, Dataset, Subscription
    from custsuccess.churn import lifetimes_from
    from custsuccess.clv import rfm_summary
    from custsuccess.dataset import to_datetime64
    from custsuccess.metrics import customer_mrr, mrr_series

    with pytest.raises(ValidationError, match=r"as_of must be a moment in years 1 to 9999"):
        to_datetime64(moment)
    day = datetime(2024, 1, 1, tzinfo=timezone.utc)
    ds = Dataset.from_records([Customer("a", day)], [Subscription("s", "a", "p", 10.0, "USD", day)])
    with pytest.raises(ValidationError, match="years 1 to 9999"):
        lifetimes_from(ds, moment)
    with pytest.raises(ValidationError, match="at must be a moment in years 1 to 9999"):
        customer_mrr(ds, moment)
    with pytest.raises(ValidationError, match="years 1 to 9999"):
        mrr_series(ds, end=moment)
    with pytest.raises(ValidationError, match=r"created_at must be a moment .* at position 1"):
        Dataset.from_columns(
            customers={
                "id": ["a", "b"],
                "created_at": np.array([np.datetime64("2024-01-01"), moment]),
            }
        )
    with pytest.raises(ValidationError, match=r"timestamps must be a moment .* at position 0"):
        rfm_summary(["a"], np.array([moment]), [1.0], "2024-06-01T00:00:00Z")


# ---------------------------------------------------------------- metric inputs and results


def test_arpa_of_huge_amounts_is_their_finite_mean() -> None:
    from custsuccess.metrics import arpa

    assert arpa([1e308, 1e308]) == 1e308
    assert arpa([1e308, 1e308, 0.0], include_zero=True) == pytest.approx(1e308 / 3 * 2)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        ("ltv(1e308, 0.01)", "ltv"),
        ("clv(1e200, 1e200, 1e200)", "clv"),
        ("nrr(1e308, churned=0, contraction=0, expansion=1e308)", "nrr"),
        ("quick_ratio(new=1e308, expansion=1e308, churned=1e-300, contraction=0)", "quick"),
    ],
)
def test_metric_results_beyond_double_precision_are_an_error(call: str, name: str) -> None:
    from custsuccess import metrics
    from custsuccess.errors import NumericalError

    with pytest.raises(NumericalError, match=f"{name}.* is not a finite number"):
        eval(call, vars(metrics))


def test_roc_auc_refuses_string_labels_instead_of_reading_them_all_true() -> None:
    from custsuccess.health.backtest import roc_auc

    with pytest.raises(ValidationError, match=r"labels must hold booleans or 0/1, got 'False'"):
        roc_auc(["False", "True"], [0.2, 0.8])
    with pytest.raises(ValidationError, match="risk must hold real numbers"):
        roc_auc([0, 1], np.array([0.2, 0.8 + 1j]))
    with pytest.raises(ValidationError, match=r"labels must hold booleans or 0/1, got 2"):
        roc_auc([0, 2], [0.2, 0.8])
    assert roc_auc([0, 1], [0.2, 0.8]) == 1.0
    assert roc_auc(np.array([True, False]), [0.2, 0.8]) == 0.0


def test_complex_amounts_are_refused_not_truncated() -> None:
    from custsuccess import Dataset
    from custsuccess.metrics import arpa

    with pytest.raises(ValidationError, match="mrr must hold real numbers"):
        arpa(np.array([10.0 + 5j]))
    day = np.array(["2024-01-01"], dtype="datetime64[us]")
    with pytest.raises(ValidationError, match="mrr must hold real numbers"):
        Dataset.from_columns(
            customers={"id": ["a"], "created_at": day},
            subscriptions={
                "id": ["s"],
                "customer_id": ["a"],
                "plan": ["p"],
                "mrr": np.array([10.0 + 5j]),
                "currency": ["USD"],
                "started_at": day,
            },
        )


def test_period_options_are_checked_even_without_data() -> None:
    from custsuccess import Dataset
    from custsuccess.metrics import cohort_retention, mrr_series, nps_by_period

    empty = Dataset.from_columns(
        customers={"id": ["a"], "created_at": np.array(["2024-01-01"], dtype="datetime64[us]")}
    )
    metric: Any
    for metric in (nps_by_period, mrr_series, cohort_retention):
        with pytest.raises(ValidationError, match="freq must be one of"):
            metric(empty, freq="fortnight")
        with pytest.raises(ValidationError, match="tz must be an IANA time zone"):
            metric(empty, tz="Mars/Olympus")


def test_cohort_retention_with_a_far_future_end_is_refused_at_once() -> None:
    import tracemalloc
    from datetime import datetime, timezone

    from custsuccess import Customer, Dataset, Subscription
    from custsuccess.metrics import cohort_retention

    day = datetime(2024, 1, 1, tzinfo=timezone.utc)
    ds = Dataset.from_records(
        [Customer(c, day) for c in "abcde"],
        [Subscription(f"s{c}", c, "p", 10.0, "USD", day) for c in "abcde"],
    )
    tracemalloc.start()
    try:
        for end in ("2500-01-01T00:00:00Z", "9999-01-01T00:00:00Z"):
            with pytest.raises(ValidationError, match=r"at most 1200 periods .*near the data"):
                cohort_retention(ds, end=end)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000  # was 1.6 GB for 2500 and 68 GiB for 9999
    # a century of months is still fine, and its first row is the hand-worked one
    r = cohort_retention(ds, end="2123-12-01T00:00:00Z")
    assert len(r.periods) == 1200
    assert r.size[0] == 5
    assert r.customer_rate[0, :3].tolist() == [1.0, 1.0, 1.0]
