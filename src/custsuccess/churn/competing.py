"""Churn reasons as competing risks: cumulative incidence per reason, cause-specific
hazards, and Gray's test.

A customer leaves for one reason (the churn-reason plugins name it); leaving for one
reason removes them from the risk of every other. The probability of having churned for
reason ``k`` by tenure ``t`` is the cumulative incidence (Aalen-Johansen, Kalbfleisch &
Prentice 1980):

.. math::
    F_k(t) = \\sum_{t_j \\le t} S(t_{j-1}) \\frac{d_{kj}}{n_j}

with ``S`` the Kaplan-Meier curve of churn for any reason, so
``sum_k F_k(t) = 1 - S(t)`` exactly. Its variance is the delta-method (Greenwood-type)
estimate of Collett (2015, section 12.2) and SAS ``PROC LIFETEST``, and the band uses the
log(-log) transform, as lifelines' ``AalenJohansenFitter``. The cause-specific cumulative
hazard is ``sum d_kj / n_j`` (the Nelson-Aalen estimate treating other reasons as
censoring). Gray's (1988) test compares one reason's cumulative incidence between groups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.churn.hazard import (
    alpha_value,
    durations_array,
    group_codes,
    observed_array,
    z_value,
)
from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from custsuccess.churn.records import ChurnRecords
    from custsuccess.churn.survival import Lifetimes

__all__ = [
    "CompetingRisks",
    "CumulativeIncidence",
    "GrayTestResult",
    "competing_risks_from",
    "cumulative_incidence",
    "gray_test",
]

F64 = npt.NDArray[np.float64]


def _causes(observed: npt.NDArray[np.bool_], cause: Any) -> tuple[list[Any], npt.NDArray[np.intp]]:
    """Cause labels of the observed subjects (sorted) and a code per subject (-1 censored)."""
    labels = np.asarray(cause, dtype=object)
    if labels.shape != observed.shape:
        raise ValidationError(
            f"cause must have shape {observed.shape} like the durations, got {labels.shape}"
        )
    codes = np.full(len(labels), -1, dtype=np.intp)
    if not observed.any():
        return [], codes
    seen = labels[observed]
    rows = np.flatnonzero(observed).tolist()
    missing = [i for i, v in zip(rows, seen.tolist(), strict=True) if v is None]
    if missing:
        raise ValidationError(f"cause[{missing[0]}] is None for an observed churn: name its reason")
    keys, inner = group_codes(seen.astype(str), len(seen), "cause")
    codes[observed] = inner
    return keys, codes


@attrs.frozen(slots=True, eq=False)
class CumulativeIncidence:
    """Cumulative incidence of each cause (columns of ``incidence``, in ``causes`` order).

    ``timeline``, ``at_risk``; ``events`` (times x causes); ``survival`` the Kaplan-Meier
    curve of leaving for any cause; ``incidence`` F_k(t); ``variance``; ``lower`` /
    ``upper`` the ``1 - alpha`` band; ``cause_specific_hazard`` the cumulative
    cause-specific hazards.
    """

    timeline: F64
    at_risk: F64
    events: F64
    causes: tuple[str, ...]
    survival: F64
    incidence: F64
    variance: F64
    lower: F64
    upper: F64
    cause_specific_hazard: F64
    alpha: float

    def _column(self, cause: str) -> int:
        if cause not in self.causes:
            raise ValidationError(f"cause must be one of {list(self.causes)}, got {cause!r}")
        return self.causes.index(cause)

    def _step(self, curve: F64, times: Any) -> F64:
        t = np.asarray(times, dtype=np.float64)
        if np.isnan(t).any():
            raise ValidationError("times must not contain NaN")
        pos = np.searchsorted(self.timeline, t, side="right") - 1
        out = np.where(pos >= 0, curve[np.maximum(pos, 0)], 0.0)
        return np.asarray(out, dtype=np.float64)

    def incidence_at(self, times: Any, cause: str) -> F64:
        """F_k(t) of ``cause`` at each of ``times``."""
        return self._step(self.incidence[:, self._column(cause)], times)

    def band_at(self, times: Any, cause: str) -> tuple[F64, F64]:
        """The band ``(lower, upper)`` of ``cause`` at each of ``times``."""
        k = self._column(cause)
        return self._step(self.lower[:, k], times), self._step(self.upper[:, k], times)

    def cause_specific_hazard_at(self, times: Any, cause: str) -> F64:
        """The cumulative cause-specific hazard of ``cause`` at each of ``times``."""
        return self._step(self.cause_specific_hazard[:, self._column(cause)], times)

    def plot(self, **kwargs: Any) -> Figure:
        """The incidence curves stacked by cause (needs matplotlib); see
        :func:`custsuccess.plot.cumulative_incidence`."""
        from custsuccess.plot import cumulative_incidence as draw

        return draw(self, **kwargs)

    def __repr__(self) -> str:
        last = ", ".join(
            f"{c}={float(self.incidence[-1, k]):.3g}" for k, c in enumerate(self.causes)
        )
        return f"<CumulativeIncidence {len(self.causes)} causes at the end: {last}>"


def cumulative_incidence(
    durations: Any, observed: Any, cause: Any, *, alpha: float = 0.05
) -> CumulativeIncidence:
    """Aalen-Johansen cumulative incidence of every cause, with delta-method bands.

    ``observed``: True where the subject left (for the reason in ``cause``); ``cause``: a
    label per subject (ignored where not observed). Variance at ``t`` (Collett 2015,
    eq. 12.4; SAS LIFETEST):
    ``sum_j (F(t) - F(t_j))^2 d_j / (n_j (n_j - d_j))
    + sum_j S(t_{j-1})^2 d_kj (n_j - d_kj) / n_j^3
    - 2 sum_j (F(t) - F(t_j)) S(t_{j-1}) d_kj / n_j^2``;
    band ``F^exp(±z se / (F ln F))``.

    >>> ci = cumulative_incidence([1, 2, 3, 4, 5], [1, 1, 0, 1, 1],
    ...                           ["price", "support", None, "price", "support"])
    >>> ci.causes, ci.incidence_at([5], "price").tolist(), ci.incidence_at([5], "support").tolist()
    (('price', 'support'), [0.5], [0.5])
    """
    alpha = alpha_value(alpha)
    d = durations_array(durations, "durations")
    obs = observed_array(observed, len(d), "observed")
    keys, codes = _causes(obs, cause)
    k = max(len(keys), 1)
    timeline, inverse = np.unique(np.concatenate([[0.0], d]), return_inverse=True)
    inverse = inverse.reshape(-1)[1:]
    t_n = len(timeline)
    removed = np.bincount(inverse, minlength=t_n).astype(np.float64)
    at_risk = len(d) - np.concatenate([[0.0], np.cumsum(removed)[:-1]])
    events = np.zeros((t_n, k))
    if keys:
        cell = inverse[obs] * k + codes[obs]
        events = np.bincount(cell, minlength=t_n * k).reshape(t_n, k).astype(np.float64)
    d_all = events.sum(axis=1)
    safe_n = np.where(at_risk > 0, at_risk, 1.0)
    survival = np.cumprod(1.0 - d_all / safe_n)
    lag_s = np.concatenate([[1.0], survival[:-1]])
    incidence = np.cumsum(lag_s[:, None] * events / safe_n[:, None], axis=0)
    hazard = np.cumsum(events / safe_n[:, None], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(at_risk > d_all, d_all / (safe_n * (safe_n - d_all)), 0.0)
    b = lag_s[:, None] ** 2 * events * (safe_n[:, None] - events) / safe_n[:, None] ** 3
    c = lag_s[:, None] * events / safe_n[:, None] ** 2
    # (F(t) - F_j)^2 a_j summed: F^2 sum a - 2 F sum a F_j + sum a F_j^2, all cumulative
    sa = np.cumsum(a)[:, None]
    saf = np.cumsum(a[:, None] * incidence, axis=0)
    saff = np.cumsum(a[:, None] * incidence**2, axis=0)
    sc = np.cumsum(c, axis=0)
    scf = np.cumsum(c * incidence, axis=0)
    f = incidence
    variance = f**2 * sa - 2 * f * saf + saff + np.cumsum(b, axis=0) - 2 * (f * sc - scf)
    variance = np.maximum(variance, 0.0)
    z = z_value(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_f = np.log(f)
        se = np.sqrt(variance) / (f * np.abs(log_f))
        upper = np.exp(-np.exp(np.log(-log_f) - z * se))
        lower = np.exp(-np.exp(np.log(-log_f) + z * se))
    lower = np.where(np.isfinite(lower), lower, 0.0)
    upper = np.where(np.isfinite(upper), upper, np.where(f >= 1, 1.0, 0.0))
    if not keys:
        events = events[:, :0]
        incidence, variance, lower, upper, hazard = (
            arr[:, :0] for arr in (incidence, variance, lower, upper, hazard)
        )
    return CumulativeIncidence(
        timeline.astype(np.float64), at_risk, events, tuple(str(k_) for k_ in keys),
        survival, incidence, variance, lower, upper, hazard, alpha,
    )


# --------------------------------------------------------------------------- Gray's test


@attrs.frozen(slots=True)
class GrayTestResult:
    """Gray's test that ``cause`` has the same cumulative incidence in every group:
    ``statistic`` chi-square with ``degrees_of_freedom`` (groups - 1), ``p_value``, and
    the ``scores`` of the first groups with their ``covariance``."""

    cause: str
    statistic: float
    p_value: float
    degrees_of_freedom: int
    groups: tuple[Any, ...]
    scores: F64
    covariance: F64


def _gray_stratum(
    d: F64, code: npt.NDArray[np.intp], target: int, group: npt.NDArray[np.intp],
    ng: int, rho: float,
) -> tuple[F64, F64]:
    """Scores (first ng - 1 groups) and their covariance within one stratum.

    Gray (1988), eq. 2.3 (scores) and the variance of section 3, on whole arrays over the
    distinct times: per group ``k`` at time ``t`` with ``Y_k`` at risk, ``S_k(t-)``
    (Kaplan-Meier, any cause) and ``F_k(t-)`` (incidence of the cause):
    ``R_k = Y_k (1 - F_k(t-)) / S_k(t-)``, pooled incidence increments ``d1 / sum_k
    Y_k / S_k(t-)``, and scores ``sum_t (1 - F(t-))^rho (d1_k - d1 R_k / sum R)``.
    """
    times, inverse = np.unique(d, return_inverse=True)
    inverse = inverse.reshape(-1)
    t_n = len(times)
    cell = inverse * ng + group
    removed = np.bincount(cell, minlength=t_n * ng).reshape(t_n, ng).astype(np.float64)
    is1 = code == target
    is2 = (code >= 0) & ~is1
    d1 = np.bincount(cell[is1], minlength=t_n * ng).reshape(t_n, ng).astype(np.float64)
    d2 = np.bincount(cell[is2], minlength=t_n * ng).reshape(t_n, ng).astype(np.float64)
    cum = np.cumsum(removed, axis=0)
    rs = cum[-1] - np.vstack([np.zeros((1, ng)), cum[:-1]])  # at risk at t, per group
    alive = rs > 0
    safe_rs = np.where(alive, rs, 1.0)
    td = d1 + d2
    step = np.where(alive, (safe_rs - td) / safe_rs, 1.0)
    skm = np.cumprod(step, axis=0)
    skmm = np.vstack([np.ones((1, ng)), skm[:-1]])
    f1 = np.cumsum(np.where(alive, skmm * d1 / safe_rs, 0.0), axis=0)
    f1m = np.vstack([np.zeros((1, ng)), f1[:-1]])
    nd1 = d1.sum(axis=1)
    nd2 = d2.sum(axis=1)
    hr = np.where(alive, rs / skmm, 0.0)  # Y_k / S_k(t-)
    tr = hr.sum(axis=1)
    tq = np.where(alive, rs * (1 - f1m) / skmm, 0.0).sum(axis=1)
    active = (nd1 + nd2) > 0
    safe_tr = np.where(tr > 0, tr, 1.0)
    f = np.cumsum(np.where(active, nd1 / safe_tr, 0.0))
    fm = np.concatenate([[0.0], f[:-1]])
    fb = (1 - fm) ** rho
    # scores
    safe_tq = np.where(tq > 0, tq, 1.0)
    score_terms = np.where(
        alive & active[:, None],
        fb[:, None] * (d1 - nd1[:, None] * rs * (1 - f1m) / (skmm * safe_tq[:, None])),
        0.0,
    )
    scores = score_terms.sum(axis=0)[: ng - 1]
    # a(i, j): fb * h_i (delta_ij - h_j / tr), zero where a group is empty
    share = hr / safe_tr[:, None]
    a = fb[:, None, None] * (
        np.einsum("ti,ij->tij", hr, np.eye(ng)) - hr[:, :, None] * share[:, None, :]
    )
    a = np.where(active[:, None, None], a, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c_step = np.where(fm < 1, nd1 / (safe_tr * (1 - fm)), 0.0)
    c = np.cumsum(a * c_step[:, None, None], axis=0)
    # cause-of-interest part
    skm_pos = skm > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t4 = np.where(skm_pos, 1 - (1 - f[:, None]) / np.where(skm_pos, skm, 1.0), 1.0)
        t5 = np.where(
            nd1[:, None] > 1, 1 - (nd1[:, None] - 1) / (tr[:, None] * skmm - 1), 1.0
        )
        t3 = np.where(
            alive & (nd1[:, None] > 0),
            t5 * skmm * nd1[:, None] / (safe_tr[:, None] * safe_rs),
            0.0,
        )
    t3 = np.nan_to_num(t3)
    # rows i < ng - 1 of a and c, column k: (a_ik - t4_k c_ik)
    a_head, c_head = a[:, : ng - 1, :], c[:, : ng - 1, :]
    t1 = a_head - t4[:, None, :] * c_head
    v = np.einsum("tik,tjk,tk->ij", t1, t1, t3)
    v3 = (t4**2 * t3).sum(axis=0)
    v2 = np.einsum("tik,tk->ik", t1, t4 * t3)
    # other-cause part
    with np.errstate(divide="ignore", invalid="ignore"):
        t4b = np.where(skm_pos & (d2 > 0), (1 - f[:, None]) / np.where(skm_pos, skm, 1.0), 0.0)
        t5b = np.where(d2 > 1, 1 - (d2 - 1) / np.where(rs > 1, rs - 1, 1.0), 1.0)
        t3b = np.where(skm_pos & (d2 > 0), t5b * skmm**2 * d2 / safe_rs**2, 0.0)
    t1b = t4b[:, None, :] * c_head
    v += np.einsum("tik,tjk,tk->ij", t1b, t1b, t3b)
    v3 += (t4b**2 * t3b).sum(axis=0)
    v2 -= np.einsum("tik,tk->ik", t1b, t4b * t3b)
    # the terms carried by the final C matrix
    c_end = c[-1, : ng - 1, :]
    v += np.einsum("ik,jk,k->ij", c_end, c_end, v3) + c_end @ v2.T + v2 @ c_end.T
    return scores, v


def gray_test(
    durations: Any,
    observed: Any,
    cause: Any,
    groups: Any,
    *,
    cause_of_interest: str,
    rho: float = 0.0,
    strata: Any = None,
) -> GrayTestResult:
    """Gray's (1988) k-sample test of equal cumulative incidence of ``cause_of_interest``
    (other causes compete; weights ``(1 - F(t-))^rho``; strata sum their scores and
    variances): the statistic ``s' V^-1 s`` is chi-square with groups - 1 df. This is the
    test of R's ``cmprsk::cuminc``.
    """
    from custsuccess.churn.logrank import chi2_survival

    d = durations_array(durations, "durations")
    obs = observed_array(observed, len(d), "observed")
    keys, codes = _causes(obs, cause)
    if cause_of_interest not in keys:
        raise ValidationError(
            f"cause_of_interest must be one of the observed causes {keys}, "
            f"got {cause_of_interest!r}"
        )
    target = keys.index(cause_of_interest)
    labels, group = group_codes(groups, len(d))
    ng = len(labels)
    if ng < 2:
        raise ValidationError(f"groups must hold at least two distinct labels, got {labels!r}")
    if strata is None:
        strata_codes = np.zeros(len(d), dtype=np.intp)
    else:
        _, strata_codes = group_codes(strata, len(d), "strata")
    scores = np.zeros(ng - 1)
    cov = np.zeros((ng - 1, ng - 1))
    for s in np.unique(strata_codes).tolist():
        m = strata_codes == s
        sc, v = _gray_stratum(d[m], codes[m], target, group[m], ng, float(rho))
        scores, cov = scores + sc, cov + v
    try:
        statistic = float(scores @ np.linalg.solve(cov, scores))
    except np.linalg.LinAlgError:
        raise ValidationError("Gray's test: the score variance is singular") from None
    return GrayTestResult(
        cause_of_interest, statistic, chi2_survival(statistic, ng - 1), ng - 1,
        tuple(labels), scores, cov,
    )


# --------------------------------------------------------------------------- from churn data


@attrs.frozen(slots=True, eq=False)
class CompetingRisks:
    """Lifetimes with the reason each churned customer left for (None when censored)."""

    customer_id: npt.NDArray[np.str_]
    durations: F64
    observed: npt.NDArray[np.bool_]
    cause: npt.NDArray[np.object_]
    segment: npt.NDArray[np.object_]
    plan: npt.NDArray[np.object_]

    def cumulative_incidence(self, *, alpha: float = 0.05) -> CumulativeIncidence:
        """Cumulative incidence of every churn reason over tenure."""
        return cumulative_incidence(self.durations, self.observed, self.cause, alpha=alpha)

    def gray_test(self, cause: str, by: str = "segment", *, rho: float = 0.0) -> GrayTestResult:
        """Does ``cause`` strike differently by ``"segment"`` or ``"plan"``?"""
        if by not in ("segment", "plan"):
            raise ValidationError(f"by must be 'segment' or 'plan', got {by!r}")
        return gray_test(
            self.durations, self.observed, self.cause, getattr(self, by),
            cause_of_interest=cause, rho=rho,
        )


def competing_risks_from(lifetimes: Lifetimes, churn: ChurnRecords) -> CompetingRisks:
    """Join :func:`~custsuccess.churn.lifetimes_from` and :func:`~custsuccess.churn.records`
    (the same dataset and ``as_of``) on the customer id: each churned lifetime gets the
    reason the records give it (classified by the reason plugins, ``"unclassified"``
    when none decided).

    >>> from custsuccess.churn import lifetimes_from, records
    >>> from custsuccess.churn._examples import small_dataset
    >>> ds, at = small_dataset(), "2024-12-31T00:00:00+00:00"
    >>> risks = competing_risks_from(lifetimes_from(ds, at), records(ds, at))
    >>> risks.cause.tolist()
    ['too expensive', 'never_onboarded', None, 'disengaged', None]
    """
    reason_of = dict(
        zip(churn.customer_id.tolist(), _labels(churn.reason).tolist(), strict=True)
    )
    cause = np.empty(len(lifetimes), dtype=object)
    for i, (cid, churned) in enumerate(
        zip(lifetimes.customer_id.tolist(), lifetimes.observed.tolist(), strict=True)
    ):
        if churned:
            if cid not in reason_of:
                raise ValidationError(
                    f"customer {cid!r} churned in the lifetimes but has no churn record: "
                    "compute both on the same dataset and as_of"
                )
            cause[i] = reason_of[cid]
    return CompetingRisks(
        lifetimes.customer_id,
        lifetimes.durations,
        lifetimes.observed,
        cause,
        _labels(lifetimes.segment),
        _labels(lifetimes.plan),
    )


def _labels(column: Any) -> npt.NDArray[np.object_]:
    labels = np.array([*column.categories, "(none)"], dtype=object)
    codes = np.asarray(column.codes)
    out: npt.NDArray[np.object_] = labels[np.where(codes < 0, len(labels) - 1, codes)]
    return out
