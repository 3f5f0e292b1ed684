"""The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

While alive a customer buys as a Poisson process with rate
:math:`\\lambda \\sim \\text{Gamma}(r, \\alpha)`; their lifetime is exponential with rate
:math:`\\mu \\sim \\text{Gamma}(s, \\beta)`, so they can drop out at any moment (not only
after a purchase, as in BG/NBD).

Log-likelihood (Fader & Hardie 2005, "A note on deriving the Pareto/NBD model", eq. 18),
computed in logs with ``logaddexp`` and ``expm1``:

.. math::
    L = \\frac{\\Gamma(r+x)\\alpha^r\\beta^s}{\\Gamma(r)}\\Big[
        \\frac{1}{(\\alpha+T)^{r+x}(\\beta+T)^s} + \\frac{s}{r+s+x} A_0\\Big]

with, for :math:`\\alpha \\ge \\beta` (eq. 19; for :math:`\\alpha < \\beta` swap the roles
and use :math:`r+x` for :math:`s+1`, eq. 20):

.. math::
    A_0 = \\frac{{}_2F_1(r+s+x, s+1; r+s+x+1; \\frac{\\alpha-\\beta}{\\alpha+t_x})}
               {(\\alpha+t_x)^{r+s+x}}
        - \\frac{{}_2F_1(r+s+x, s+1; r+s+x+1; \\frac{\\alpha-\\beta}{\\alpha+T})}
               {(\\alpha+T)^{r+s+x}}
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any, ClassVar

import numpy as np
from scipy.special import gammaln

from custsuccess.clv.base import (
    Fitter,
    FloatArray,
    broadcast,
    check_repeat_purchases,
    check_rfm,
    compress,
    dot,
    initial_log_params,
    positive_array,
    weights_array,
)
from custsuccess.clv.bgnbd import log_hyp2f1
from custsuccess.errors import ValidationError

__all__ = ["ParetoNBDModel"]


def _log_A0(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    x, t_x, age = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64), np.asarray(t_x, np.float64), np.asarray(age, np.float64)
    )
    rsx = r + s + x
    # scipy's 2F1 turns slow (up to a second per call) and then NaN once r + s + x reaches
    # a few hundred, where A0 is perfectly finite: there, integrate its definition
    direct = (rsx <= _HYP2F1_LIMIT) & (t_x < age)
    out = np.full(x.shape, -np.inf)  # A0 = 0 when t_x == T
    if direct.any():
        out[direct] = _log_A0_hyp2f1(r, alpha, s, beta, x[direct], t_x[direct], age[direct])
    rest = (t_x < age) & ~np.isfinite(out)
    if rest.any():
        out[rest] = np.log(rsx[rest]) + _log_integral(
            r + x[rest], alpha, s + 1.0, beta, t_x[rest], age[rest]
        )
    return out


#: above this r + s + x, A0 is integrated rather than taken from 2F1
_HYP2F1_LIMIT = 200.0


def _log_A0_hyp2f1(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    second: float | FloatArray
    if alpha >= beta:
        big, small, second = alpha, beta, s + 1.0
    else:
        big, small, second = beta, alpha, r + x
    rsx = r + s + x
    q1 = big + t_x
    q2 = big + age
    lp1 = log_hyp2f1(rsx, second, rsx + 1.0, (big - small) / q1) - rsx * np.log(q1)
    lp2 = log_hyp2f1(rsx, second, rsx + 1.0, (big - small) / q2) - rsx * np.log(q2)
    # log(exp(lp1) - exp(lp2)); lp1 > lp2 since t_x < T
    with np.errstate(all="ignore"):
        out: FloatArray = lp1 + np.log(-np.expm1(lp2 - lp1))
    return out


#: composite Gauss-Legendre: panels [lo + d_k (hi - lo), lo + d_(k+1) (hi - lo)] with
#: d = 0, 1e-12, 1e-11, ..., 0.1, 1 (the integrand is log-convex and decreasing, so it
#: changes fastest next to lo), 16 nodes each
_EDGES = np.concatenate([[0.0], np.logspace(-12, 0, 13)])
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_NODES = np.concatenate(
    [lo + (hi - lo) * (_GL_NODES + 1) / 2 for lo, hi in pairwise(_EDGES)]
)
_WEIGHTS = np.concatenate(
    [(hi - lo) / 2 * _GL_WEIGHTS for lo, hi in pairwise(_EDGES)]
)


def _log_integral(
    p: Any, alpha: float, q: float, beta: float, lo: FloatArray, hi: FloatArray
) -> FloatArray:
    """``ln of the integral over [lo, hi] of (alpha+u)^-p (beta+u)^-q du``, row by row.

    With ``p = r + x`` and ``q = s + 1`` it is ``A0 / (r + s + x)`` (the dropout-time
    integral behind eq. 18 of Fader & Hardie's note), evaluated in logs relative to the
    integrand's largest value (at ``lo``), so nothing overflows. The panels follow the
    integrand's decay from the width of the interval down to 1e-12 of it; smooth power
    and exponential shapes are integrated to about 1e-12 relative.
    """
    p = np.asarray(p, dtype=np.float64)[:, None]
    width = (hi - lo)[:, None] * _NODES[None, :]  # u - lo at every node
    log_f = -p * np.log1p(width / (alpha + lo)[:, None]) - q * np.log1p(
        width / (beta + lo)[:, None]
    )
    top = -p[:, 0] * np.log(alpha + lo) - q * np.log(beta + lo)
    inner = np.exp(log_f, out=log_f) @ _WEIGHTS
    out: FloatArray = top + np.log(inner * (hi - lo))
    return out


def _loglik(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    first = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    second = np.log(s) - np.log(r + s + x) + _log_A0(r, alpha, s, beta, x, t_x, age)
    out: FloatArray = head + np.logaddexp(first, second)
    return out


class ParetoNBDModel(Fitter):
    """Pareto/NBD: "buy till you die" with dropout in continuous time.

    Slower to fit than :class:`~custsuccess.clv.BetaGeoModel` (Gaussian hypergeometric
    functions, numerical gradients) but often a better fit to the zero class.

    Examples
    --------
    >>> x = [0, 1, 1, 2, 2, 3, 5, 8]
    >>> t_x = [0, 4, 25, 5, 30, 28, 32, 34]
    >>> T = [38, 38, 38, 38, 38, 38, 37, 36]
    >>> counts = [1400, 250, 200, 100, 120, 100, 60, 40]
    >>> m = ParetoNBDModel().fit(x, t_x, T, weights=counts)
    >>> {k: round(v, 3) for k, v in m.params_.items()}
    {'r': 1.03, 'alpha': 26.573, 's': 0.462, 'beta': 5.552}
    >>> m.probability_alive([2, 2], [30, 5], 38).round(3)
    array([0.891, 0.196])
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "s", "beta")
    shape_params: ClassVar[tuple[str, ...]] = ("r", "s")

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
    ) -> ParetoNBDModel:
        """Maximum-likelihood fit; returns ``self`` (arguments as
        :meth:`BetaGeoModel.fit <custsuccess.clv.BetaGeoModel.fit>`; default ``tol`` 1e-7)."""
        x, t_x, age = check_rfm(frequency, recency, T)
        w = weights_array(weights, x.size)
        check_repeat_purchases("ParetoNBDModel", x[w > 0])
        scale = float(age.max())
        if scale <= 0:
            raise ValidationError("T must be > 0 for at least one customer")
        offset = -float(dot(w, x)) * np.log(scale)
        (x, t_x, age), w = compress(x, t_x / scale, age / scale, weights=w)
        n = float(w.sum())

        def mean_loglik(z: FloatArray) -> float:
            r, alpha, s, beta = np.exp(z)
            return float(dot(w, _loglik(r, alpha, s, beta, x, t_x, age)) / n)

        scales = (1.0, scale, 1.0, scale)
        z0 = initial_log_params(initial_params, self.param_names, (1.0, 1.0, 1.0, 1.0), scales)
        self._maximise(
            mean_loglik,
            None,
            z0,
            total_weight=n,
            scales=scales,
            maxiter=maxiter,
            tol=1e-7 if tol is None else tol,
            loglik_offset=offset,
        )
        return self

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(alive | x, t_x, T) (note 009, eq. 37)::

        1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0)
        """
        r, alpha, s, beta = self._values()
        x, t_x, age = check_rfm(frequency, recency, T, fitting=False)
        log_ratio = (
            np.log(s)
            - np.log(r + s + x)
            + (r + x) * np.log(alpha + age)
            + s * np.log(beta + age)
            + _log_A0(r, alpha, s, beta, x, t_x, age)
        )
        with np.errstate(over="ignore"):
            out: FloatArray = 1.0 / (1.0 + np.exp(log_ratio))
        return out

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> FloatArray:
        """Expected repeat purchases in the next ``t`` given ``(x, t_x, T)`` (note 009,
        eq. 41)::

            Gamma(r+x) alpha^r beta^s / (Gamma(r) (alpha+T)^(r+x) (beta+T)^s L)
            * (r+x)(beta+T)/((alpha+T)(s-1)) * [1 - ((beta+T)/(beta+T+t))^(s-1)]
        """
        r, alpha, s, beta = self._values()
        x, t_x, age = check_rfm(frequency, recency, T, fitting=False)
        tt = positive_array(t, "t")
        x, t_x, age, tt = broadcast(frequency=x, recency=t_x, T=age, t=tt)
        log_l = _loglik(r, alpha, s, beta, x, t_x, age)
        first = (
            gammaln(r + x)
            - gammaln(r)
            + r * np.log(alpha)
            + s * np.log(beta)
            - (r + x) * np.log(alpha + age)
            - s * np.log(beta + age)
        )
        second = np.log(r + x) + np.log(beta + age) - np.log(alpha + age)
        third = _log_expm1_ratio(s - 1.0, np.log(beta + age) - np.log(beta + age + tt))
        out: FloatArray = np.exp(first + second + third - log_l)
        return out

    def expected_purchases(self, t: Any) -> FloatArray:
        """Expected repeat purchases of a new customer in ``(0, t]`` (note 009, eq. 27)::

        r beta / (alpha (s-1)) * [1 - (beta/(beta+t))^(s-1)]
        """
        r, alpha, s, beta = self._values()
        tt = positive_array(t, "t")
        log_u = np.log(beta) - np.log(beta + tt)
        out: FloatArray = r * beta / alpha * np.exp(_log_expm1_ratio(s - 1.0, log_u))
        return out

    predict = conditional_expected_purchases

    def probability_of_purchases(
        self, n: int, t: Any, frequency: Any = None, recency: Any = None, T: Any = None
    ) -> FloatArray:
        """P(n purchases in the next ``t``), for a new customer or given a history;
        see :func:`custsuccess.clv.purchases.probability_of_purchases`."""
        from custsuccess.clv.purchases import probability_of_purchases

        return probability_of_purchases(self, n, t, frequency, recency, T)


def _log_expm1_ratio(k: float, log_u: Any) -> FloatArray:
    """``ln[(1 - u^k)/k]`` for ``0 < u <= 1``, continuous at ``k = 0`` (where it is
    ``ln(-ln u)``)."""
    log_u = np.asarray(log_u, dtype=np.float64)
    with np.errstate(divide="ignore"):
        if abs(k) < 1e-12:
            out: FloatArray = np.log(-log_u)
        else:
            out = np.log(-np.expm1(k * log_u) / k)
    return out
