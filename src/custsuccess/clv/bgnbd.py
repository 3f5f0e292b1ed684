"""The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

While alive, a customer buys as a Poisson process with rate
:math:`\\lambda \\sim \\text{Gamma}(r, \\alpha)`; after each purchase they drop out with
probability :math:`p \\sim \\text{Beta}(a, b)`. Fitted on each customer's frequency
:math:`x` (repeat purchases), recency :math:`t_x` and age :math:`T`.

Log-likelihood of one customer (FHL 2005, eq. 6, computed in logs):

.. math::
    \\ell = \\ln\\frac{\\Gamma(r+x)\\alpha^r}{\\Gamma(r)}
          + \\ln\\frac{B(a, b+x)}{B(a, b)}
          + \\ln\\Big[(\\alpha+T)^{-(r+x)}
          + \\delta_{x>0}\\frac{a}{b+x-1}(\\alpha+t_x)^{-(r+x)}\\Big]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import digamma, expit, gammaln, hyp2f1

from custsuccess.clv.base import (
    Fitter,
    FloatArray,
    broadcast,
    check_repeat_purchases,
    check_rfm,
    compress,
    dot,
    initial_log_params,
    nonnegative,
    positive_array,
    unique_inverse,
    weights_array,
)
from custsuccess.errors import ValidationError

__all__ = ["BetaGeoModel"]


def signed_log_hyp2f1(a: Any, b: Any, c: Any, z: Any) -> tuple[FloatArray, FloatArray]:
    """``(ln|2F1(a, b; c; z)|, sign 2F1)`` for ``0 <= z < 1``.

    The function is negative for some legitimate parameters (BG/NBD with
    ``a + b + x - 1 < 0``), so its sign is carried next to the log of its size. Where the
    direct value overflows, Euler's transformation
    ``2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z)`` is used instead.
    """
    with np.errstate(all="ignore"):
        direct = np.asarray(hyp2f1(a, b, c, z), dtype=np.float64)
        euler = np.asarray(hyp2f1(c - a, c - b, c, z), dtype=np.float64)
        use_direct = np.isfinite(direct) & (direct != 0)
        log_abs = np.where(
            use_direct,
            np.log(np.abs(direct)),
            np.log(np.abs(euler)) + (c - a - b) * np.log1p(-z),
        )
        sign = np.where(use_direct, np.sign(direct), np.sign(euler))
    return np.asarray(log_abs, dtype=np.float64), np.asarray(sign, dtype=np.float64)


def log_hyp2f1(a: Any, b: Any, c: Any, z: Any) -> FloatArray:
    """``ln 2F1(a, b; c; z)`` where the function is known to be positive (NaN elsewhere)."""
    log_abs, sign = signed_log_hyp2f1(a, b, c, z)
    out: FloatArray = np.where(sign > 0, log_abs, np.nan)
    return out


def _one_minus(log_abs: FloatArray, sign: FloatArray) -> FloatArray:
    """``1 - sign * exp(log_abs)`` without cancellation where the term is near 1."""
    with np.errstate(over="ignore"):
        out: FloatArray = np.where(sign > 0, -np.expm1(log_abs), 1.0 + np.exp(log_abs))
    return out


#: within this distance of a = 1 the (a+b+x-1)/(a-1) [1 - ...] form is 0/0; the value is
#: interpolated between a = 1 -/+ this (the function is smooth in a: error ~1e-10)
_NEAR_ONE = 1e-5


def _purchases_while_alive(
    r: float, alpha: float, a: float, b: float, x: FloatArray, age: FloatArray, t: FloatArray
) -> FloatArray:
    """FHL 2005 eq. 10 without the P(alive) factor::

    (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
    """

    def at(a_: float) -> FloatArray:
        z = t / (alpha + age + t)
        log_abs, sign = signed_log_hyp2f1(r + x, b + x, a_ + b + x - 1, z)
        log_term = log_abs + (r + x) * (np.log(alpha + age) - np.log(alpha + age + t))
        with np.errstate(all="ignore"):
            out: FloatArray = (a_ + b + x - 1) / (a_ - 1) * _one_minus(log_term, sign)
        return out

    if abs(a - 1.0) >= _NEAR_ONE:
        return at(a)
    low, high = at(1.0 - _NEAR_ONE), at(1.0 + _NEAR_ONE)
    weight = (a - (1.0 - _NEAR_ONE)) / (2 * _NEAR_ONE)
    out: FloatArray = low + weight * (high - low)
    return out


class BetaGeoModel(Fitter):
    """BG/NBD: "buy till you die" for non-contractual customers, in discrete dropout.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the parameters (time-scale ``alpha`` measured in units of the
        largest ``T``), as lifetimes' ``penalizer_coef``.

    Examples
    --------
    A cohort summarised as (frequency, recency, T) patterns with a count of customers
    each (weeks):

    >>> x = [0, 1, 1, 2, 2, 3, 5, 8]
    >>> t_x = [0, 4, 25, 5, 30, 28, 32, 34]
    >>> T = [38, 38, 38, 38, 38, 38, 37, 36]
    >>> counts = [1400, 250, 200, 100, 120, 100, 60, 40]
    >>> m = BetaGeoModel().fit(x, t_x, T, weights=counts)
    >>> m
    <BetaGeoModel: r=0.2766, alpha=7.736, a=0.5839, b=1.253, fitted on 2270 observations>
    >>> m.probability_alive([0, 2, 2], [0, 30, 5], 38).round(3)
    array([1.   , 0.713, 0.174])
    >>> m.conditional_expected_purchases(39, [0, 2, 2], [0, 30, 5], 38).round(3)
    array([0.205, 1.17 , 0.285])
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    shape_params: ClassVar[tuple[str, ...]] = ("r", "a", "b")

    def fit(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        *,
        weights: Any = None,
        initial_params: Mapping[str, float] | None = None,
        maxiter: int | None = None,
        tol: float | None = None,
    ) -> BetaGeoModel:
        """Maximum-likelihood fit; returns ``self``.

        ``frequency`` (repeat purchases), ``recency`` (time of the last purchase since
        the first) and ``T`` (age) are aligned arrays in one time unit; ``weights``
        counts identical customers. Identical rows are merged before fitting.
        ``maxiter``/``tol`` go to BFGS (``gtol``, default 1e-8). Raises
        :class:`~custsuccess.errors.ValidationError` on impossible rows and
        :class:`~custsuccess.errors.ConvergenceError` when BFGS fails.
        """
        x, t_x, age = check_rfm(frequency, recency, T)
        w = weights_array(weights, x.size)
        check_repeat_purchases("BetaGeoModel", x[w > 0])
        scale = float(age.max())
        if scale <= 0:
            raise ValidationError("T must be > 0 for at least one customer")
        # each of the x purchase times is a density in time: rescaling time by `scale`
        # shifts the log-likelihood by -x ln(scale)
        offset = -float(dot(w, x)) * np.log(scale)
        (x, t_x, age), w = compress(x, t_x / scale, age / scale, weights=w)
        scales = (1.0, scale, 1.0, 1.0)
        z0 = initial_log_params(initial_params, self.param_names, (1.0, 1.0, 1.0, 1.0), scales)
        self._fit_scaled(x, t_x, age, w, z0, scales, tol, maxiter=maxiter, offset=offset)
        return self

    def _fit_scaled(
        self,
        x: FloatArray,
        t_x: FloatArray,
        age: FloatArray,
        w: FloatArray,
        z0: FloatArray,
        scales: tuple[float, ...],
        tol: float | None,
        *,
        maxiter: int | None = None,
        offset: float = 0.0,
    ) -> None:
        """Maximise the likelihood of compressed rows in the internal time unit."""
        n = float(w.sum())
        ux, ix = unique_inverse(x)
        uT, iT = unique_inverse(age)
        ut, it = unique_inverse(t_x)
        wx = np.bincount(ix, weights=w, minlength=ux.size)
        pos = x > 0
        cache: dict[str, Any] = {}

        def parts(z: FloatArray) -> dict[str, Any]:
            if cache.get("z") is not None and np.array_equal(cache["z"], z):
                return cache
            r, alpha, a, b = np.exp(z)
            lT = np.log(alpha + uT)[iT]
            lt = np.log(alpha + ut)[it]
            ux_pos = ux > 0
            lbx = np.log(np.where(ux_pos, b + ux - 1, 1.0))[ix]
            rx = r + x
            A3 = -rx * lT
            # L = logaddexp(A3, A4) = A3 + softplus(A4 - A3), by hand: numpy's logaddexp
            # is several times slower. |d| is capped at 60 (e^-60 is below double
            # precision next to 1), which also keeps subnormal numbers out.
            d = np.where(pos, np.log(a) - lbx - rx * lt - A3, -np.inf)
            e = np.exp(-np.minimum(np.abs(d), 60.0))
            L = A3 + np.maximum(d, 0.0) + np.log1p(e)
            # share of the "dropped out after the last purchase" term (0 when x = 0)
            share = np.where(pos, np.where(d >= 0, 1.0, e) / (1.0 + e), 0.0)
            cache.clear()
            cache.update(
                z=z.copy(),
                r=r,
                alpha=alpha,
                a=a,
                b=b,
                lT=lT,
                lt=lt,
                rx=rx,
                L=L,
                share=share,
                lbx=lbx,
            )
            return cache

        def mean_loglik(z: FloatArray) -> float:
            c = parts(z)
            r, alpha, a, b = c["r"], c["alpha"], c["a"], c["b"]
            per_x = (
                gammaln(r + ux)
                - gammaln(r)
                + r * np.log(alpha)
                + gammaln(a + b)
                + gammaln(b + ux)
                - gammaln(b)
                - gammaln(a + b + ux)
            )
            return float((dot(wx, per_x) + dot(w, c["L"])) / n)

        def mean_grad(z: FloatArray) -> FloatArray:
            c = parts(z)
            r, alpha, a, b = c["r"], c["alpha"], c["a"], c["b"]
            w4 = c["share"]
            w3 = 1.0 - w4
            rx = c["rx"]
            ww3 = w * w3
            ww4 = w * w4
            d_r = (
                dot(wx, (digamma(r + ux) - digamma(r) + np.log(alpha)))
                - dot(ww3, c["lT"])
                - dot(ww4, c["lt"])
            )
            d_alpha = (
                n * r / alpha - dot(ww3, (rx / (alpha + age))) - dot(ww4, (rx / (alpha + t_x)))
            )
            d_a = dot(wx, (digamma(a + b) - digamma(a + b + ux))) + ww4.sum() / a
            d_b = dot(
                wx, (digamma(a + b) + digamma(b + ux) - digamma(b) - digamma(a + b + ux))
            ) - dot(ww4, (1.0 / np.where(pos, b + x - 1, 1.0)))
            return np.array([d_r, d_alpha, d_a, d_b]) * np.exp(z) / n

        self._maximise(
            mean_loglik,
            mean_grad,
            z0,
            total_weight=n,
            scales=scales,
            maxiter=maxiter,
            tol=tol,
            loglik_offset=offset,
        )

    # ------------------------------------------------------------------ predictions

    def _log_div(self, x: FloatArray, t_x: FloatArray, age: FloatArray) -> FloatArray:
        """``ln[a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)]`` (only meaningful for x > 0)."""
        r, alpha, a, b = self._values()
        with np.errstate(all="ignore"):
            out: FloatArray = np.log(a / np.where(x > 0, b + x - 1, 1.0)) + (r + x) * (
                np.log(alpha + age) - np.log(alpha + t_x)
            )
        return out

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(alive | x, t_x, T) (Fader, Hardie & Lee 2008, note 021):
        ``1 / (1 + delta(x>0) a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``."""
        self._fitted()
        x, t_x, age = check_rfm(frequency, recency, T, fitting=False)
        out: FloatArray = np.where(x > 0, expit(-self._log_div(x, t_x, age)), 1.0)
        return out

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> FloatArray:
        """Expected repeat purchases in the next ``t`` for a customer with history
        ``(x, t_x, T)`` (FHL 2005, eq. 10)::

            (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
                                   * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
            / (1 + delta(x>0) a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
        """
        r, alpha, a, b = self._values()
        x, t_x, age = check_rfm(frequency, recency, T, fitting=False)
        tt = positive_array(t, "t")
        x, t_x, age, tt = broadcast(frequency=x, recency=t_x, T=age, t=tt)
        numerator = _purchases_while_alive(r, alpha, a, b, x, age, tt)
        alive = np.where(x > 0, expit(-self._log_div(x, t_x, age)), 1.0)
        return nonnegative(numerator * alive, "conditional_expected_purchases", self)

    def expected_purchases(self, t: Any) -> FloatArray:
        """Expected repeat purchases of a new customer in ``(0, t]`` (FHL 2005, eq. 9)::

        (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]
        """
        r, alpha, a, b = self._values()
        tt = positive_array(t, "t")
        purchases = _purchases_while_alive(r, alpha, a, b, np.zeros_like(tt), np.zeros_like(tt), tt)
        return nonnegative(purchases, "expected_purchases", self)

    predict = conditional_expected_purchases

    def probability_of_purchases(
        self, n: int, t: Any, frequency: Any = None, recency: Any = None, T: Any = None
    ) -> FloatArray:
        """P(n purchases in the next ``t``), for a new customer or given a history;
        see :func:`custsuccess.clv.purchases.probability_of_purchases`."""
        from custsuccess.clv.purchases import probability_of_purchases

        return probability_of_purchases(self, n, t, frequency, recency, T)
