"""The MBG/NBD model (Batislam, Denizel & Filiztekin 2007): BG/NBD where a customer may
also drop out right after the first purchase, so zero-repeat customers can be dead.

Log-likelihood of one customer (the form of lifetimes' ``ModifiedBetaGeoFitter`` and
BTYDplus' ``mbgnbd.cbs.LL``):

.. math::
    \\ell = \\ln\\frac{\\Gamma(r+x)\\alpha^r}{\\Gamma(r)}
          + \\ln\\frac{B(a, b+x+1)}{B(a, b)} - (r+x)\\ln(\\alpha+T)
          + \\ln\\Big[1 + \\frac{a}{b+x}\\Big(\\frac{\\alpha+T}{\\alpha+t_x}\\Big)^{r+x}\\Big]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, gammaln

from custsuccess.clv.base import (
    Fitter,
    FloatArray,
    broadcast,
    check_rfm,
    compress,
    dot,
    initial_log_params,
    positive_array,
    weights_array,
)
from custsuccess.clv.bgnbd import log_hyp2f1
from custsuccess.errors import ValidationError

__all__ = ["ModifiedBetaGeoModel"]


def _loglik(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    head = (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        + gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
        - (r + x) * np.log(alpha + age)
    )
    log_div = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
    out: FloatArray = head + np.logaddexp(0.0, log_div)
    return out


class ModifiedBetaGeoModel(Fitter):
    """MBG/NBD: BG/NBD with a dropout chance at time 0 as well.

    Examples
    --------
    >>> x = [0, 1, 1, 2, 2, 3, 5, 8]
    >>> t_x = [0, 4, 25, 5, 30, 28, 32, 34]
    >>> T = [38, 38, 38, 38, 38, 38, 37, 36]
    >>> counts = [1400, 250, 200, 100, 120, 100, 60, 40]
    >>> m = ModifiedBetaGeoModel().fit(x, t_x, T, weights=counts)
    >>> m.probability_alive([0, 2], [0, 30], 38).round(3)
    array([0.15 , 0.642])
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")

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
    ) -> ModifiedBetaGeoModel:
        """Maximum-likelihood fit on (frequency, recency, T); returns ``self``."""
        x, t_x, age = check_rfm(frequency, recency, T)
        w = weights_array(weights, x.size)
        scale = float(age.max())
        if scale <= 0:
            raise ValidationError("T must be > 0 for at least one customer")
        offset = -float(dot(w, x)) * np.log(scale)
        (x, t_x, age), w = compress(x, t_x / scale, age / scale, weights=w)
        n = float(w.sum())

        def mean_loglik(z: FloatArray) -> float:
            r, alpha, a, b = np.exp(z)
            return float(dot(w, _loglik(r, alpha, a, b, x, t_x, age)) / n)

        scales = (1.0, scale, 1.0, 1.0)
        z0 = initial_log_params(initial_params, self.param_names, (1.0, 1.0, 1.0, 1.0), scales)
        self._maximise(
            mean_loglik, None, z0, total_weight=n, scales=scales, maxiter=maxiter, tol=tol,
            loglik_offset=offset,
        )
        return self

    def _log_div(self, x: FloatArray, t_x: FloatArray, age: FloatArray) -> FloatArray:
        r, alpha, a, b = self._values()
        out: FloatArray = np.log(a / (b + x)) + (r + x) * (
            np.log(alpha + age) - np.log(alpha + t_x)
        )
        return out

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(alive | x, t_x, T) = ``1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))``
        (for every x, zero-repeat customers included)."""
        self._fitted()
        x, t_x, age = check_rfm(frequency, recency, T, fitting=False)
        out: FloatArray = expit(-self._log_div(x, t_x, age))
        return out

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> FloatArray:
        """Expected purchases in the next ``t`` (Batislam et al. 2007, eq. 13)::

            (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x)
                           2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))] * P(alive)
        """
        r, alpha, a, b = self._values()
        x, t_x, age = check_rfm(frequency, recency, T, fitting=False)
        tt = positive_array(t, "t")
        x, t_x, age, tt = broadcast(frequency=x, recency=t_x, T=age, t=tt)
        log_term = log_hyp2f1(r + x, b + x + 1, a + b + x, tt / (alpha + age + tt)) + (r + x) * (
            np.log(alpha + age) - np.log(alpha + age + tt)
        )
        alive = expit(-self._log_div(x, t_x, age))
        out: FloatArray = np.maximum((a + b + x) / (a - 1) * -np.expm1(log_term) * alive, 0.0)
        return out

    def expected_purchases(self, t: Any) -> FloatArray:
        """Expected purchases of a new customer in ``(0, t]`` (Batislam et al. 2007)::

            b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))]
        """
        r, alpha, a, b = self._values()
        tt = positive_array(t, "t")
        log_term = log_hyp2f1(r, b + 1, a + b, tt / (alpha + tt)) + r * (
            np.log(alpha) - np.log(alpha + tt)
        )
        out: FloatArray = np.maximum(b / (a - 1) * -np.expm1(log_term), 0.0)
        return out

    predict = conditional_expected_purchases
