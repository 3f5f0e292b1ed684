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
    with pytest.raises(ConvergenceError, match=r"on the boundary of the parameter space \(.* -> 0"):
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
