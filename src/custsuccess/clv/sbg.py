"""The shifted-beta-geometric (sBG) model of contractual retention (Fader & Hardie 2007).

At the end of each period (a month or year of subscription) an active customer cancels
with probability :math:`\\theta`, constant for them and beta(alpha, beta) across
customers. Cohort retention then rises over time (the customers likely to cancel leave
first) instead of being constant, which is why sBG projects retention well where
curve fitting does not ("How to project customer retention", 2007):

.. math::
    P(T=t) = \\frac{B(\\alpha+1, \\beta+t-1)}{B(\\alpha, \\beta)},\\qquad
    S(t) = \\frac{B(\\alpha, \\beta+t)}{B(\\alpha, \\beta)},\\qquad
    r_t = \\frac{S(t)}{S(t-1)} = \\frac{\\beta+t-1}{\\alpha+\\beta+t-1}

Log-likelihood of a cohort observed for ``n`` periods:
:math:`\\sum_{t=1}^{n} (n_{t-1} - n_t)\\ln P(T=t) + n_n \\ln S(n)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import betaln, hyp2f1

from custsuccess.clv.base import (
    Fitter,
    FloatArray,
    _as_1d,
    _rows,
    dot,
    finite_value,
    initial_log_params,
    positive_array,
    real_number,
)
from custsuccess.errors import ValidationError

__all__ = ["ShiftedBetaGeometricModel"]


class ShiftedBetaGeometricModel(Fitter):
    """sBG retention model for subscription cohorts.

    Examples
    --------
    >>> m = ShiftedBetaGeometricModel().fit([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> {k: round(v, 3) for k, v in m.params_.items()}
    {'alpha': 0.704, 'beta': 1.182}
    >>> m.retention_rate([1, 2, 3]).round(3)
    array([0.627, 0.756, 0.819])
    """

    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta")

    def fit(
        self,
        survivors: Any,
        *,
        initial_params: Mapping[str, float] | None = None,
        maxiter: int | None = None,
        tol: float | None = None,
    ) -> ShiftedBetaGeometricModel:
        """Fit on one cohort's survivor counts ``[n_0, n_1, ..., n_k]``: ``n_0`` customers
        at the start, ``n_t`` still subscribed after ``t`` renewal opportunities.

        Counts must be finite, ``>= 0``, not increasing, with ``n_0 > 0``; returns self.
        """
        n = _as_1d(survivors, "survivors")
        if n.size < 2:
            raise ValidationError(f"survivors needs at least 2 values, got {n.size}")
        cols = {"survivors": n}
        if not np.all(np.isfinite(n)) or (n < 0).any():
            bad = ~np.isfinite(n) | (n < 0)
            raise ValidationError(f"survivors must be finite and >= 0: {_rows(bad, **cols)}")
        if n[0] <= 0:
            raise ValidationError(f"survivors[0] (the cohort size) must be > 0, got {n[0]!r}")
        rising = np.zeros(n.size, dtype=bool)
        rising[1:] = n[1:] > n[:-1]
        if rising.any():
            raise ValidationError(
                f"survivors must not increase from one period to the next: {_rows(rising, **cols)}"
            )
        churned = n[:-1] - n[1:]
        periods = np.arange(1, n.size, dtype=np.float64)
        return self._fit_counts(
            periods,
            churned,
            float(n.size - 1),
            float(n[-1]),
            initial_params=initial_params,
            maxiter=maxiter,
            tol=tol,
        )

    def fit_durations(
        self,
        durations: Any,
        churned: Any,
        *,
        initial_params: Mapping[str, float] | None = None,
        maxiter: int | None = None,
        tol: float | None = None,
    ) -> ShiftedBetaGeometricModel:
        """Fit on individual subscribers: ``durations[i]`` periods observed (whole, >= 1
        when churned), ``churned[i]`` whether they cancelled at the end of that period
        (otherwise still subscribed: right-censored). Returns self.
        """
        d = _as_1d(durations, "durations")
        c = np.asarray(churned)
        if c.shape != d.shape or c.dtype.kind not in "bi":
            raise ValidationError(
                f"churned must be booleans aligned with durations ({d.size}), got "
                f"shape {c.shape} dtype {c.dtype}"
            )
        c = c.astype(bool)
        cols = {"durations": d}
        bad = ~np.isfinite(d) | (d < 0) | (d != np.floor(d)) | (c & (d < 1))
        if bad.any():
            raise ValidationError(
                "durations must be whole numbers >= 0 (>= 1 for churned customers): "
                f"{_rows(bad, **cols)}"
            )
        if d.size == 0:
            raise ValidationError("cannot fit a model on zero customers")
        top = int(d.max())
        churn_counts = np.bincount(d[c].astype(np.int64), minlength=top + 1)[1:].astype(float)
        censored = np.bincount(d[~c].astype(np.int64), minlength=top + 1).astype(float)
        periods = np.arange(1, top + 1, dtype=np.float64)
        return self._fit_counts(
            periods,
            churn_counts,
            np.arange(top + 1, dtype=np.float64),
            censored,
            initial_params=initial_params,
            maxiter=maxiter,
            tol=tol,
        )

    def _fit_counts(
        self,
        periods: FloatArray,
        churned: FloatArray,
        censor_at: Any,
        censored: Any,
        *,
        initial_params: Mapping[str, float] | None,
        maxiter: int | None,
        tol: float | None,
    ) -> ShiftedBetaGeometricModel:
        cens_t = np.atleast_1d(np.asarray(censor_at, dtype=np.float64))
        cens_n = np.atleast_1d(np.asarray(censored, dtype=np.float64))
        total = float(churned.sum() + cens_n.sum())
        if churned.sum() <= 0:
            raise ValidationError("no customer churned: sBG cannot be fitted without churn")

        def mean_loglik(z: FloatArray) -> float:
            alpha, beta = np.exp(z)
            base = betaln(alpha, beta)
            ll_churn = betaln(alpha + 1, beta + periods - 1) - base
            ll_surv = betaln(alpha, beta + cens_t) - base
            return float((dot(churned, ll_churn) + dot(cens_n, ll_surv)) / total)

        z0 = initial_log_params(initial_params, self.param_names, (1.0, 1.0), (1.0, 1.0))
        self._maximise(
            mean_loglik,
            None,
            z0,
            total_weight=total,
            scales=(1.0, 1.0),
            maxiter=maxiter,
            tol=1e-9 if tol is None else tol,
        )
        return self

    # ------------------------------------------------------------------ predictions

    def survival_function(self, t: Any) -> FloatArray:
        """S(t) = B(alpha, beta+t) / B(alpha, beta): share of a cohort still subscribed
        after ``t`` renewal opportunities (S(0) = 1)."""
        alpha, beta = self._values()
        tt = positive_array(t, "t")
        out: FloatArray = np.exp(betaln(alpha, beta + tt) - betaln(alpha, beta))
        return out

    def churn_probability(self, t: Any) -> FloatArray:
        """P(T = t) = B(alpha+1, beta+t-1) / B(alpha, beta): probability of cancelling at
        the end of period ``t >= 1``."""
        alpha, beta = self._values()
        tt = positive_array(t, "t")
        if (np.atleast_1d(tt) < 1).any():
            raise ValidationError("t must be >= 1 for churn_probability")
        out: FloatArray = np.exp(betaln(alpha + 1, beta + tt - 1) - betaln(alpha, beta))
        return out

    def retention_rate(self, t: Any) -> FloatArray:
        """r_t = (beta+t-1)/(alpha+beta+t-1): share of period ``t-1``'s customers who
        renew at renewal opportunity ``t >= 1``."""
        alpha, beta = self._values()
        tt = positive_array(t, "t")
        if (np.atleast_1d(tt) < 1).any():
            raise ValidationError("t must be >= 1 for retention_rate")
        out: FloatArray = (beta + tt - 1) / (alpha + beta + tt - 1)
        return out

    def discounted_expected_lifetime(self, discount_rate: float) -> float:
        """DEL = sum_{t>=0} S(t)/(1+d)^t = 2F1(1, beta; alpha+beta; 1/(1+d)) periods, for a
        customer just acquired (Fader & Hardie 2010); needs ``discount_rate > 0``."""
        alpha, beta = self._values()
        discount_rate = real_number(discount_rate, "discount_rate")
        if not discount_rate > 0:
            raise ValidationError(f"discount_rate must be > 0, got {discount_rate!r}")
        return finite_value(
            float(hyp2f1(1.0, beta, alpha + beta, 1.0 / (1.0 + discount_rate))),
            "discounted_expected_lifetime",
        )

    def customer_lifetime_value(
        self, value_per_period: float, discount_rate: float, *, periods: int | None = None
    ) -> float:
        """Expected discounted value of a new subscriber paying ``value_per_period`` at the
        start of each period they are subscribed: ``value * sum_{t<periods}
        S(t)/(1+d)^t`` (all periods, via :meth:`discounted_expected_lifetime`, when
        ``periods`` is None)."""
        value_per_period = real_number(value_per_period, "value_per_period")
        if not value_per_period >= 0:
            raise ValidationError(f"value_per_period must be >= 0, got {value_per_period!r}")
        if periods is None:
            return finite_value(
                value_per_period * self.discounted_expected_lifetime(discount_rate),
                "customer_lifetime_value",
            )
        discount_rate = real_number(discount_rate, "discount_rate")
        if not discount_rate > -1:
            raise ValidationError(f"discount_rate must be > -1, got {discount_rate!r}")
        if isinstance(periods, bool) or not isinstance(periods, (int, np.integer)) or periods < 0:
            raise ValidationError(f"periods must be a whole number >= 0, got {periods!r}")
        t = np.arange(periods, dtype=np.float64)
        with np.errstate(over="ignore"):
            total = value_per_period * np.sum(self.survival_function(t) / (1 + discount_rate) ** t)
        return finite_value(float(total), "customer_lifetime_value")
