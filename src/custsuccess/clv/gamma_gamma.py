"""The Gamma-Gamma model of monetary value (Fader & Hardie 2013; FHL 2005 "RFM and CLV").

A customer's spend per transaction is Gamma(p, nu); their nu varies across customers
as Gamma(q, gamma) (``v`` below, "gamma" in the note). Spend is assumed independent of
the purchase process, so it combines with BG/NBD or Pareto/NBD into a CLV.

Log-likelihood of a customer with ``x`` repeat purchases averaging ``m`` (note 025,
eq. 1a; the form lifetimes uses):

.. math::
    \\ell = \\ln\\Gamma(px+q) - \\ln\\Gamma(px) - \\ln\\Gamma(q) + q\\ln v
          + (px-1)\\ln m + px\\ln x - (px+q)\\ln(xm+v)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, Protocol

import numpy as np
from scipy.special import digamma, gammaln

from custsuccess.clv.base import (
    Fitter,
    FloatArray,
    _as_1d,
    _rows,
    compress,
    dot,
    initial_log_params,
    positive_array,
    real_number,
    weights_array,
)
from custsuccess.errors import ValidationError

__all__ = ["PERIODS_PER_MONTH", "GammaGammaModel", "TransactionModel"]

#: How many time units of the transaction model make a month (lifetimes' factors).
PERIODS_PER_MONTH: Final[Mapping[str, float]] = {
    "D": 30.0,
    "W": 4.345,
    "M": 1.0,
    "h": 30.0 * 24.0,
}


class TransactionModel(Protocol):
    """A fitted purchase model: BetaGeoModel or ParetoNBDModel."""

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> FloatArray: ...


class GammaGammaModel(Fitter):
    """Gamma-Gamma spend model, fitted on repeat customers (frequency > 0).

    Examples
    --------
    >>> gg = GammaGammaModel().fit([1, 2, 5, 3, 1, 4], [20.0, 35.5, 18.2, 40.0, 12.0, 22.5])
    >>> sorted(gg.params_)
    ['p', 'q', 'v']
    """

    param_names: ClassVar[tuple[str, ...]] = ("p", "q", "v")

    def fit(
        self,
        frequency: Any,
        monetary_value: Any,
        *,
        weights: Any = None,
        initial_params: Mapping[str, float] | None = None,
        maxiter: int | None = None,
        tol: float | None = None,
        q_greater_than_one: bool = False,
    ) -> GammaGammaModel:
        """Maximum-likelihood fit on repeat customers; returns ``self``.

        ``frequency`` must be a whole number > 0 and ``monetary_value`` (the mean of the
        repeat purchases) > 0 on every row: select repeat customers first (for an
        :class:`~custsuccess.clv.RFMSummary`, ``summary.repeat_buyers()``).
        ``q_greater_than_one`` fits ``q = 1 + exp(z)`` so the population mean spend
        ``p v / (q - 1)`` is finite (lifetimes' ``q_constraint``).
        """
        x, m = _check_spend(frequency, monetary_value)
        w = weights_array(weights, x.size)
        # spend is fitted in units of its mean, then v (a money scale) converted back
        scale = float(np.average(m, weights=w))
        (x, ms), w = compress(x, m / scale, weights=w)
        n = float(w.sum())
        log_m = np.log(ms)
        log_x = np.log(x)

        shift = 1.0 if q_greater_than_one else 0.0

        def mean_loglik(z: FloatArray) -> float:
            p, q, v = np.exp(z)
            q = q + shift
            px = p * x
            ll = (
                gammaln(px + q)
                - gammaln(px)
                - gammaln(q)
                + q * np.log(v)
                + (px - 1) * log_m
                + px * log_x
                - (px + q) * np.log(x * ms + v)
            )
            return float(dot(w, ll) / n)

        def mean_grad(z: FloatArray) -> FloatArray:
            p, q, v = np.exp(z)
            q = q + shift
            px = p * x
            lxmv = np.log(x * ms + v)
            psi = digamma(px + q)
            d_p = dot(w, (x * (psi - digamma(px) + log_m + log_x - lxmv)))
            d_q = dot(w, (psi - digamma(q) + np.log(v) - lxmv))
            d_v = dot(w, (q / v - (px + q) / (x * ms + v)))
            # d/dz of q = shift + e^z is e^z either way
            return np.array([d_p, d_q, d_v]) * np.exp(z) / n

        scales = (1.0, 1.0, scale)
        z0 = initial_log_params(initial_params, self.param_names, (1.0, 2.0, 1.0), scales)
        if shift:
            z0[1] = np.log(max(float(np.exp(z0[1])) - 1.0, 1e-3))
        # the density of m is in money units: rescaling m shifts ln L by -ln(scale)
        self._maximise(
            mean_loglik,
            mean_grad,
            z0,
            total_weight=n,
            scales=scales,
            maxiter=maxiter,
            tol=tol,
            loglik_offset=-n * float(np.log(scale)),
        )
        if shift:
            from custsuccess.clv.persist import fitted_state

            fit = self._fitted()
            params = dict(fit.params)
            params["q"] += shift
            self._fit = fitted_state(
                type(self), params, covariance=fit.covariance,
                log_likelihood=fit.log_likelihood, n_observations=fit.n_observations,
            )
        return self

    def expected_average_spend(self, frequency: Any, monetary_value: Any) -> FloatArray:
        """E(spend per purchase | x, m) (note 025, eq. 5), a weighted average of the
        population mean ``p v / (q - 1)`` and the customer's own mean ``m``::

            (q - 1)/(p x + q - 1) * p v/(q - 1) + p x/(p x + q - 1) * m

        A customer with ``x = 0`` gets the population mean (their ``m`` is ignored).
        Both equal the posterior mean ``p (v + x m) / (p x + q - 1)``, finite whenever
        ``p x + q - 1 > 0``: with ``q <= 1`` (infinite population mean) repeat buyers
        with ``p x > 1 - q`` still get a finite answer; the others raise a
        :class:`~custsuccess.errors.ValidationError` naming them.
        """
        p, q, v = self._values()
        x = positive_array(frequency, "frequency")
        m = positive_array(monetary_value, "monetary_value")
        x, m = np.broadcast_arrays(x, m)
        denominator = p * x + q - 1
        bad = np.atleast_1d(denominator <= 0)
        if bad.any():
            rows = np.flatnonzero(bad)[:3].tolist()
            raise ValidationError(
                f"expected spend is infinite where p*frequency + q - 1 <= 0 (q={q:.4g}, "
                f"p={p:.4g}): rows {rows}" + (
                    f" and {int(bad.sum()) - 3} more" if bad.sum() > 3 else ""
                ) + "; fit with q_greater_than_one=True for a finite population mean"
            )
        out: FloatArray = p * (v + x * m) / denominator
        return out

    def population_mean_spend(self) -> float:
        """Mean spend per purchase across customers, ``p v / (q - 1)`` (inf if q <= 1)."""
        p, q, v = self._values()
        return p * v / (q - 1) if q > 1 else float("inf")

    def customer_lifetime_value(
        self,
        transaction_model: TransactionModel,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any,
        *,
        months: int = 12,
        discount_rate: float = 0.01,
        period: str = "D",
    ) -> FloatArray:
        """Discounted value of each customer's next ``months`` months (lifetimes' method).

        ``sum_{k=1..months} E[purchases in month k | x, t_x, T] * E[spend | x, m] /
        (1 + discount_rate)^k``, where the monthly purchases are differences of the
        transaction model's conditional expectation at ``k * f`` and ``(k-1) * f`` time
        units, ``f = PERIODS_PER_MONTH[period]`` (the unit ``T`` is measured in).
        Never negative: rounding-level negative monthly increments are clipped at 0.
        """
        if not callable(getattr(transaction_model, "conditional_expected_purchases", None)):
            raise ValidationError(
                "transaction_model must be a fitted BetaGeoModel, ParetoNBDModel or another "
                f"model with conditional_expected_purchases, got {type(transaction_model).__name__}"
            )
        if isinstance(months, bool) or not isinstance(months, (int, np.integer)) or months < 0:
            raise ValidationError(f"months must be a whole number >= 0, got {months!r}")
        discount_rate = real_number(discount_rate, "discount_rate")
        if not discount_rate > -1:
            raise ValidationError(f"discount_rate must be > -1, got {discount_rate!r}")
        factor = PERIODS_PER_MONTH.get(period)
        if factor is None:
            raise ValidationError(
                f"period must be one of {sorted(PERIODS_PER_MONTH)}, got {period!r}"
            )
        spend = self.expected_average_spend(frequency, monetary_value)
        previous = np.zeros(1)
        total = np.zeros(np.shape(spend))
        for k in range(1, months + 1):  # months, not customers: a short loop
            current = transaction_model.conditional_expected_purchases(
                k * factor, frequency, recency, T
            )
            increment = np.maximum(current - previous, 0.0)
            total = total + spend * increment / (1 + discount_rate) ** k
            previous = current
        out: FloatArray = np.asarray(total, dtype=np.float64)
        return out


def _check_spend(frequency: Any, monetary_value: Any) -> tuple[FloatArray, FloatArray]:
    x = _as_1d(frequency, "frequency")
    m = _as_1d(monetary_value, "monetary_value")
    if x.size != m.size:
        raise ValidationError(
            f"frequency and monetary_value must have the same length, got {x.size} and {m.size}"
        )
    if x.size == 0:
        raise ValidationError("cannot fit a model on zero customers")
    cols = {"frequency": x, "monetary_value": m}
    checks = [
        (~(np.isfinite(x) & np.isfinite(m)), "must be finite"),
        (x != np.floor(x), "frequency must be a whole number"),
        (
            x <= 0,
            "frequency must be > 0 (fit the Gamma-Gamma model on repeat customers only)",
        ),
        (m <= 0, "monetary_value must be > 0"),
    ]
    for mask, message in checks:
        if mask.any():
            raise ValidationError(f"{message}: {_rows(mask, **cols)}")
    return x, m
