"""Cox proportional hazards regression (Cox 1972) with Efron or Breslow ties.

The hazard of subject ``i`` is ``h(t | x_i) = h_0(t) exp(x_i' beta)``. ``beta`` maximises
the log partial likelihood; at each distinct event time ``t_j`` with tied events ``D_j``
(``d_j`` of them) and risk set ``R_j`` (durations ``>= t_j``), with ``r_i = exp(x_i'beta)``:

.. math::
    \\ell(\\beta) = \\sum_j \\Big[\\sum_{i \\in D_j} x_i'\\beta
        - \\sum_{l=0}^{d_j - 1} \\ln\\Big(\\sum_{i \\in R_j} r_i
        - \\frac{l}{d_j}\\sum_{i \\in D_j} r_i\\Big)\\Big]

(Efron 1977; Breslow 1974 drops the ``l/d_j`` term). The gradient and Hessian are
analytic and computed on whole arrays (risk-set sums are reverse cumulative sums over the
subjects sorted by duration); SciPy's ``trust-exact`` Newton method maximises ``ell`` on
standardised covariates, and the standard errors come from the inverse of the observed
information. The baseline hazard is Breslow's estimator at the covariate means (as
lifelines' ``CoxPHFitter``), concordance is Harrell's C, and the proportional-hazards
check is the score test on scaled Schoenfeld residuals against a transform of time
(Grambsch & Therneau 1994, in the form lifelines' ``proportional_hazard_test`` uses).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.churn.hazard import alpha_value, durations_array, observed_array, z_value
from custsuccess.errors import ConvergenceError, NotFittedError, ValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from custsuccess.churn.survival import Lifetimes
    from custsuccess.dataset import Dataset

__all__ = [
    "CoxModel",
    "ProportionalHazardsTest",
    "concordance_index",
    "covariates_from_lifetimes",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Ties = Literal["efron", "breslow"]


# --------------------------------------------------------------------------- inputs


def covariate_matrix(covariates: Any, n: int | None = None) -> tuple[tuple[str, ...], F64]:
    """Names and an ``(n, p)`` float matrix from a mapping of name -> array, a DataFrame
    (anything with ``columns`` and ``to_numpy``), or a 2-D array (columns x0, x1, ...)."""
    if isinstance(covariates, Mapping):
        names = tuple(str(k) for k in covariates)
        columns = []
        for key, values in covariates.items():
            try:
                col = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValidationError(f"covariate {key!r} must hold numbers") from None
            if col.ndim != 1:
                raise ValidationError(f"covariate {key!r} must be one-dimensional")
            columns.append(col)
        lengths = {len(c) for c in columns}
        if len(lengths) > 1:
            raise ValidationError(f"covariates have different lengths: {sorted(lengths)}")
        matrix = np.column_stack(columns) if columns else np.empty((n or 0, 0))
    elif hasattr(covariates, "columns") and hasattr(covariates, "to_numpy"):
        names = tuple(str(c) for c in covariates.columns)
        try:
            matrix = np.asarray(covariates.to_numpy(dtype=np.float64), dtype=np.float64)
        except (TypeError, ValueError):
            raise ValidationError("covariates must hold numbers in every column") from None
    else:
        try:
            matrix = np.asarray(covariates, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValidationError("covariates must hold numbers") from None
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        if matrix.ndim != 2:
            raise ValidationError(f"covariates must be two-dimensional, got shape {matrix.shape}")
        names = tuple(f"x{i}" for i in range(matrix.shape[1]))
    if not names:
        raise ValidationError("covariates must have at least one column")
    if len(set(names)) != len(names):
        raise ValidationError(f"covariate names must be distinct, got {list(names)}")
    if n is not None and matrix.shape[0] != n:
        raise ValidationError(
            f"covariates must have one row per subject ({n}), got {matrix.shape[0]}"
        )
    bad = ~np.isfinite(matrix)
    if bad.any():
        where = np.argwhere(bad)[0]
        i, j = int(where[0]), int(where[1])
        raise ValidationError(
            f"covariate {names[j]!r}[{i}] = {float(matrix[i, j])!r}: covariates must "
            "be finite"
        )
    return names, matrix


# --------------------------------------------------------------------------- concordance


def _count_later_smaller(rank: I64, strict: bool) -> I64:
    """For each position i: #{j > i: rank_j < rank_i} (``<=`` when not strict).

    Divide and conquer over position blocks: at each level the left half of every block
    is counted against the sorted right half of the same block, all blocks at once.
    """
    n = len(rank)
    counts = np.zeros(n, dtype=np.int64)
    pos = np.arange(n, dtype=np.int64)
    size = 1
    key_space = np.int64(n + 1)
    while size < n:
        block = pos // (2 * size)
        right = (pos // size) % 2 == 1
        keys = np.sort(block[right] * key_space + rank[right])
        left = ~right
        base = block[left] * key_space
        hi = np.searchsorted(keys, base + rank[left], side="left" if strict else "right")
        counts[left] += hi - np.searchsorted(keys, base, side="left")
        size *= 2
    return counts


def concordance_index(durations: Any, risk: Any, observed: Any = None) -> float:
    """Harrell's concordance index of a risk score (higher = leaves sooner).

    A pair is comparable when the subject with the shorter duration had the event (a
    subject censored at the same time as an event counts as later; tied events are not
    compared); it is concordant when that subject has the higher risk, and tied risks
    count one half: the definition lifelines' ``concordance_index`` uses (with the
    predicted time being minus the risk). ``O(n log^2 n)`` in whole-array passes.

    >>> concordance_index([1, 2, 3, 4], [4, 3, 2, 1])
    1.0
    >>> concordance_index([1, 2, 3, 4], [1, 1, 1, 1])
    0.5
    """
    d = durations_array(durations, "durations")
    obs = observed_array(observed, len(d), "observed")
    r = np.asarray(risk, dtype=np.float64)
    if r.shape != d.shape or not np.all(np.isfinite(r)):
        raise ValidationError("risk must be finite numbers, one per subject")
    # time ascending; at a tie, events (by risk ascending) before the censored
    order = np.lexsort((r, ~obs, d))
    t, e, rr = d[order], obs[order], r[order]
    _, rank = np.unique(rr, return_inverse=True)
    rank = rank.reshape(-1).astype(np.int64)
    smaller = _count_later_smaller(rank, strict=True)
    smaller_or_equal = _count_later_smaller(rank, strict=False)
    n = len(t)
    # events later in the same time group (not comparable): by position within the group
    new_time = np.r_[True, t[1:] != t[:-1]]
    time_group = np.cumsum(new_time) - 1
    group_start = np.flatnonzero(new_time)
    events_in_group = np.bincount(time_group, weights=e).astype(np.int64)
    position_in_group = np.arange(n) - group_start[time_group]
    later_tied_events = np.where(e, events_in_group[time_group] - position_in_group - 1, 0)
    # among those, the ones with the same risk sit right after i (sorted by risk)
    cell = np.r_[True, (t[1:] != t[:-1]) | (rr[1:] != rr[:-1]) | (e[1:] != e[:-1])]
    cell_id = np.cumsum(cell) - 1
    cell_end = np.r_[np.flatnonzero(cell)[1:], n]
    later_same_cell = cell_end[cell_id] - np.arange(n) - 1
    pairs = np.where(e, n - np.arange(n) - 1 - later_tied_events, 0)
    correct = np.where(e, smaller, 0)
    tied = np.where(e, smaller_or_equal - smaller - later_same_cell, 0)
    total = int(pairs.sum())
    if total == 0:
        raise ValidationError("no comparable pair: concordance is undefined")
    return (float(correct.sum()) + 0.5 * float(tied.sum())) / total


# --------------------------------------------------------------------------- the model


@attrs.frozen(slots=True)
class _Prepared:
    x: F64  # standardised covariates, sorted by duration
    durations: F64
    events: npt.NDArray[np.bool_]
    order: npt.NDArray[np.intp]
    first: npt.NDArray[np.intp]  # first sorted index of each event-time group
    group_of_event: npt.NDArray[np.intp]  # event-time group of each sorted event subject
    d_j: F64
    row_group: npt.NDArray[np.intp]  # expanded (j, l) rows: their group
    row_c: F64  # l / d_j (Efron) or 0 (Breslow)
    upto: npt.NDArray[np.intp]  # per sorted subject: last event group with t_j <= t_i, -1
    event_starts: npt.NDArray[np.intp]  # first row of each event-time group among events


def _prepare(d: F64, e: npt.NDArray[np.bool_], x: F64, ties: str) -> _Prepared:
    order = np.lexsort((~e, d)).astype(np.intp)
    ds, es, xs = d[order], e[order], x[order]
    event_times, _first_event_pos = np.unique(ds[es], return_index=True)
    # first sorted position of each event time among all subjects (risk set start)
    first = np.searchsorted(ds, event_times, side="left").astype(np.intp)
    ev_pos = np.flatnonzero(es)
    group_of_event = np.searchsorted(event_times, ds[ev_pos]).astype(np.intp)
    d_j = np.bincount(group_of_event, minlength=len(event_times)).astype(np.float64)
    row_group = group_of_event  # one row per event, in group order
    start_of_group = np.r_[0, np.cumsum(d_j)[:-1]].astype(np.intp)
    l_index = np.arange(len(ev_pos)) - start_of_group[row_group]
    row_c = l_index / d_j[row_group] if ties == "efron" else np.zeros(len(ev_pos))
    upto = (np.searchsorted(event_times, ds, side="right") - 1).astype(np.intp)
    return _Prepared(
        xs, ds, es, order, first, group_of_event, d_j, row_group, row_c, upto, start_of_group
    )


def _suffix_sums(values: Any, first: npt.NDArray[np.intp]) -> Any:
    """``values[first_j:].sum(axis=0)`` for every ``j``: totals minus prefix sums."""
    prefix = np.cumsum(values, axis=0)
    total = prefix[-1]
    before = np.where(
        (first > 0).reshape((-1,) + (1,) * (values.ndim - 1)),
        prefix[np.maximum(first - 1, 0)],
        0.0,
    )
    return total - before


def _risk_sums(prep: _Prepared, r: F64) -> tuple[F64, F64, F64, F64, F64]:
    """Risk-set sums S0, S1 at each event time, tied-event sums T0, T1, and r x."""
    x = prep.x
    rx = r[:, None] * x
    s0 = _suffix_sums(r, prep.first)
    s1 = _suffix_sums(rx, prep.first)
    ev = np.flatnonzero(prep.events)
    t0 = np.add.reduceat(r[ev], prep.event_starts)
    t1 = np.add.reduceat(rx[ev], prep.event_starts, axis=0)
    return s0, s1, t0, t1, rx


def _derivatives(prep: _Prepared, beta: F64, need_hessian: bool) -> tuple[float, F64, F64]:
    """Log partial likelihood, gradient and Hessian at ``beta`` (standardised scale)."""
    x, es = prep.x, prep.events
    eta = x @ beta
    shift = float(eta.max()) if len(eta) else 0.0
    r = np.exp(eta - shift)  # the shift cancels in every ratio; added back in the loglik
    s0, s1, t0, t1, _ = _risk_sums(prep, r)
    ev = np.flatnonzero(es)
    k = len(prep.first)
    g, c = prep.row_group, prep.row_c
    a = s0[g] - c * t0[g]
    b = s1[g] - c[:, None] * t1[g]
    loglik = float(eta[ev].sum() - np.log(a).sum() - shift * len(ev))
    b_over_a = b / a[:, None]
    grad = x[ev].sum(axis=0) - b_over_a.sum(axis=0)
    if not need_hessian:
        return loglik, grad, np.empty((0, 0))
    inv_a = 1.0 / a
    per_group = np.bincount(g, weights=inv_a, minlength=k)
    c_per_group = np.bincount(g, weights=c * inv_a, minlength=k)
    cumulative = np.cumsum(per_group)
    # a_i: sum over rows (j, l) of the coefficient of subject i in C_jl / A_jl
    coef = np.where(prep.upto >= 0, cumulative[np.maximum(prep.upto, 0)], 0.0)
    coef[ev] -= c_per_group[prep.group_of_event]
    weighted = x * (r * coef)[:, None]
    hess = -(x.T @ weighted - b_over_a.T @ b_over_a)
    return loglik, grad, hess


@attrs.frozen(slots=True, eq=False)
class ProportionalHazardsTest:
    """The proportional-hazards check per covariate: ``statistic`` (chi-square, 1 df)
    and ``p_value`` of the scaled Schoenfeld residuals' trend over ``transform(time)``;
    ``residuals`` the scaled residuals (one row per event, in time order) and ``times``
    the transformed event times, for plotting."""

    names: tuple[str, ...]
    statistic: F64
    p_value: F64
    transform: str
    times: F64
    residuals: F64

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{name: {"statistic", "p_value"}}``."""
        return {
            n: {"statistic": float(self.statistic[i]), "p_value": float(self.p_value[i])}
            for i, n in enumerate(self.names)
        }


@attrs.frozen(slots=True)
class _CoxFit:
    names: tuple[str, ...]
    params: F64
    covariance: F64
    log_likelihood: float
    null_log_likelihood: float
    means: F64
    baseline_times: F64
    baseline_cumulative_hazard: F64
    concordance: float
    n: int
    n_events: int
    iterations: int
    prepared: _Prepared
    scale: F64


class CoxModel:
    """Cox proportional hazards regression.

    Parameters
    ----------
    ties : ``"efron"`` (default, as lifelines and R) or ``"breslow"``.
    alpha : the intervals are ``1 - alpha`` Wald intervals (default 95%).

    After :meth:`fit`: ``params_`` (coefficients by name), ``standard_errors_``,
    ``hazard_ratios_``, ``covariance_``, ``log_likelihood_`` (the maximised log partial
    likelihood), ``concordance_``, ``summary()``, ``baseline_survival``,
    ``predict_survival``, ``predict_partial_hazard`` and ``check_assumptions``.

    The recidivism data of Rossi et al. (1980), with lifelines' and R's published
    coefficients (fin -0.379, age -0.057, prio 0.091, ...):

    >>> import csv, pathlib
    >>> text = pathlib.Path("tests/fixtures/rossi.csv").read_text()
    >>> rows = list(csv.DictReader(text.splitlines()))
    >>> names = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    >>> model = CoxModel().fit(
    ...     [float(r["week"]) for r in rows], [int(r["arrest"]) for r in rows],
    ...     {n: [float(r[n]) for r in rows] for n in names})
    >>> {n: round(v, 3) for n, v in model.params_.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'fin': -0.379, 'age': -0.057, 'race': 0.314, 'wexp': -0.15, 'mar': -0.434,
     'paro': -0.085, 'prio': 0.091}
    >>> round(model.log_likelihood_, 2), round(model.concordance_, 3)
    (-658.75, 0.64)
    """

    def __init__(self, ties: Ties = "efron", *, alpha: float = 0.05) -> None:
        if ties not in ("efron", "breslow"):
            raise ValidationError(f"ties must be 'efron' or 'breslow', got {ties!r}")
        self.ties = ties
        self.alpha = alpha_value(alpha)
        self._fit: _CoxFit | None = None

    def _fitted(self) -> _CoxFit:
        if self._fit is None:
            raise NotFittedError("CoxModel is not fitted yet: call fit(...) first")
        return self._fit

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        durations: Any,
        observed: Any,
        covariates: Any,
        *,
        maxiter: int = 100,
        tol: float = 1e-9,
    ) -> CoxModel:
        """Maximum partial-likelihood fit; returns ``self``.

        ``covariates``: a mapping of name -> array, a DataFrame, or an ``(n, p)`` array,
        one row per subject (see :func:`covariates_from_lifetimes` for a dataset's
        segment, plan and MRR). Raises :class:`~custsuccess.errors.ValidationError` on
        bad input (a constant covariate, no events) and
        :class:`~custsuccess.errors.ConvergenceError` when Newton's method fails
        (often a covariate that separates events from non-events).
        """
        from scipy.optimize import minimize

        d = durations_array(durations, "durations")
        e = observed_array(observed, len(d), "observed")
        names, x = covariate_matrix(covariates, len(d))
        if not e.any():
            raise ValidationError("observed has no event: the Cox model cannot be fitted")
        means = x.mean(axis=0)
        scale = x.std(axis=0)
        constant = np.flatnonzero(scale == 0)
        if constant.size:
            raise ValidationError(
                f"covariate {names[int(constant[0])]!r} is constant: its effect is not "
                "identifiable (drop it)"
            )
        xs = (x - means) / scale
        prep = _prepare(d, e, xs, self.ties)
        cache: dict[bytes, tuple[float, F64, F64]] = {}

        def evaluate(beta: F64) -> tuple[float, F64, F64]:
            key = beta.tobytes()
            if key not in cache:
                cache.clear()
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    cache[key] = _derivatives(prep, beta, need_hessian=True)
            return cache[key]

        def objective(beta: F64) -> float:
            value = -evaluate(beta)[0]
            return value if math.isfinite(value) else math.inf

        start = np.zeros(x.shape[1])
        null_loglik = evaluate(start)[0]
        result = minimize(
            objective,
            start,
            jac=lambda b: -evaluate(b)[1],
            hess=lambda b: -evaluate(b)[2],
            method="trust-exact",
            options={"maxiter": maxiter, "gtol": tol},
        )
        beta_s = np.asarray(result.x, dtype=np.float64)
        loglik, grad, hess = evaluate(beta_s)
        if not (np.all(np.isfinite(beta_s)) and math.isfinite(loglik)) or float(
            np.max(np.abs(grad))
        ) > max(1e-4, 1e-6 * abs(loglik)):
            raise ConvergenceError(
                f"CoxModel did not converge: {result.message} (after {result.nit} "
                f"iterations, max |gradient| {float(np.max(np.abs(grad))):.3g}); a covariate "
                "may separate events from non-events"
            )
        try:
            cov_s = np.linalg.inv(-hess)
        except np.linalg.LinAlgError:
            raise ConvergenceError(
                "CoxModel: the information matrix is singular (collinear covariates?)"
            ) from None
        params = beta_s / scale
        covariance = cov_s / np.outer(scale, scale)
        # Breslow's baseline hazard at the covariate means: d_j / sum_{R_j} exp(x'beta)
        eta = prep.x @ beta_s
        r = np.exp(eta - eta.max())
        s0 = _suffix_sums(r, prep.first) * math.exp(float(eta.max()))
        increments = prep.d_j / s0
        event_times = prep.durations[prep.first]
        risk = (x - means) @ params
        concordance = concordance_index(d, risk, e)
        self._fit = _CoxFit(
            names, params, covariance, loglik, null_loglik, means, event_times,
            np.cumsum(increments), concordance, len(d), int(e.sum()), int(result.nit),
            prep, scale,
        )
        return self

    # ------------------------------------------------------------------ fitted values

    @property
    def params_(self) -> dict[str, float]:
        """Coefficients (log hazard ratios) by covariate name."""
        fit = self._fitted()
        return {n: float(v) for n, v in zip(fit.names, fit.params, strict=True)}

    @property
    def standard_errors_(self) -> dict[str, float]:
        """Standard errors from the inverse observed information."""
        fit = self._fitted()
        se = np.sqrt(np.diag(fit.covariance))
        return {n: float(v) for n, v in zip(fit.names, se, strict=True)}

    @property
    def hazard_ratios_(self) -> dict[str, float]:
        """``exp(coef)``: the hazard multiplier of one unit more of each covariate."""
        return {n: math.exp(v) for n, v in self.params_.items()}

    @property
    def covariance_(self) -> F64:
        """Covariance matrix of the coefficients (covariate order)."""
        out: F64 = self._fitted().covariance.copy()
        return out

    @property
    def log_likelihood_(self) -> float:
        """The maximised log partial likelihood."""
        return self._fitted().log_likelihood

    @property
    def concordance_(self) -> float:
        """Harrell's C of the fitted linear predictor on the training data."""
        return self._fitted().concordance

    def log_partial_likelihood(self, params: Mapping[str, float] | Any) -> float:
        """The log partial likelihood at other coefficients (a mapping or an array)."""
        fit = self._fitted()
        if isinstance(params, Mapping):
            beta = np.array([float(params[n]) for n in fit.names])
        else:
            beta = np.asarray(params, dtype=np.float64).reshape(-1)
        if beta.shape != fit.params.shape:
            raise ValidationError(f"params must have {len(fit.names)} values, got {beta.shape}")
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return _derivatives(fit.prepared, beta * fit.scale, need_hessian=False)[0]

    def likelihood_ratio_test(self) -> tuple[float, int, float]:
        """(statistic, degrees of freedom, p-value) of the fit against beta = 0."""
        from custsuccess.churn.logrank import chi2_survival

        fit = self._fitted()
        statistic = 2 * (fit.log_likelihood - fit.null_log_likelihood)
        df = len(fit.names)
        return statistic, df, chi2_survival(statistic, df)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per covariate: coef, exp(coef), se, z, p, and the ``1 - alpha`` intervals of
        the coefficient and the hazard ratio."""
        from scipy.special import ndtr

        fit = self._fitted()
        z = z_value(self.alpha)
        se = np.sqrt(np.diag(fit.covariance))
        out = {}
        for i, name in enumerate(fit.names):
            b, s = float(fit.params[i]), float(se[i])
            out[name] = {
                "coef": b,
                "exp(coef)": math.exp(b),
                "se(coef)": s,
                "z": b / s,
                "p": float(2 * ndtr(-abs(b / s))),
                "coef lower": b - z * s,
                "coef upper": b + z * s,
                "exp(coef) lower": math.exp(b - z * s),
                "exp(coef) upper": math.exp(b + z * s),
            }
        return out

    def to_pandas(self) -> Any:
        """The summary as a DataFrame indexed by covariate (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.summary()).T

    # ------------------------------------------------------------------ prediction

    def _x(self, covariates: Any) -> F64:
        fit = self._fitted()
        if isinstance(covariates, Mapping) or hasattr(covariates, "columns"):
            names, x = covariate_matrix(covariates)
            missing = [n for n in fit.names if n not in names]
            if missing:
                raise ValidationError(f"covariates lack {missing}")
            x = x[:, [names.index(n) for n in fit.names]]
        else:
            x = np.atleast_2d(np.asarray(covariates, dtype=np.float64))
            if x.shape[1] != len(fit.names) or not np.all(np.isfinite(x)):
                raise ValidationError(
                    f"covariates must be finite with {len(fit.names)} columns, got {x.shape}"
                )
        return x

    def predict_partial_hazard(self, covariates: Any) -> F64:
        """``exp((x - mean)' beta)`` per row, relative to the average subject."""
        fit = self._fitted()
        out: F64 = np.exp((self._x(covariates) - fit.means) @ fit.params)
        return out

    def baseline_survival(self, times: Any = None) -> tuple[F64, F64]:
        """``(times, S_0(t))``: survival of a subject at the covariate means (Breslow),
        at the event times, or at ``times``."""
        fit = self._fitted()
        t = fit.baseline_times if times is None else np.asarray(times, dtype=np.float64)
        return t, np.exp(-self._cumulative_baseline(t))

    def _cumulative_baseline(self, times: F64) -> F64:
        fit = self._fitted()
        pos = np.searchsorted(fit.baseline_times, times, side="right") - 1
        out: F64 = np.where(pos >= 0, fit.baseline_cumulative_hazard[np.maximum(pos, 0)], 0.0)
        return out

    def predict_survival(self, covariates: Any, times: Any) -> F64:
        """``S(t | x) = S_0(t)^{exp((x - mean)' beta)}``: one row per subject of
        ``covariates``, one column per time."""
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        h0 = self._cumulative_baseline(t)
        out: F64 = np.exp(-np.outer(self.predict_partial_hazard(covariates), h0))
        return out

    def predict_median(self, covariates: Any) -> F64:
        """The first event time at which each subject's predicted survival is <= 0.5."""
        fit = self._fitted()
        surv = self.predict_survival(covariates, fit.baseline_times)
        below = surv <= 0.5
        idx = below.argmax(axis=1)
        out: F64 = np.where(below.any(axis=1), fit.baseline_times[idx], np.inf)
        return out

    # ------------------------------------------------------------------ diagnostics

    def schoenfeld_residuals(self) -> tuple[F64, F64]:
        """``(event times, residuals)``: per event, ``x_i`` minus the (Efron-averaged)
        risk-set mean of ``x`` at its time, in time order (original covariate units)."""
        fit = self._fitted()
        prep = fit.prepared
        beta_s = fit.params * fit.scale
        x = prep.x
        eta = x @ beta_s
        r = np.exp(eta - eta.max())
        s0, s1, t0, t1, _ = _risk_sums(prep, r)
        ev = np.flatnonzero(prep.events)
        g, c = prep.row_group, prep.row_c
        ratio = (s1[g] - c[:, None] * t1[g]) / (s0[g] - c * t0[g])[:, None]
        mean_per_group = np.add.reduceat(ratio, prep.event_starts, axis=0)
        mean_per_group /= prep.d_j[:, None]
        residuals = (x[ev] - mean_per_group[prep.group_of_event]) * fit.scale
        return prep.durations[ev], residuals

    def check_assumptions(
        self, transform: Literal["km", "rank", "identity", "log"] = "km"
    ) -> ProportionalHazardsTest:
        """Test proportional hazards per covariate with the scaled Schoenfeld residuals
        ``r* = D r V`` (``D`` events, ``V`` the coefficient covariance) regressed on
        ``g(t)``: ``T = (sum (g - mean g) r*)^2 / (D var(beta) sum (g - mean g)^2)``,
        chi-square with 1 df (Grambsch & Therneau 1994; lifelines'
        ``proportional_hazard_test``). ``transform``: ``"km"`` (1 - the Kaplan-Meier curve
        at the event time, R's ``cox.zph`` default), ``"rank"``, ``"identity"``, ``"log"``.
        """
        from custsuccess.churn.logrank import chi2_survival

        fit = self._fitted()
        times, resid = self.schoenfeld_residuals()
        scaled = fit.n_events * resid @ fit.covariance
        if transform == "km":
            from custsuccess.churn.survival import kaplan_meier

            prep = fit.prepared
            km = kaplan_meier(prep.durations, prep.events)
            g = 1.0 - km.survival_at(times)
        elif transform == "rank":
            g = np.arange(1, len(times) + 1, dtype=np.float64)
        elif transform == "identity":
            g = times.astype(np.float64)
        elif transform == "log":
            g = np.log(times)
        else:
            raise ValidationError(
                f"transform must be 'km', 'rank', 'identity' or 'log', got {transform!r}"
            )
        centred = g - g.mean()
        variance = np.diag(fit.covariance)
        statistic = (centred @ scaled) ** 2 / (
            fit.n_events * variance * float(centred @ centred)
        )
        p_values = np.array([chi2_survival(float(s), 1) for s in statistic])
        return ProportionalHazardsTest(
            fit.names, statistic, p_values, transform, g, scaled
        )

    def plot(self, **kwargs: Any) -> Figure:
        """Hazard ratios with their intervals, one row per covariate (needs matplotlib)."""
        from custsuccess.plot import hazard_ratios

        return hazard_ratios(self, **kwargs)

    def __repr__(self) -> str:
        if self._fit is None:
            return f"<CoxModel ties={self.ties}: not fitted>"
        return (
            f"<CoxModel ties={self.ties}: {len(self._fit.names)} covariates, "
            f"{self._fit.n} subjects, {self._fit.n_events} events, "
            f"log partial likelihood {self._fit.log_likelihood:.4f}>"
        )


def covariates_from_lifetimes(
    lifetimes: Lifetimes, *, columns: tuple[str, ...] = ("segment", "plan"),
    extra: Mapping[str, Any] | None = None, dataset: Dataset | None = None,
) -> dict[str, F64]:
    """Covariates for :meth:`CoxModel.fit` from :func:`~custsuccess.churn.lifetimes_from`:
    one 0/1 column per segment and per plan (the most common level is the reference and
    gets no column; missing labels are a level of their own, ``"(none)"``), plus any
    ``extra`` numeric columns aligned with the lifetimes (for instance MRR at start, or
    the health score at start). Given the ``dataset`` the lifetimes come from, a column
    ``mrr_at_start`` holds the MRR of the subscriptions each customer started with.

    >>> from custsuccess.churn import lifetimes_from
    >>> from custsuccess.churn._examples import small_dataset
    >>> life = lifetimes_from(small_dataset(), "2024-12-31T00:00:00+00:00")
    >>> sorted(covariates_from_lifetimes(life))
    ['plan=pro', 'segment=enterprise']
    """
    out: dict[str, F64] = {}
    for column in columns:
        if column not in ("segment", "plan"):
            raise ValidationError(f"columns must name 'segment' or 'plan', got {column!r}")
        cat = getattr(lifetimes, column)
        labels = np.array([*cat.categories, "(none)"], dtype=object)
        codes = np.where(np.asarray(cat.codes) < 0, len(labels) - 1, np.asarray(cat.codes))
        counts = np.bincount(codes, minlength=len(labels))
        present = np.flatnonzero(counts)
        if present.size < 2:
            continue
        reference = int(present[np.argmax(counts[present])])
        for level in present.tolist():
            if level != reference:
                out[f"{column}={labels[level]}"] = (codes == level).astype(np.float64)
    if dataset is not None:
        out["mrr_at_start"] = _mrr_at_start(dataset, lifetimes)
    for name, values in (extra or {}).items():
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (len(lifetimes),):
            raise ValidationError(
                f"extra covariate {name!r} must have one value per lifetime "
                f"({len(lifetimes)}), got shape {arr.shape}"
            )
        out[name] = arr
    return out


def _mrr_at_start(dataset: Dataset, lifetimes: Lifetimes) -> F64:
    """Summed MRR of each lifetime's subscriptions that began at its first start."""
    subs = dataset.until(lifetimes.as_of).subscriptions
    cust = subs.customer.astype(np.intp)
    n = dataset.n_customers
    if int(lifetimes.customer.max(initial=-1)) >= n:
        raise ValidationError("the lifetimes do not come from this dataset")
    start = subs.started_at.astype("datetime64[us]").astype(np.int64)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, cust, start)
    at_first = start == first[cust]
    mrr = np.bincount(cust[at_first], weights=subs.mrr[at_first], minlength=n)
    out: F64 = mrr[lifetimes.customer].astype(np.float64)
    return out
