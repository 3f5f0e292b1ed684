"""Customer lifetimes as survival data: Kaplan-Meier curves and the log-rank test.

* :func:`kaplan_meier`: the product-limit estimator (Kaplan & Meier 1958) with Greenwood's
  variance (Greenwood 1926) and the log(-log) ("exponential Greenwood") confidence band,
  the transform lifelines uses by default, so results match lifelines'
  ``KaplanMeierFitter`` to rounding.
* :func:`logrank_test`: the two-sample log-rank test (Mantel 1966; Peto & Peto 1972).
* :func:`lifetimes_from`: durations and censoring flags from a dataset's subscriptions.

Everything is whole-array numpy; scipy is imported (lazily) only to turn the log-rank
statistic into a p-value.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, overload

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.churn._windows import US_PER_DAY, churn_state, us
from custsuccess.dataset import Categorical, Dataset, require_dataset, to_datetime64
from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from custsuccess.churn.hazard import RestrictedMean

__all__ = ["KaplanMeier", "Lifetimes", "LogRankResult", "kaplan_meier", "lifetimes_from",
           "logrank_test"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: whole counts, or weighted (float) counts when case weights were given
Counts = npt.NDArray[np.int64] | npt.NDArray[np.float64]


def _durations(values: Any, field: str) -> F64:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValidationError(f"{field} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValidationError(f"{field} must hold numbers, got dtype {arr.dtype}")
    out = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(out) | (out < 0))
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"{field}[{i}] = {float(out[i])!r}: durations must be finite and >= 0"
            + (f" ({bad.size} bad values in all)" if bad.size > 1 else "")
        )
    return out


def _observed(values: Any, n: int, field: str) -> npt.NDArray[np.bool_]:
    if values is None:
        return np.ones(n, dtype=bool)
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValidationError(f"{field} must have shape ({n},) like the durations, got {arr.shape}")
    if arr.dtype.kind == "b":
        return arr.astype(bool)
    if arr.dtype.kind not in "iuf":
        raise ValidationError(f"{field} must hold booleans or 0/1, got dtype {arr.dtype}")
    bad = np.flatnonzero((arr != 0) & (arr != 1))
    if bad.size:
        i = int(bad[0])
        raise ValidationError(f"{field}[{i}] = {arr[i].item()!r}: expected True/False or 1/0")
    flags: npt.NDArray[np.bool_] = arr == 1
    return flags


def _alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValidationError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(alpha)


#: rounding allowance per factor of the product-limit curve, in units of q
_ROUNDING_PER_STEP = 4 * float(np.finfo(np.float64).eps)


def _first_at_or_below(curve: F64, timeline: F64, q: float) -> float:
    """The first time the curve is at or below ``q``, counting a value above ``q`` by no
    more than the rounding of the product so far as reaching it.

    S(t) after k steps is a product of k rounded factors, so it can exceed an exact
    1/2 by about k ulps (``np.arange(1, 25)`` gives 0.5000000000000001 at t = 12, where
    S is exactly 1/2). Exact rationals never come that close to ``q`` without reaching
    it unless the risk sets hold ~1e15 subjects.
    """
    slack = q * _ROUNDING_PER_STEP * np.arange(1, curve.size + 1)
    below = np.flatnonzero(curve <= q + slack)
    return float(timeline[below[0]]) if below.size else float("inf")


@attrs.frozen(slots=True, eq=False)
class KaplanMeier:
    """A Kaplan-Meier survival curve.

    ``timeline``: 0 and every distinct duration, ascending; at each time ``t``:
    ``at_risk`` (durations >= t), ``events`` (observed endings at t), ``censored``;
    ``survival`` S(t) = prod over t_i <= t of (1 - d_i / n_i); ``greenwood``: the sum
    over t_i <= t of d_i / (n_i (n_i - d_i)) (terms with n_i = d_i count 0, as in
    lifelines), so Var S(t) = S(t)^2 * greenwood(t); ``lower`` / ``upper``: the
    ``1 - alpha`` confidence band on the log(-log) scale:
    ``exp(-exp(log(-log S) ± z sqrt(greenwood) / log S))``, 1 where S = 1.
    ``median``: the first time S(t) <= 0.5 (inf when the curve never gets there), and
    ``median_lower`` / ``median_upper`` the same on the band's lower and upper curves;
    :meth:`percentile` the same for any level. "At or below" allows for the rounding of
    the product: an S(t) that is exactly 0.5 but computed as 0.5000000000000001 counts.
    """

    timeline: F64
    at_risk: Counts
    events: Counts
    censored: Counts
    survival: F64
    greenwood: F64
    lower: F64
    upper: F64
    alpha: float

    @property
    def median(self) -> float:
        """Median lifetime: the first time S(t) <= 0.5 (inf when never)."""
        return _first_at_or_below(self.survival, self.timeline, 0.5)

    @property
    def median_lower(self) -> float:
        """Lower confidence limit of the median (first time ``lower`` <= 0.5)."""
        return _first_at_or_below(self.lower, self.timeline, 0.5)

    @property
    def median_upper(self) -> float:
        """Upper confidence limit of the median (first time ``upper`` <= 0.5)."""
        return _first_at_or_below(self.upper, self.timeline, 0.5)

    @property
    def n(self) -> int:
        """Number of subjects (at risk at the origin; their weight, rounded, if weighted)."""
        return round(float(self.at_risk[0])) if len(self.at_risk) else 0

    def percentile(self, p: float) -> float:
        """The first time S(t) <= ``p`` (inf when never), with the same rounding allowance
        as :attr:`median`: ``percentile(0.5)`` is the median, ``percentile(0.75)`` the
        time by which a quarter have left."""
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValidationError(f"p must be a probability in [0, 1], got {p!r}")
        return _first_at_or_below(self.survival, self.timeline, float(p))

    def restricted_mean(self, t: float, *, alpha: float = 0.05) -> RestrictedMean:
        """Restricted mean survival time up to ``t`` with its standard error; see
        :func:`custsuccess.churn.hazard.restricted_mean`."""
        from custsuccess.churn.hazard import restricted_mean

        return restricted_mean(self, t, alpha=alpha)

    def plot(self, **kwargs: Any) -> Figure:
        """This curve with its band, censor marks and at-risk counts; keywords go to
        :func:`custsuccess.plot.survival_curves` (needs matplotlib)."""
        from custsuccess.plot import survival_curves

        kwargs.setdefault("censor_marks", True)
        kwargs.setdefault("at_risk_counts", True)
        return survival_curves(self, **kwargs)

    def survival_at(self, times: Any) -> F64:
        """S(t) at each of ``times`` (the step curve is right-continuous; 1 before 0)."""
        return self._step(self.survival, times)

    def band_at(self, times: Any) -> tuple[F64, F64]:
        """The confidence band ``(lower, upper)`` at each of ``times``."""
        return self._step(self.lower, times), self._step(self.upper, times)

    def _step(self, curve: F64, times: Any) -> F64:
        arr = np.asarray(times)
        if arr.dtype.kind not in "biuf":
            raise ValidationError(f"times must hold numbers, got dtype {arr.dtype}")
        t = arr.astype(np.float64)
        if np.isnan(t).any():
            raise ValidationError("times must not contain NaN")
        pos = np.searchsorted(self.timeline, t, side="right") - 1
        out = np.where(pos >= 0, curve[np.maximum(pos, 0)], 1.0)
        return np.asarray(out, dtype=np.float64)

    def to_pandas(self) -> pd.DataFrame:
        """The event table and the curve as a DataFrame indexed by time (needs pandas)."""
        import pandas as pd

        frame: pd.DataFrame = pd.DataFrame(
            {
                "at_risk": self.at_risk,
                "events": self.events,
                "censored": self.censored,
                "survival": self.survival,
                "lower": self.lower,
                "upper": self.upper,
            },
            index=pd.Index(self.timeline, name="time"),
        )
        return frame

    def __repr__(self) -> str:
        return f"<KaplanMeier n={self.n} events={int(self.events.sum())} median={self.median:g}>"


def _fit(durations: F64, observed: npt.NDArray[np.bool_], alpha: float, z: float) -> KaplanMeier:
    from custsuccess.churn.hazard import counts_by_time

    timeline, at_risk, events, removed = counts_by_time(durations, observed)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - events / at_risk)
        term = events / (at_risk.astype(np.float64) * (at_risk - events))
    term[~np.isfinite(term)] = 0.0
    greenwood = np.cumsum(term)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log(survival)
        spread = z * np.sqrt(greenwood) / v
        lower = np.exp(-np.exp(np.log(-v) - spread))
        upper = np.exp(-np.exp(np.log(-v) + spread))
    lower[np.isnan(lower)] = 1.0
    upper[np.isnan(upper)] = 1.0
    return KaplanMeier(
        timeline, at_risk, events, removed - events, survival, greenwood, lower, upper, alpha
    )


@overload
def kaplan_meier(
    durations: Any, observed: Any = ..., *, alpha: float = ..., groups: None = ...,
    weights: Any = ..., entry: Any = ..., start_time: float | None = ...,
) -> KaplanMeier: ...
@overload
def kaplan_meier(
    durations: Any, observed: Any = ..., *, alpha: float = ..., groups: Any,
    weights: Any = ..., entry: Any = ..., start_time: float | None = ...,
) -> dict[Any, KaplanMeier]: ...
def kaplan_meier(
    durations: Any, observed: Any = None, *, alpha: float = 0.05, groups: Any = None,
    weights: Any = None, entry: Any = None, start_time: float | None = None,
) -> KaplanMeier | dict[Any, KaplanMeier]:
    """The Kaplan-Meier estimate of the survival function, overall or per group.

    Parameters
    ----------
    durations
        Time from start to the event or to censoring, finite and >= 0 (any unit).
    observed
        True where the event (churn) was observed, False where the subject is censored
        (still a customer); default all observed.
    alpha
        The band is a ``1 - alpha`` pointwise confidence band (default 95%).
    groups
        Optional group label per subject: then a dict label -> curve, labels sorted.
    weights, entry, start_time
        Case weights, late-entry times (left truncation) and a later origin (the curve
        conditional on surviving to ``start_time``); see
        :func:`custsuccess.churn.hazard.risk_table`.

    Examples
    --------
    The 6-MP arm of Freireich et al. (1963), remission in weeks, ``0`` = censored:

    >>> weeks = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
    >>> relapse = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    >>> km = kaplan_meier(weeks, relapse)
    >>> km.survival_at([6, 7, 10, 13, 16, 22, 23]).round(3).tolist()
    [0.857, 0.807, 0.753, 0.69, 0.627, 0.538, 0.448]
    >>> km.median, [round(b, 3) for b in km.band_at([6])[0].tolist() + km.band_at([6])[1].tolist()]
    (23.0, [0.62, 0.952])
    """
    alpha = _alpha(alpha)
    d = _durations(durations, "durations")
    obs = _observed(observed, len(d), "observed")
    z = NormalDist().inv_cdf(1 - alpha / 2)  # the standard normal quantile, as scipy's ppf
    if weights is not None or entry is not None or start_time is not None:
        from custsuccess.churn.hazard import grouped_kaplan_meier

        return grouped_kaplan_meier(d, obs, alpha, groups, weights, entry, start_time)
    if groups is None:
        return _fit(d, obs, alpha, z)
    labels = np.asarray(groups)
    if labels.shape != d.shape:
        raise ValidationError(
            f"groups must have shape {d.shape} like the durations, got {labels.shape}"
        )
    if labels.dtype == object:
        missing = [i for i, g in enumerate(labels.tolist()) if g is None]
        if missing:
            raise ValidationError(f"groups[{missing[0]}] is None: every subject needs a group")
    try:
        keys, codes = np.unique(labels, return_inverse=True)
    except TypeError as exc:
        raise ValidationError(f"groups must be sortable labels: {exc}") from None
    codes = codes.reshape(-1)
    out: dict[Any, KaplanMeier] = {}
    for i, key in enumerate(keys.tolist()):
        mask = codes == i
        out[key] = _fit(d[mask], obs[mask], alpha, z)
    return out


@attrs.frozen(slots=True)
class LogRankResult:
    """The log-rank test of two survival curves.

    ``statistic``: (O_a - E_a)^2 / V, chi-square with 1 degree of freedom under the null
    hypothesis of equal hazards; ``p_value``; ``observed`` and ``expected`` events per
    group.
    """

    statistic: float
    p_value: float
    observed: tuple[float, float]
    expected: tuple[float, float]
    degrees_of_freedom: int = 1


def logrank_test(
    durations_a: Any, observed_a: Any, durations_b: Any, observed_b: Any
) -> LogRankResult:
    """Two-sample log-rank test: do groups a and b have the same hazard?

    At each distinct event time t_j of the pooled sample, with n_j at risk (n_aj in a)
    and d_j events (d_aj in a): E_a = sum d_j n_aj / n_j,
    V = sum d_j (n_aj / n_j) (1 - n_aj / n_j) (n_j - d_j) / (n_j - 1), and
    statistic = (O_a - E_a)^2 / V. When V = 0 (every subject censored, or no event with
    subjects at risk in both groups) the statistic is 0 and the p-value 1, as in lifelines
    and R's ``survdiff``.

    Freireich's 6-MP arm against placebo (all placebo relapses observed):

    >>> mp = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
    >>> mp_relapse = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    >>> placebo = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
    >>> result = logrank_test(mp, mp_relapse, placebo, [1] * 21)
    >>> round(result.statistic, 2), f"{result.p_value:.1e}"
    (16.79, '4.2e-05')
    """
    da = _durations(durations_a, "durations_a")
    db = _durations(durations_b, "durations_b")
    oa = _observed(observed_a, len(da), "observed_a")
    ob = _observed(observed_b, len(db), "observed_b")
    if not len(da) or not len(db):
        raise ValidationError("logrank_test needs at least one subject in each group")
    times = np.unique(np.concatenate([da[oa], db[ob]]))
    sa, sb = np.sort(da), np.sort(db)
    n_a = len(da) - np.searchsorted(sa, times, side="left")
    n_b = len(db) - np.searchsorted(sb, times, side="left")
    ea, eb = np.sort(da[oa]), np.sort(db[ob])
    d_a = np.searchsorted(ea, times, side="right") - np.searchsorted(ea, times, side="left")
    d_b = np.searchsorted(eb, times, side="right") - np.searchsorted(eb, times, side="left")
    n = (n_a + n_b).astype(np.float64)
    d = (d_a + d_b).astype(np.float64)
    share = n_a / n
    expected_a = float(np.sum(d * share))
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = np.where(n > 1, (n - d) / (n - 1), 0.0)
    variance = float(np.sum(d * share * (1 - share) * correction))
    observed_total_a = float(d_a.sum())
    # V = 0: no event with subjects at risk in both groups (all censored, or identical
    # tied samples); then O - E is 0 too: no evidence of a difference, chi2 = 0 and p = 1,
    # as lifelines and R's survdiff report
    statistic = (observed_total_a - expected_a) ** 2 / variance if variance > 0 else 0.0
    # chi-square survival function with 1 degree of freedom; scipy.special loads far
    # faster than scipy.stats
    from scipy.special import chdtrc

    total = float(d.sum())
    return LogRankResult(
        float(statistic),
        float(chdtrc(1, statistic)),
        (observed_total_a, float(d_b.sum())),
        (expected_a, total - expected_a),
    )


@attrs.frozen(slots=True, eq=False)
class Lifetimes:
    """Customer lifetimes as survival data.

    ``customer`` / ``customer_id``: the customers that had a subscription started at or
    before ``as_of``; ``durations``: days from the first subscription's start to the
    churn, or to ``as_of`` for a customer still subscribed (censored); ``observed``: True
    for churned customers; ``segment`` and ``plan`` (the plan of the last subscription)
    for grouping.
    """

    as_of: np.datetime64
    customer: npt.NDArray[np.intp]
    customer_id: npt.NDArray[np.str_]
    durations: F64
    observed: npt.NDArray[np.bool_]
    segment: Categorical
    plan: Categorical

    def __len__(self) -> int:
        return len(self.customer)

    def kaplan_meier(self, *, alpha: float = 0.05) -> KaplanMeier:
        """The Kaplan-Meier curve of these lifetimes."""
        return kaplan_meier(self.durations, self.observed, alpha=alpha)

    def kaplan_meier_by(self, by: str, *, alpha: float = 0.05) -> Mapping[str, KaplanMeier]:
        """One curve per ``"segment"`` or ``"plan"`` (missing labels as ``"(none)"``)."""
        if by not in ("segment", "plan"):
            raise ValidationError(f"by must be 'segment' or 'plan', got {by!r}")
        column: Categorical = getattr(self, by)
        labels = np.array([*column.categories, "(none)"], dtype=object)[column.codes]
        return kaplan_meier(self.durations, self.observed, alpha=alpha, groups=labels)


def lifetimes_from(dataset: Dataset, as_of: datetime | np.datetime64 | str) -> Lifetimes:
    """Durations and censoring flags of every subscribed customer as of ``as_of``.

    A customer's lifetime starts at its first subscription and ends when it churns (see
    :func:`custsuccess.churn.records`): observed; a customer still subscribed at
    ``as_of`` is censored at ``as_of``. Gaps between subscriptions of a customer who came
    back are counted in the lifetime. Nothing after ``as_of`` is read.

    >>> from custsuccess.churn._examples import small_dataset
    >>> life = lifetimes_from(small_dataset(), "2024-12-31T00:00:00+00:00")
    >>> life.customer_id.tolist(), life.durations.tolist(), life.observed.tolist()
    (['acme', 'bolt', 'cove', 'dune', 'echo'], [182.0, 60.0, 351.0, 304.0, 365.0],
     [True, True, False, True, False])
    """
    require_dataset(dataset, "dataset", "lifetimes_from()")
    at = to_datetime64(as_of)
    view = dataset.until(at)
    state = churn_state(view, at)
    index = np.flatnonzero(state.subscribed).astype(np.intp)
    end = np.where(state.churned, state.churned_at, us(np.asarray([at]))[0])[index]
    start = state.started_at[index]
    return Lifetimes(
        at,
        index,
        view.customer_ids[index] if index.size else np.empty(0, dtype="U1"),
        (end - start) / US_PER_DAY,
        state.churned[index],
        view.customers.segment.take(index),
        state.plan().take(index),
    )
