"""Machinery shared by the CLV fitters: input checks, maximum likelihood, standard errors.

Every model maximises its log-likelihood over the *logarithms* of its parameters (so
they stay positive) with :func:`scipy.optimize.minimize` (BFGS). The objective is the
weighted mean negative log-likelihood plus an optional L2 penalty, as in lifetimes:

.. math:: f(\\theta) = -\\frac{1}{\\sum_i w_i}\\sum_i w_i \\ell_i(\\theta)
          + \\lambda \\sum_k \\theta_k^2

Standard errors come from the Hessian of :math:`f` in log-parameter space, computed by
central differences at the optimum, mapped back by the delta method:
:math:`\\operatorname{Cov}(\\theta) = D\\,H^{-1}D / \\sum_i w_i` with
:math:`D = \\operatorname{diag}(\\theta)`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Final, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.errors import (
    ConvergenceError,
    NotFittedError,
    NumericalError,
    ValidationError,
)

__all__ = ["ParameterSummary", "broadcast", "check_rfm", "dot", "positive_array"]

FloatArray = npt.NDArray[np.float64]
_EXAMPLES: Final = 3
#: z for a two-sided 95% interval
_Z95: Final = 1.959963984540054


def _rows(mask: npt.NDArray[np.bool_], **columns: FloatArray) -> str:
    """'row 3 (frequency=-1.0), row 7 (...)' for the first offending rows of ``mask``."""
    rows = np.flatnonzero(mask)
    parts = []
    for r in rows[:_EXAMPLES]:
        values = ", ".join(f"{name}={_fmt(col, int(r))}" for name, col in columns.items())
        parts.append(f"row {int(r)} ({values})")
    more = f" and {rows.size - _EXAMPLES} more" if rows.size > _EXAMPLES else ""
    return ", ".join(parts) + more


def _fmt(col: FloatArray, r: int) -> str:
    value = col[r] if col.ndim else col[()]
    return repr(float(value))


def dot(a: Any, b: Any) -> float:
    """``sum(a * b)`` without BLAS: numpy's ``@`` hands long vectors to a threaded BLAS,
    whose spinning threads cost several times the work on a loaded machine."""
    return float(np.multiply(a, b).sum())


def positive_array(values: Any, field: str, *, allow_zero: bool = True) -> FloatArray:
    """``values`` as a float64 array of finite numbers ``>= 0`` (``> 0`` without zero)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{field} must hold numbers, got {values!r}") from None
    bad = ~np.isfinite(arr) | ((arr < 0) if allow_zero else (arr <= 0))
    if bad.any():
        bound = ">= 0" if allow_zero else "> 0"
        where = _rows(np.atleast_1d(bad), **{field: np.atleast_1d(arr)})
        raise ValidationError(f"{field} must be finite and {bound}: {where}")
    return arr


def nonnegative(values: Any, what: str, model: object) -> FloatArray:
    """A prediction that is never negative, with rounding residues below 0 set to 0.

    NaN or infinity is never passed off as a number: it raises
    :class:`~custsuccess.errors.NumericalError` naming the model and its parameters
    (``np.maximum(nan, 0)`` is NaN, so a plain clip would let it through).
    """
    arr = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        raise NumericalError(
            f"{model!r}: {what} is not a finite number at position {i} "
            f"({float(arr.reshape(-1)[i])!r}); the parameters are outside the range "
            "where it can be evaluated in double precision"
        )
    out: FloatArray = np.maximum(arr, 0.0)
    return out


def _as_1d(values: Any, field: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{field} must hold numbers, got {values!r}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValidationError(f"{field} must be one-dimensional, got shape {arr.shape}")
    return arr


def broadcast(**arrays: FloatArray) -> list[FloatArray]:
    """The arrays broadcast to one shape; a ValidationError naming their shapes if not."""
    try:
        return list(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise ValidationError(f"inputs have incompatible shapes: {shapes}") from None


def check_rfm(
    frequency: Any, recency: Any, T: Any, *, fitting: bool = True
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate one-dimensional frequency, recency and T (same length).

    Rules (lifetimes' ``_check_inputs`` plus finiteness): frequency is a whole number
    ``>= 0``; ``0 <= recency <= T``; recency is 0 when frequency is 0. Each broken rule
    raises a :class:`ValidationError` naming the first rows and their values.
    """
    x = _as_1d(frequency, "frequency")
    t_x = _as_1d(recency, "recency")
    age = _as_1d(T, "T")
    if fitting and not x.size == t_x.size == age.size:
        raise ValidationError(
            f"frequency, recency and T must have the same length, got "
            f"{x.size}, {t_x.size} and {age.size}"
        )
    if fitting and x.size == 0:
        raise ValidationError("cannot fit a model on zero customers")
    x, t_x, age = broadcast(frequency=x, recency=t_x, T=age)
    cols = {"frequency": x, "recency": t_x, "T": age}
    checks = [
        (~(np.isfinite(x) & np.isfinite(t_x) & np.isfinite(age)), "must be finite"),
        (x < 0, "frequency must be >= 0"),
        (np.isfinite(x) & (x != np.floor(x)), "frequency must be a whole number"),
        (t_x < 0, "recency must be >= 0"),
        (t_x > age, "recency must be <= T"),
        ((x == 0) & (t_x != 0), "recency must be 0 when frequency is 0"),
    ]
    for mask, message in checks:
        if mask.any():
            raise ValidationError(f"{message}: {_rows(mask, **cols)}")
    return x, t_x, age


@attrs.frozen(slots=True, eq=False)
class ParameterSummary:
    """A fitted model's parameters: estimate, standard error and 95% interval.

    Columns are aligned numpy arrays; ``names`` labels the rows. ``to_pandas()`` gives
    a DataFrame (pandas needed) shaped like lifelines' and lifetimes' ``summary``.
    """

    names: tuple[str, ...]
    coef: FloatArray
    se: FloatArray
    lower_95: FloatArray
    upper_95: FloatArray
    log_likelihood: float
    n_observations: float

    def __len__(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{name: {"coef", "se", "lower_95", "upper_95"}}`` as plain floats."""
        return {
            n: {
                "coef": float(self.coef[i]),
                "se": float(self.se[i]),
                "lower_95": float(self.lower_95[i]),
                "upper_95": float(self.upper_95[i]),
            }
            for i, n in enumerate(self.names)
        }

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by parameter name."""
        import pandas as pd

        return pd.DataFrame(
            {
                "coef": self.coef,
                "se(coef)": self.se,
                "lower 95% bound": self.lower_95,
                "upper 95% bound": self.upper_95,
            },
            index=pd.Index(list(self.names), name="param"),
        )

    def __str__(self) -> str:
        lines = [f"{'param':<8}{'coef':>12}{'se':>12}{'lower 95%':>12}{'upper 95%':>12}"]
        for i, n in enumerate(self.names):
            lines.append(
                f"{n:<8}{self.coef[i]:>12.4f}{self.se[i]:>12.4f}"
                f"{self.lower_95[i]:>12.4f}{self.upper_95[i]:>12.4f}"
            )
        lines.append(
            f"log-likelihood {self.log_likelihood:.4f}, {self.n_observations:g} observations"
        )
        return "\n".join(lines)


@attrs.frozen(slots=True)
class _Fit:
    params: Mapping[str, float]
    standard_errors: Mapping[str, float]
    covariance: FloatArray
    log_likelihood: float
    n_observations: float
    iterations: int


Objective = Callable[[FloatArray], float]
_F = TypeVar("_F", bound="Fitter")
Gradient = Callable[[FloatArray], FloatArray]


def _numeric_gradient(f: Objective, h: float = 1e-6) -> Gradient:
    def grad(z: FloatArray) -> FloatArray:
        g = np.empty_like(z)
        for k in range(z.size):
            e = np.zeros_like(z)
            e[k] = h
            g[k] = (f(z + e) - f(z - e)) / (2 * h)
        return g

    return grad


def _hessian(f: Objective, grad: Gradient | None, z: FloatArray) -> FloatArray:
    """Central-difference Hessian of ``f`` at ``z`` (from the gradient when we have one)."""
    n = z.size
    hess = np.empty((n, n))
    if grad is not None:
        h = 1e-5
        for k in range(n):
            e = np.zeros(n)
            e[k] = h
            hess[:, k] = (grad(z + e) - grad(z - e)) / (2 * h)
        symmetric: FloatArray = 0.5 * (hess + hess.T)
        return symmetric
    h = 1e-4
    for i in range(n):
        for j in range(i, n):
            ei = np.zeros(n)
            ej = np.zeros(n)
            ei[i] = h
            ej[j] = h
            value = (f(z + ei + ej) - f(z + ei - ej) - f(z - ei + ej) + f(z - ei - ej)) / (
                4 * h * h
            )
            hess[i, j] = hess[j, i] = value
    return hess


#: a log-parameter beyond this (a parameter below e^-18.4 ~ 1e-8 or above 1e8 times the
#: internal time unit) is taken as heading to 0 or infinity: a boundary optimum
_LOG_BOUND: Final = 18.42


#: a mixing distribution's shape parameter beyond this is heading to infinity: a Gamma or
#: Beta with shape 1e4 has a coefficient of variation of 1% (or less), a single rate in
#: all but name, and the likelihood is flat there to within rounding
SHAPE_LIMIT: Final = 1e4


class _BoundaryReachedError(Exception):
    """Raised inside the optimiser's callback to stop a run that leaves the bounded box."""

    def __init__(self, z: FloatArray) -> None:
        super().__init__()
        self.z = z


def real_number(value: Any, field: str) -> float:
    """A finite real number given as a scalar (not a bool, a string or an array)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{field} must be a finite number, got {value!r}")
    return float(value)


def finite_value(value: float, what: str) -> float:
    """``value`` when finite; NumericalError (never inf or NaN passed off as a result)."""
    if not math.isfinite(value):
        raise NumericalError(f"{what} is not a finite number ({value!r}): the inputs are too "
                             "large for double precision")
    return value


def check_optimiser_options(maxiter: Any, tol: Any) -> tuple[int | None, float | None]:
    """``maxiter`` a whole number >= 1 and ``tol`` a finite number > 0 (or None)."""
    if maxiter is not None and (
        isinstance(maxiter, bool)
        or not isinstance(maxiter, (int, np.integer))
        or int(maxiter) < 1
    ):
        raise ValidationError(f"maxiter must be a whole number >= 1 or None, got {maxiter!r}")
    if tol is not None and (
        isinstance(tol, bool)
        or not isinstance(tol, (int, float, np.integer, np.floating))
        or not math.isfinite(float(tol))
        or float(tol) <= 0
    ):
        raise ValidationError(f"tol must be a finite number > 0 or None, got {tol!r}")
    return (None if maxiter is None else int(maxiter)), (None if tol is None else float(tol))


def check_repeat_purchases(model: str, x: FloatArray) -> None:
    """Purchase-and-dropout models need at least one repeat purchase: without one the
    dropout process leaves no trace in the data and the likelihood is maximised only in
    the limit of a zero purchase rate (a boundary, not a fit)."""
    if not np.any(x > 0):
        raise ConvergenceError(
            f"{model}: every customer has frequency 0 ({x.size} rows), so the purchase "
            "rate and the dropout process cannot be estimated (the likelihood is maximised "
            "only as the purchase rate tends to 0); fit on data with repeat purchases"
        )


class Fitter:
    """Base class of the CLV models: fitted state, ``summary()``, and the optimiser.

    Subclasses set ``param_names`` and implement ``_objective`` pieces; after ``fit``
    the attributes ``params_``, ``standard_errors_``, ``covariance_``,
    ``log_likelihood_`` and ``n_observations_`` are available. Reading any of them
    earlier raises :class:`~custsuccess.errors.NotFittedError`.
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    #: shape parameters of mixing distributions: a fit stops with ConvergenceError as
    #: soon as one passes SHAPE_LIMIT (the heterogeneity vanishes; the optimum is at
    #: infinity)
    shape_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, penalizer: float = 0.0) -> None:
        if not (
            isinstance(penalizer, (int, float)) and math.isfinite(penalizer) and penalizer >= 0
        ):
            raise ValidationError(f"penalizer must be a finite number >= 0, got {penalizer!r}")
        self.penalizer = float(penalizer)
        self._fit: _Fit | None = None

    # ------------------------------------------------------------------ state

    def _fitted(self) -> _Fit:
        if self._fit is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(...) first")
        return self._fit

    @property
    def params_(self) -> Mapping[str, float]:
        """Fitted parameters keyed as in the papers (read-only mapping)."""
        return self._fitted().params

    @property
    def standard_errors_(self) -> Mapping[str, float]:
        """Asymptotic standard errors (inverse Hessian, delta method)."""
        return self._fitted().standard_errors

    @property
    def covariance_(self) -> FloatArray:
        """Covariance matrix of the parameters, in ``param_names`` order."""
        cov: FloatArray = self._fitted().covariance.copy()
        return cov

    @property
    def log_likelihood_(self) -> float:
        """Maximised log-likelihood (without the penalty), summed over observations."""
        return self._fitted().log_likelihood

    @property
    def n_observations_(self) -> float:
        """Number (total weight) of observations the model was fitted on."""
        return self._fitted().n_observations

    def _values(self) -> tuple[float, ...]:
        params = self._fitted().params
        return tuple(params[n] for n in self.param_names)

    def summary(self) -> ParameterSummary:
        """The fitted parameters with standard errors and 95% Wald intervals."""
        fit = self._fitted()
        coef = np.array([fit.params[n] for n in self.param_names])
        se = np.array([fit.standard_errors[n] for n in self.param_names])
        return ParameterSummary(
            self.param_names,
            coef,
            se,
            coef - _Z95 * se,
            coef + _Z95 * se,
            fit.log_likelihood,
            fit.n_observations,
        )

    # ------------------------------------------------------------------ known parameters

    @classmethod
    def from_params(cls: type[_F], **params: float) -> _F:
        """A model with known parameters (published ones, or from an earlier fit):
        predictions work, standard errors and covariance are NaN.

        >>> from custsuccess.clv import BetaGeoModel
        >>> BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        <BetaGeoModel: r=0.243, alpha=4.414, a=0.793, b=2.426, fitted on 0 observations>
        """
        from custsuccess.clv.persist import fitted_state

        model = cls()
        model._fit = fitted_state(cls, params)
        return model

    def to_json(self) -> str:
        """The fitted model as JSON (parameters, covariance, log-likelihood); read it
        back with :func:`custsuccess.clv.persist.load_json` or ``Model.from_json``."""
        from custsuccess.clv.persist import dump_json

        return dump_json(self)

    @classmethod
    def from_json(cls: type[_F], text: str) -> _F:
        """A model saved by :meth:`to_json` (of this class)."""
        from custsuccess.clv.persist import load_json

        model = load_json(text)
        if not isinstance(model, cls):
            raise ValidationError(
                f"the JSON holds a {type(model).__name__}, not a {cls.__name__}"
            )
        return model

    def _repr_html_(self) -> str:
        """Notebooks: the fitted parameters with their standard errors, as a table."""
        from custsuccess._html import cell, table

        name = type(self).__name__
        if self._fit is None:
            return table(f"{name}: not fitted", [], [])
        fit = self._fit
        rows = [[cell(k), cell(float(v)), cell(float(fit.standard_errors.get(k, math.nan)))]
                for k, v in fit.params.items()]
        return table(f"{name}, fitted on {fit.n_observations:g} observations",
                     ["parameter", "estimate", "standard error"], rows)

    def __repr__(self) -> str:
        name = type(self).__name__
        if self._fit is None:
            return f"<{name}: not fitted>"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self._fit.params.items())
        return f"<{name}: {shown}, fitted on {self._fit.n_observations:g} observations>"

    # ------------------------------------------------------------------ fitting

    def _maximise(
        self,
        mean_loglik: Callable[[FloatArray], float],
        mean_grad: Callable[[FloatArray], FloatArray] | None,
        z0: Sequence[float] | FloatArray,
        *,
        total_weight: float,
        scales: Sequence[float],
        maxiter: int | None,
        tol: float | None,
        loglik_offset: float = 0.0,
    ) -> None:
        """Fit by minimising the penalised mean NLL over log-parameters.

        ``mean_loglik(z)`` is the weighted mean log-likelihood at log-parameters ``z``
        (time-scale parameters measured in the internal unit); ``scales`` converts each
        fitted value back to the caller's unit (``theta = exp(z) * scale``), and
        ``loglik_offset`` is added to the summed log-likelihood to express it in the
        caller's unit (the Jacobian of the time rescaling).
        """
        from scipy.optimize import minimize

        maxiter, tol = check_optimiser_options(maxiter, tol)
        lam = self.penalizer

        def objective(z: FloatArray) -> float:
            with np.errstate(all="ignore"):
                value = -mean_loglik(z) + lam * float(np.sum(np.exp(2 * z)))
            return value if math.isfinite(value) else math.inf

        if mean_grad is not None:

            def gradient(z: FloatArray) -> FloatArray:
                with np.errstate(all="ignore"):
                    return -mean_grad(z) + lam * 2 * np.exp(2 * z)

            jac: Gradient = gradient
        else:
            jac = _numeric_gradient(objective)
        start = np.asarray(z0, dtype=np.float64)
        if not math.isfinite(objective(start)):
            raise ConvergenceError(
                f"{type(self).__name__}: the log-likelihood is not finite at the starting "
                f"point {dict(zip(self.param_names, np.exp(start), strict=True))}; "
                "pass initial_params"
            )
        options: dict[str, Any] = {"gtol": 1e-8 if tol is None else tol}
        if maxiter is not None:
            options["maxiter"] = maxiter

        limits = np.array(
            [
                math.log(SHAPE_LIMIT / s) if n in self.shape_params else _LOG_BOUND
                for n, s in zip(self.param_names, scales, strict=True)
            ]
        )

        def leave_if_unbounded(z: FloatArray) -> None:
            if np.any(np.abs(z) > _LOG_BOUND) or np.any(z > limits):
                raise _BoundaryReachedError(np.array(z, dtype=np.float64))

        try:
            result = minimize(
                objective,
                start,
                jac=jac,
                method="BFGS",
                options=options,
                callback=leave_if_unbounded,
            )
        except _BoundaryReachedError as stop:
            raise ConvergenceError(self._boundary_message(stop.z, scales)) from None
        if np.all(np.isfinite(result.x)) and (
            np.any(np.abs(result.x) > _LOG_BOUND) or np.any(result.x > limits)
        ):
            raise ConvergenceError(self._boundary_message(result.x, scales))
        grad_norm = (
            float(np.max(np.abs(jac(result.x)))) if np.all(np.isfinite(result.x)) else math.inf
        )
        # BFGS stops with "precision loss" once the objective cannot improve in double
        # precision; at such a point with a vanishing gradient the optimum is reached.
        precision_stop = result.status == 2 and grad_norm < 1e-5
        if not (result.success or precision_stop) or not math.isfinite(float(result.fun)):
            raise ConvergenceError(
                f"{type(self).__name__} did not converge: {result.message} "
                f"(after {result.nit} iterations, max |gradient| {grad_norm:.3g}); "
                "try a penalizer > 0, other initial_params or a larger maxiter"
            )
        z = np.asarray(result.x, dtype=np.float64)
        theta = np.exp(z)
        hess = _hessian(objective, jac if mean_grad is not None else None, z)
        cov_log, ok = _invert(hess)
        if not ok:
            warnings.warn(
                f"{type(self).__name__}: the Hessian at the optimum is not positive "
                "definite; standard errors are undefined (NaN)",
                RuntimeWarning,
                stacklevel=3,
            )
        scale = np.asarray(scales, dtype=np.float64)
        values = theta * scale
        cov = cov_log * np.outer(values, values) / total_weight
        se = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
        loglik = float(float(mean_loglik(z)) * total_weight + loglik_offset)
        self._fit = _Fit(
            params=MappingProxyType(
                {n: float(v) for n, v in zip(self.param_names, values, strict=True)}
            ),
            standard_errors=MappingProxyType(
                {n: float(s) for n, s in zip(self.param_names, se, strict=True)}
            ),
            covariance=cov,
            log_likelihood=loglik,
            n_observations=float(total_weight),
            iterations=int(result.nit),
        )


    def _boundary_message(self, z: FloatArray, scales: Sequence[float]) -> str:
        values = np.exp(z) * np.asarray(scales, dtype=np.float64)
        parts = []
        for name, zk, value in zip(self.param_names, z, values, strict=True):
            if name in self.shape_params and value > SHAPE_LIMIT:
                parts.append(
                    f"{name} -> infinity ({value:.3g}: its mixing distribution collapses "
                    "to a single value, the data show no heterogeneity there)"
                )
            elif abs(zk) > _LOG_BOUND:
                parts.append(f"{name} -> {'infinity' if zk > 0 else '0'} ({value:.3g})")
        return (
            f"{type(self).__name__}: the maximum likelihood is on the boundary of the "
            f"parameter space: {'; '.join(parts)}. The data do not identify the model "
            "there: try a penalizer > 0 or a simpler model"
        )


def _invert(hess: FloatArray) -> tuple[FloatArray, bool]:
    nan: FloatArray = np.full(hess.shape, np.nan)
    if not np.all(np.isfinite(hess)):
        return nan, False
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return nan, False
    inverse: FloatArray = np.linalg.inv(hess).astype(np.float64)
    return inverse, True


def initial_log_params(
    initial_params: Mapping[str, float] | None,
    names: tuple[str, ...],
    defaults: Sequence[float],
    scales: Sequence[float],
) -> FloatArray:
    """Log of the starting point (in internal units), from the caller's or defaults."""
    if initial_params is None:
        return np.log(np.asarray(defaults, dtype=np.float64))
    unknown = set(initial_params) - set(names)
    missing = [n for n in names if n not in initial_params]
    if unknown or missing:
        raise ValidationError(
            f"initial_params must have exactly the keys {list(names)}; "
            f"missing {missing}, unknown {sorted(unknown)}"
        )
    values = np.array([float(initial_params[n]) for n in names])
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise ValidationError(
            f"initial_params must be finite and > 0: "
            f"{ {n: initial_params[n] for n, b in zip(names, bad, strict=True) if b} }"
        )
    return np.log(values / np.asarray(scales, dtype=np.float64))


def weights_array(weights: Any, n: int) -> FloatArray:
    """Per-row weights (counts of identical customers); ones when None."""
    if weights is None:
        return np.ones(n)
    w = positive_array(weights, "weights")
    if w.shape != (n,):
        raise ValidationError(f"weights must have one value per row ({n}), got shape {w.shape}")
    if w.sum() <= 0:
        raise ValidationError("weights must not all be 0")
    return w


def compress(*columns: FloatArray, weights: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Identical rows merged, their weights summed (the likelihood is a weighted sum)."""
    n = columns[0].size
    if n < 2:
        return list(columns), weights
    order = np.lexsort(columns[::-1])
    sorted_cols = [c[order] for c in columns]
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for c in sorted_cols:
        new[1:] |= c[1:] != c[:-1]
    starts = np.flatnonzero(new)
    if starts.size == n:
        return list(columns), weights
    group = np.cumsum(new) - 1
    merged: FloatArray = np.bincount(group, weights=weights[order], minlength=starts.size).astype(
        np.float64
    )
    return [c[starts] for c in sorted_cols], merged


def unique_inverse(values: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Sorted unique values and the index of each input in them."""
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq, inverse.reshape(-1)
