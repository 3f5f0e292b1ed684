"""The BG/BB model of discrete-time repeat transactions (Fader, Hardie & Shang 2010).

At each of ``n`` transaction opportunities (an annual donation drive, a monthly renewal
window, a weekly order slot) an alive customer transacts with probability
``p ~ Beta(alpha, beta)`` and, before the next, dies with probability
``theta ~ Beta(gamma, delta)``. Fitted on ``(x, t_x, n)``: transactions, the opportunity
of the last one, and the opportunities observed; ``weights`` count identical patterns
(the natural form of such data).

Likelihood (FHS 2010, eq. 5):

.. math::
    L = \\frac{B(\\alpha+x, \\beta+n-x)}{B(\\alpha,\\beta)}
        \\frac{B(\\gamma, \\delta+n)}{B(\\gamma,\\delta)}
      + \\sum_{i=0}^{n-t_x-1}\\frac{B(\\alpha+x, \\beta+t_x-x+i)}{B(\\alpha,\\beta)}
        \\frac{B(\\gamma+1, \\delta+t_x+i)}{B(\\gamma,\\delta)}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import betaln, gammaln

from custsuccess.clv.base import (
    Fitter,
    FloatArray,
    _as_1d,
    _rows,
    broadcast,
    compress,
    dot,
    initial_log_params,
    weights_array,
)
from custsuccess.errors import ValidationError

__all__ = ["BetaGeoBetaBinomModel"]


def check_bgbb(
    frequency: Any, recency: Any, n_periods: Any, *, fitting: bool = True
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Whole numbers with ``0 <= x <= t_x <= n``, ``t_x = 0`` when ``x = 0``, ``x > 0``
    when ``t_x > 0``."""
    x = _as_1d(frequency, "frequency")
    t_x = _as_1d(recency, "recency")
    n = _as_1d(n_periods, "n_periods")
    if fitting and not (x.size == t_x.size and n.size in (1, x.size)):
        raise ValidationError(
            f"frequency, recency and n_periods must have the same length, got "
            f"{x.size}, {t_x.size} and {n.size}"
        )
    if fitting and x.size == 0:
        raise ValidationError("cannot fit a model on zero customers")
    x, t_x, n = (np.ascontiguousarray(c) for c in broadcast(frequency=x, recency=t_x, n_periods=n))
    cols = {"frequency": x, "recency": t_x, "n_periods": n}
    whole = (x == np.floor(x)) & (t_x == np.floor(t_x)) & (n == np.floor(n))
    checks = [
        (~(np.isfinite(x) & np.isfinite(t_x) & np.isfinite(n)), "must be finite"),
        (~whole, "must be whole numbers"),
        (x < 0, "frequency must be >= 0"),
        (x > t_x, "frequency must be <= recency (one transaction per opportunity)"),
        (t_x > n, "recency must be <= n_periods"),
        ((x == 0) & (t_x != 0), "recency must be 0 when frequency is 0"),
    ]
    for mask, message in checks:
        if mask.any():
            raise ValidationError(f"{message}: {_rows(mask, **cols)}")
    return x, t_x, n


def _loglik(
    al: float, be: float, ga: float, de: float, x: FloatArray, t_x: FloatArray, n: FloatArray
) -> FloatArray:
    base = betaln(al, be) + betaln(ga, de)
    first = betaln(al + x, be + n - x) + betaln(ga, de + n)
    span = (n - t_x).astype(np.int64)  # number of terms of the sum: i = 0 .. n - t_x - 1
    width = int(span.max()) if span.size else 0
    if width > 0:
        i = np.arange(width, dtype=np.float64)[None, :]
        terms = betaln(al + x[:, None], be + t_x[:, None] - x[:, None] + i) + betaln(
            ga + 1, de + t_x[:, None] + i
        )
        terms = np.where(i < span[:, None], terms, -np.inf)
        top = np.max(terms, axis=1)
        safe_top = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):
            second = safe_top + np.log(np.exp(terms - safe_top[:, None]).sum(axis=1))
    else:
        second = np.full(x.shape, -np.inf)
    out: FloatArray = np.logaddexp(first, second) - base
    return out


class BetaGeoBetaBinomModel(Fitter):
    """BG/BB: "buy till you die" in discrete time (transaction opportunities).

    Examples
    --------
    The donation data of Fader, Hardie & Shang (2010): 11,104 donors, six annual drives
    (1996-2001), one row per (x, t_x) pattern with its number of donors:

    >>> x   = [0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 6]
    >>> t_x = [0, 1, 2, 3, 4, 5, 6, 2, 3, 4, 5, 6, 3, 4, 5, 6, 4, 5, 6, 5, 6, 6]
    >>> donors = [3464, 1091, 277, 129, 78, 119, 129, 613, 255, 155, 173, 234, 322, 181,
    ...           225, 357, 240, 284, 512, 335, 728, 1203]
    >>> m = BetaGeoBetaBinomModel().fit(x, t_x, 6, weights=donors)
    >>> {k: round(v, 3) for k, v in m.params_.items()}
    {'alpha': 1.204, 'beta': 0.75, 'gamma': 0.657, 'delta': 2.783}
    >>> round(m.log_likelihood_, 1)
    -33225.6
    """

    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma", "delta")

    def fit(
        self,
        frequency: Any,
        recency: Any,
        n_periods: Any,
        *,
        weights: Any = None,
        initial_params: Mapping[str, float] | None = None,
        maxiter: int | None = None,
        tol: float | None = None,
    ) -> BetaGeoBetaBinomModel:
        """Maximum-likelihood fit; ``weights`` counts the customers of each row."""
        x, t_x, n = check_bgbb(frequency, recency, n_periods)
        w = weights_array(weights, x.size)
        (x, t_x, n), w = compress(x, t_x, n, weights=w)
        total = float(w.sum())

        def mean_loglik(z: FloatArray) -> float:
            al, be, ga, de = np.exp(z)
            return float(dot(w, _loglik(al, be, ga, de, x, t_x, n)) / total)

        scales = (1.0, 1.0, 1.0, 1.0)
        z0 = initial_log_params(initial_params, self.param_names, (1.0, 1.0, 1.0, 1.0), scales)
        self._maximise(
            mean_loglik, None, z0, total_weight=total, scales=scales, maxiter=maxiter, tol=tol
        )
        return self

    def log_likelihood(self, frequency: Any, recency: Any, n_periods: Any) -> FloatArray:
        """Each customer's log-likelihood under the fitted parameters."""
        al, be, ga, de = self._values()
        x, t_x, n = check_bgbb(frequency, recency, n_periods, fitting=False)
        return _loglik(al, be, ga, de, x, t_x, n)

    def probability_alive(
        self, frequency: Any, recency: Any, n_periods: Any, m_periods: int = 1
    ) -> FloatArray:
        """P(alive at opportunity ``n + m_periods`` | x, t_x, n) (FHS 2010, eq. 11 for
        ``m = 1``)::

            B(alpha+x, beta+n-x)/B(alpha,beta) B(gamma, delta+n+m)/B(gamma,delta) / L
        """
        al, be, ga, de = self._values()
        x, t_x, n = check_bgbb(frequency, recency, n_periods, fitting=False)
        log_top = (
            betaln(al + x, be + n - x) - betaln(al, be)
            + betaln(ga, de + n + m_periods) - betaln(ga, de)
        )
        out: FloatArray = np.exp(log_top - _loglik(al, be, ga, de, x, t_x, n))
        return out

    def conditional_expected_purchases(
        self, m_periods: Any, frequency: Any, recency: Any, n_periods: Any
    ) -> FloatArray:
        """Expected transactions in the next ``m_periods`` opportunities (FHS 2010,
        eq. 13)::

            1/L B(alpha+x+1, beta+n-x)/B(alpha,beta) delta/(gamma-1)
              Gamma(gamma+delta)/Gamma(1+delta)
              [Gamma(1+delta+n)/Gamma(gamma+delta+n)
               - Gamma(1+delta+n+m)/Gamma(gamma+delta+n+m)]
        """
        al, be, ga, de = self._values()
        x, t_x, n = check_bgbb(frequency, recency, n_periods, fitting=False)
        m = _as_1d(m_periods, "m_periods")
        x, t_x, n, m = broadcast(frequency=x, recency=t_x, n_periods=n, m_periods=m)
        log_l = _loglik(al, be, ga, de, x, t_x, n)
        head = betaln(al + x + 1, be + n - x) - betaln(al, be) - log_l
        factor = de / (ga - 1) * np.exp(gammaln(ga + de) - gammaln(1 + de))
        bracket = np.exp(gammaln(1 + de + n) - gammaln(ga + de + n)) - np.exp(
            gammaln(1 + de + n + m) - gammaln(ga + de + n + m)
        )
        out: FloatArray = np.exp(head) * factor * bracket
        return out

    def expected_purchases(self, n_periods: Any) -> FloatArray:
        """Expected transactions of a new customer in the first ``n`` opportunities
        (FHS 2010, eq. 9)::

            alpha/(alpha+beta) delta/(gamma-1)
              [1 - Gamma(gamma+delta)/Gamma(1+delta) Gamma(1+delta+n)/Gamma(gamma+delta+n)]
        """
        al, be, ga, de = self._values()
        n = _as_1d(n_periods, "n_periods")
        ratio = np.exp(gammaln(ga + de) - gammaln(1 + de) + gammaln(1 + de + n)
                       - gammaln(ga + de + n))
        out: FloatArray = al / (al + be) * de / (ga - 1) * (1 - ratio)
        return out

    def probability_of_purchases(self, x: int, n_periods: int) -> float:
        """P(X(n) = x) for a new customer (FHS 2010, eq. 7)::

            C(n,x) B(alpha+x, beta+n-x)/B(alpha,beta) B(gamma, delta+n)/B(gamma,delta)
            + sum_{i=x}^{n-1} C(i,x) B(alpha+x, beta+i-x)/B(alpha,beta)
                                    B(gamma+1, delta+i)/B(gamma,delta)
        """
        al, be, ga, de = self._values()
        for name, v in (("x", x), ("n_periods", n_periods)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValidationError(f"{name} must be a whole number >= 0, got {v!r}")
        if x > n_periods:
            return 0.0

        def log_choose(a: Any, b: Any) -> Any:
            return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

        base = betaln(al, be) + betaln(ga, de)
        first = log_choose(n_periods, x) + betaln(al + x, be + n_periods - x) + betaln(
            ga, de + n_periods
        )
        i = np.arange(x, n_periods, dtype=np.float64)
        rest = log_choose(i, x) + betaln(al + x, be + i - x) + betaln(ga + 1, de + i)
        return float(np.exp(np.logaddexp.reduce(np.append(rest, first)) - base))

    predict = conditional_expected_purchases
