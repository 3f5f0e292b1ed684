"""Cumulative hazards, weighted and left-truncated risk sets, and restricted means.

* :func:`nelson_aalen`: the Nelson-Aalen cumulative hazard (Nelson 1972; Aalen 1978)
  with its variance and a log-transformed confidence band, as lifelines'
  ``NelsonAalenFitter`` computes them.
* :func:`risk_table`: the event table of survival data with case weights, late entry
  (left truncation) and a later time origin (R's ``survfit(start.time=)``); Kaplan-Meier
  and Nelson-Aalen are built on it.
* :func:`restricted_mean`: the restricted mean survival time of a Kaplan-Meier curve
  with its standard error (Klein & Moeschberger 2003, section 4.5).

At-risk convention (the one R's ``survival`` and lifelines' estimates use): a subject
entering at ``e`` and leaving at ``d`` is at risk at every time ``t`` with
``e < t <= d`` (those entering at the first entry time, the origin without late entry,
are at risk at it too): someone who joins the observed population at ``t`` was not
watched through ``t``.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from custsuccess.churn.survival import KaplanMeier

__all__ = [
    "NelsonAalen",
    "RestrictedMean",
    "RiskTable",
    "nelson_aalen",
    "restricted_mean",
    "risk_table",
]

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


def durations_array(values: Any, field: str) -> F64:
    """``values`` as finite float64 durations ``>= 0``, or a ValidationError naming a row."""
    from custsuccess.churn.survival import _durations

    return _durations(values, field)


def observed_array(values: Any, n: int, field: str) -> Bools:
    """Event flags (True/False or 1/0; all True when None)."""
    from custsuccess.churn.survival import _observed

    return _observed(values, n, field)


def alpha_value(alpha: float) -> float:
    """``alpha`` checked to lie in (0, 1)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValidationError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(alpha)


def z_value(alpha: float) -> float:
    """The two-sided standard normal quantile for ``alpha``."""
    return NormalDist().inv_cdf(1 - alpha / 2)


def weights_array(values: Any, n: int, field: str = "weights") -> F64 | None:
    """Case weights: finite and ``>= 0``, one per subject (None stays None)."""
    if values is None:
        return None
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{field} must hold numbers, got {values!r}") from None
    if arr.shape != (n,):
        raise ValidationError(f"{field} must have shape ({n},) like the durations, got {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        i = int(bad[0])
        raise ValidationError(f"{field}[{i}] = {float(arr[i])!r}: weights must be finite and >= 0")
    return arr


def entry_array(values: Any, durations: F64, field: str = "entry") -> F64 | None:
    """Late-entry times: finite, ``>= 0`` and ``<=`` the subject's duration."""
    if values is None:
        return None
    arr = durations_array(values, field)
    if arr.shape != durations.shape:
        raise ValidationError(
            f"{field} must have shape {durations.shape} like the durations, got {arr.shape}"
        )
    bad = np.flatnonzero(arr > durations)
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"{field}[{i}] = {float(arr[i])!r} is after the duration {float(durations[i])!r}: "
            "a subject cannot enter after it leaves"
        )
    return arr


@attrs.frozen(slots=True, eq=False)
class RiskTable:
    """The event table of survival data on its distinct times.

    ``timeline``: the origin and every distinct duration (and entry time) after it,
    ascending; at each time ``t``: ``at_risk`` (weight of subjects with
    ``entry < t <= duration``, see the module's note), ``events`` (weight of observed
    endings at ``t``), ``censored``, ``entered`` (weight entering at ``t``). Counts are
    float64 so case weights fit; ``weighted`` tells whether weights were given.
    """

    timeline: F64
    at_risk: F64
    events: F64
    censored: F64
    entered: F64
    weighted: bool

    @property
    def n(self) -> float:
        """Total weight of the subjects (their number without weights)."""
        return float(self.entered.sum())


def risk_table(
    durations: Any,
    observed: Any = None,
    *,
    weights: Any = None,
    entry: Any = None,
    start_time: float | None = None,
) -> RiskTable:
    """The event table behind the Kaplan-Meier and Nelson-Aalen estimators.

    ``weights`` weigh each subject (a count of identical subjects, or a sampling
    weight); ``entry`` is each subject's late-entry time (left truncation: a customer
    whose records begin after their signup enters the risk set at the tenure the records
    begin, and counts only from then); ``start_time`` moves the origin: subjects leaving
    before it are dropped and the others enter at ``max(entry, start_time)``, so the
    curves become conditional on surviving to ``start_time`` (R's
    ``survfit(start.time=)``).

    >>> table = risk_table([2, 3, 3, 5], [1, 1, 0, 1], entry=[0, 0, 1, 4])
    >>> table.timeline.tolist(), table.at_risk.tolist(), table.events.tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 2.0, 3.0, 2.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    """
    d = durations_array(durations, "durations")
    obs = observed_array(observed, len(d), "observed")
    w = weights_array(weights, len(d))
    e = entry_array(entry, d)
    origin = 0.0
    if start_time is not None:
        if isinstance(start_time, bool) or not isinstance(start_time, (int, float)) or not (
            math.isfinite(start_time) and start_time >= 0
        ):
            raise ValidationError(f"start_time must be a finite number >= 0, got {start_time!r}")
        origin = float(start_time)
        keep = d >= origin
        d, obs = d[keep], obs[keep]
        w = None if w is None else w[keep]
        e = np.full(d.shape, origin) if e is None else np.maximum(e[keep], origin)
    return _table(d, obs, w, e, origin)


def counts_by_time(
    d: F64, obs: Bools, origin: float = 0.0
) -> tuple[F64, npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    """Unweighted event table (``d >= origin``): timeline (the origin and every
    distinct duration), at risk, events and removed (events + censored) at each time.

    Two sorts and binary searches: several times faster than ``np.unique(...,
    return_inverse=True)``, whose argsort dominates on millions of durations. Whole-number
    durations from 0 over a range no wider than a few times their count (tenures in
    days, the usual case) are counted with ``bincount`` instead, in linear time.
    """
    n = d.size
    whole = origin == 0.0 and n and float(d.max()) <= 4 * n + 4096 and float(d.min()) >= 0
    if whole and np.all(d == np.floor(d)):
        days = d.astype(np.int64)
        removed_all = np.bincount(days)
        events_all = np.bincount(days[obs], minlength=removed_all.size)
        present = removed_all > 0
        present[0] = True
        where = np.flatnonzero(present)
        removed_w = removed_all[where].astype(np.int64)
        at_risk_w = (n - np.r_[0, np.cumsum(removed_w)[:-1]]).astype(np.int64)
        return where.astype(np.float64), at_risk_w, events_all[where].astype(np.int64), removed_w
    s = np.sort(d)
    distinct = s[np.r_[True, s[1:] != s[:-1]]] if s.size else s
    if not distinct.size or distinct[0] != origin:
        distinct = np.concatenate([[origin], distinct])
    timeline = distinct.astype(np.float64)
    first = np.searchsorted(s, timeline, side="left")
    removed = (np.searchsorted(s, timeline, side="right") - first).astype(np.int64)
    at_risk = (len(s) - first).astype(np.int64)
    ended = np.sort(d[obs])
    events = (
        np.searchsorted(ended, timeline, side="right")
        - np.searchsorted(ended, timeline, side="left")
    ).astype(np.int64)
    return timeline, at_risk, events, removed


def _plain_table(d: F64, obs: Bools, origin: float) -> RiskTable:
    timeline, at_risk, events, removed = counts_by_time(d, obs, origin)
    entered = np.zeros(len(timeline))
    entered[0] = len(d)
    return RiskTable(
        timeline, at_risk.astype(np.float64), events.astype(np.float64),
        (removed - events).astype(np.float64), entered, False,
    )


def _table(d: F64, obs: Bools, w: F64 | None, e: F64 | None, origin: float) -> RiskTable:
    if w is None and e is None:
        return _plain_table(d, obs, origin)
    parts = [np.array([origin]), d] if e is None else [np.array([origin]), d, e]
    timeline: F64
    timeline, inverse = np.unique(np.concatenate(parts), return_inverse=True)
    inverse = inverse.reshape(-1)
    k = len(timeline)
    n = len(d)
    at_d = inverse[1 : n + 1]
    weight = np.ones(n) if w is None else w
    removed: F64 = np.bincount(at_d, weights=weight, minlength=k).astype(np.float64)
    events: F64 = np.bincount(at_d, weights=weight * obs, minlength=k).astype(np.float64)
    entered: F64
    if e is None:
        entered = np.zeros(k)
        entered[0] = weight.sum()
    else:
        entered = np.bincount(inverse[n + 1 :], weights=weight, minlength=k).astype(np.float64)
    # entrants join the risk set just after their entry time, except the first ones
    joined_before = np.cumsum(entered) - entered
    first = np.flatnonzero(entered > 0)
    if first.size:
        joined_before[first[0]] += entered[first[0]]
    # rounding of long float sums must not turn an empty risk set negative
    at_risk: F64 = np.maximum(
        joined_before - np.concatenate([[0.0], np.cumsum(removed)[:-1]]), 0.0
    )
    censored: F64 = removed - events
    return RiskTable(timeline.astype(np.float64), at_risk, events, censored, entered, w is not None)


# --------------------------------------------------------------------------- Nelson-Aalen

Ties = Literal["nelson-aalen", "fleming-harrington"]


@attrs.frozen(slots=True, eq=False)
class NelsonAalen:
    """A Nelson-Aalen cumulative hazard estimate.

    ``timeline``, ``at_risk``, ``events`` as in :class:`RiskTable`;
    ``cumulative_hazard`` H(t); ``variance`` Var H(t); ``lower`` / ``upper`` the
    ``1 - alpha`` band ``H exp(±z sqrt(Var H) / H)`` (the log transform, as lifelines).
    """

    timeline: F64
    at_risk: F64
    events: F64
    cumulative_hazard: F64
    variance: F64
    lower: F64
    upper: F64
    alpha: float
    ties: str

    def cumulative_hazard_at(self, times: Any) -> F64:
        """H(t) at each of ``times`` (a right-continuous step; 0 before the origin)."""
        return _step(self.timeline, self.cumulative_hazard, times, 0.0)

    def band_at(self, times: Any) -> tuple[F64, F64]:
        """The confidence band ``(lower, upper)`` at each of ``times``."""
        return (
            _step(self.timeline, self.lower, times, 0.0),
            _step(self.timeline, self.upper, times, 0.0),
        )

    def to_pandas(self) -> pd.DataFrame:
        """The estimate as a DataFrame indexed by time (needs pandas)."""
        import pandas as pd

        frame: pd.DataFrame = pd.DataFrame(
            {
                "at_risk": self.at_risk,
                "events": self.events,
                "cumulative_hazard": self.cumulative_hazard,
                "lower": self.lower,
                "upper": self.upper,
            },
            index=pd.Index(self.timeline, name="time"),
        )
        return frame

    def plot(self, **kwargs: Any) -> Figure:
        """The cumulative hazard as a step curve with its band (needs matplotlib)."""
        from custsuccess.plot import cumulative_hazard

        return cumulative_hazard(self, **kwargs)

    def __repr__(self) -> str:
        last = float(self.cumulative_hazard[-1]) if len(self.timeline) else 0.0
        return f"<NelsonAalen events={float(self.events.sum()):g} H(end)={last:.4g}>"


def _step(timeline: F64, curve: F64, times: Any, before: float) -> F64:
    t = np.asarray(times, dtype=np.float64)
    if np.isnan(t).any():
        raise ValidationError("times must not contain NaN")
    pos = np.searchsorted(timeline, t, side="right") - 1
    out = np.where(pos >= 0, curve[np.maximum(pos, 0)] if len(curve) else before, before)
    return np.asarray(out, dtype=np.float64)


def nelson_aalen(
    durations: Any,
    observed: Any = None,
    *,
    alpha: float = 0.05,
    weights: Any = None,
    entry: Any = None,
    start_time: float | None = None,
    ties: Ties = "nelson-aalen",
) -> NelsonAalen:
    """The Nelson-Aalen estimate of the cumulative hazard H(t).

    With ``n_j`` at risk and ``d_j`` events at each distinct time ``t_j``:

    * ``ties="nelson-aalen"`` (default): ``H(t) = sum_{t_j <= t} d_j / n_j`` and
      ``Var H(t) = sum d_j (n_j - d_j) / n_j^3`` (lifelines'
      ``NelsonAalenFitter(nelson_aalen_smoothing=False)``);
    * ``ties="fleming-harrington"``: tied events leave one at a time,
      ``H(t) = sum sum_{k=0}^{d_j-1} 1/(n_j - k)`` with variance
      ``sum sum_k 1/(n_j - k)^2`` (lifelines' default, R's ``ctype=2``), computed with
      digamma and trigamma so weights need not be whole.

    The band is ``H exp(±z sqrt(Var H) / H)``. ``weights``, ``entry`` and
    ``start_time`` as in :func:`risk_table`.

    The 6-MP arm of Freireich et al. (1963), remission in weeks:

    >>> weeks = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
    >>> relapse = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    >>> na = nelson_aalen(weeks, relapse)
    >>> na.cumulative_hazard_at([6, 7, 23]).round(4).tolist()  # 3/21, + 1/17, ... + 1/6
    [0.1429, 0.2017, 0.7521]
    """
    alpha = alpha_value(alpha)
    if ties not in ("nelson-aalen", "fleming-harrington"):
        raise ValidationError(
            f"ties must be 'nelson-aalen' or 'fleming-harrington', got {ties!r}"
        )
    table = risk_table(durations, observed, weights=weights, entry=entry, start_time=start_time)
    n, d = table.at_risk, table.events
    has = d > 0
    safe_n = np.where(has, n, 1.0)
    if ties == "nelson-aalen":
        step = np.where(has, d / safe_n, 0.0)
        var_step = np.where(has, d * (safe_n - d) / safe_n**3, 0.0)
    else:
        from scipy.special import digamma, polygamma

        rest = np.where(has, safe_n - d + 1.0, 1.0)
        step = np.where(has, digamma(safe_n + 1.0) - digamma(rest), 0.0)
        var_step = np.where(has, polygamma(1, rest) - polygamma(1, safe_n + 1.0), 0.0)
    hazard = np.cumsum(step)
    variance = np.cumsum(var_step)
    z = z_value(alpha)
    spread = np.exp(z * np.sqrt(variance) / np.where(hazard == 0, 1.0, hazard))
    return NelsonAalen(
        table.timeline, table.at_risk, table.events, hazard, variance,
        hazard / spread, hazard * spread, alpha, ties,
    )


# --------------------------------------------------------------------------- Kaplan-Meier pieces


def kaplan_meier_from_table(table: RiskTable, alpha: float) -> KaplanMeier:
    """A :class:`~custsuccess.churn.KaplanMeier` from a (weighted, left-truncated) table.

    Counts stay whole (int64) unless weights were given; the curve, Greenwood's sum and
    the log(-log) band are computed as in :func:`~custsuccess.churn.kaplan_meier`.
    """
    from custsuccess.churn.survival import KaplanMeier

    n, d = table.at_risk, table.events
    with np.errstate(divide="ignore", invalid="ignore"):
        survival: F64 = np.cumprod(np.where(n > 0, 1.0 - d / n, 1.0)).astype(np.float64)
        term = d / (n * (n - d))
    term[~np.isfinite(term)] = 0.0
    greenwood: F64 = np.cumsum(term).astype(np.float64)
    z = z_value(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log(survival)
        spread = z * np.sqrt(greenwood) / v
        lower = np.exp(-np.exp(np.log(-v) - spread))
        upper = np.exp(-np.exp(np.log(-v) + spread))
    lower[np.isnan(lower)] = 1.0
    upper[np.isnan(upper)] = 1.0
    counts: Any = (
        (n, d, table.censored) if table.weighted
        else (n.round().astype(np.int64), d.round().astype(np.int64),
              table.censored.round().astype(np.int64))
    )
    n_out, d_out, c_out = counts
    return KaplanMeier(
        table.timeline, n_out, d_out, c_out, survival, greenwood, lower, upper, alpha
    )


@attrs.frozen(slots=True)
class RestrictedMean:
    """The restricted mean survival time up to ``t``: ``estimate`` = the area under the
    Kaplan-Meier curve on ``[origin, t]``, its ``standard_error`` and the
    ``1 - alpha`` Wald interval ``lower`` / ``upper``."""

    t: float
    estimate: float
    standard_error: float
    lower: float
    upper: float


def restricted_mean(km: KaplanMeier, t: float, *, alpha: float = 0.05) -> RestrictedMean:
    """Restricted mean survival time ``mu(t) = integral_0^t S(u) du`` with its standard
    error (Klein & Moeschberger 2003, eq. 4.5.2, the formula R's ``print.survfit(rmean=)``
    uses): ``Var = sum_{t_j <= t} A_j^2 d_j / (n_j (n_j - d_j))`` with
    ``A_j = integral_{t_j}^t S(u) du`` (terms with ``n_j = d_j`` count 0, as Greenwood's).
    """
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)):
        raise ValidationError(f"t must be a number, got {t!r}")
    tau = float(t)
    if not math.isfinite(tau) or (len(km.timeline) and tau < km.timeline[0]):
        origin = float(km.timeline[0]) if len(km.timeline) else 0.0
        raise ValidationError(f"t must be finite and >= the origin {origin:g}, got {t!r}")
    alpha = alpha_value(alpha)
    times, surv = km.timeline, km.survival
    ends = np.minimum(np.append(times[1:], np.inf), tau)
    pieces = surv * np.maximum(ends - times, 0.0)
    area = float(pieces.sum())
    # A_j, the area from t_j to tau: the pieces from j on (the curve's value from t_j on)
    after = np.cumsum(pieces[::-1])[::-1]
    n = km.at_risk.astype(np.float64)
    d = km.events.astype(np.float64)
    inside = (times <= tau) & (d > 0) & (n > d)
    safe = np.where(inside, n * (n - d), 1.0)
    variance = float(np.sum(np.where(inside, after**2 * d / safe, 0.0)))
    se = math.sqrt(variance)
    z = z_value(alpha)
    return RestrictedMean(tau, area, se, area - z * se, area + z * se)


def group_codes(
    groups: Any, n: int, field: str = "groups"
) -> tuple[list[Any], npt.NDArray[np.intp]]:
    """Sorted distinct labels and each subject's index among them."""
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise ValidationError(
            f"{field} must have shape ({n},) like the durations, got {labels.shape}"
        )
    if labels.dtype == object:
        missing = [i for i, g in enumerate(labels.tolist()) if g is None]
        if missing:
            raise ValidationError(f"{field}[{missing[0]}] is None: every subject needs a group")
    try:
        keys, codes = np.unique(labels, return_inverse=True)
    except TypeError as exc:
        raise ValidationError(f"{field} must be sortable labels: {exc}") from None
    return keys.tolist(), codes.reshape(-1).astype(np.intp)


def grouped_kaplan_meier(
    d: F64,
    obs: Bools,
    alpha: float,
    groups: Any,
    weights: Any,
    entry: Any,
    start_time: float | None,
) -> KaplanMeier | dict[Any, KaplanMeier]:
    """Kaplan-Meier with weights / late entry / a later origin, overall or per group."""
    w = weights_array(weights, len(d))
    e = entry_array(entry, d)
    if groups is None:
        return kaplan_meier_from_table(
            risk_table(d, obs, weights=w, entry=e, start_time=start_time), alpha
        )
    keys, codes = group_codes(groups, len(d))
    out: dict[Any, KaplanMeier] = {}
    for i, key in enumerate(keys):
        m = codes == i
        table = risk_table(
            d[m], obs[m], weights=None if w is None else w[m],
            entry=None if e is None else e[m], start_time=start_time,
        )
        out[key] = kaplan_meier_from_table(table, alpha)
    return out
