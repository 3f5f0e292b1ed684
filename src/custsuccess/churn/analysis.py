"""Patterns in the churn database: why customers leave, after how long, and who.

Each function returns a small table (numpy columns, ``to_records()``, ``to_pandas()``),
computed with whole-array operations over all churned customers at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.churn._windows import (
    DEFAULT_ACTIVITY_KINDS,
    NO_TIME,
    US_PER_DAY,
    churn_state,
    last_before,
    scatter,
    us,
    weighted_sum,
)
from custsuccess.churn.records import ChurnRecords, _activity_kinds, records
from custsuccess.dataset import Categorical, Dataset, require_dataset, to_datetime64
from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ChurnBy",
    "InactivityProfile",
    "ReasonDistribution",
    "TenureByReason",
    "churn_by",
    "inactivity_profile",
    "reason_distribution",
    "tenure_by_reason",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: The label of a missing segment or plan in grouped tables.
NONE_LABEL = "(none)"


class _Table:
    """Columns of equal length; subclasses are attrs classes listing them in ``_columns``."""

    __slots__ = ()
    _columns: ClassVar[tuple[str, ...]] = ()

    def __len__(self) -> int:
        return len(getattr(self, self._columns[0]))

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per row (NaN as None)."""
        lists = []
        for name in self._columns:
            col = np.asarray(getattr(self, name))
            if col.dtype.kind == "f":
                obj = col.astype(object)
                obj[np.isnan(col)] = None
                lists.append(obj.tolist())
            else:
                lists.append(col.tolist())
        return [dict(zip(self._columns, row, strict=True)) for row in zip(*lists, strict=True)]

    def to_pandas(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        frame: pd.DataFrame = pd.DataFrame({name: getattr(self, name) for name in self._columns})
        return frame


def _labels(column: Categorical) -> npt.NDArray[np.object_]:
    return np.array([*column.categories, NONE_LABEL], dtype=object)


@attrs.frozen(slots=True, eq=False)
class ReasonDistribution(_Table):
    """Churned customers per reason: ``count``, ``share`` of churners, ``mrr_lost`` and
    its ``mrr_share``; most frequent reason first (ties by name)."""

    _columns: ClassVar[tuple[str, ...]] = ("reason", "count", "share", "mrr_lost", "mrr_share")
    reason: npt.NDArray[np.object_]
    count: I64
    share: F64
    mrr_lost: F64
    mrr_share: F64


def reason_distribution(churn: ChurnRecords) -> ReasonDistribution:
    """How many churners, and how much MRR, each reason accounts for.

    share = count / churners; mrr_share = mrr_lost / total MRR lost (NaN when none).

    >>> from custsuccess.churn._examples import small_dataset
    >>> from custsuccess.churn.records import records
    >>> dist = reason_distribution(records(small_dataset(), "2024-12-31T00:00:00+00:00"))
    >>> dist.reason.tolist(), dist.mrr_lost.tolist()
    (['disengaged', 'never_onboarded', 'too expensive'], [20.0, 50.0, 100.0])
    """
    k = len(churn.reason.categories)
    codes = churn.reason.codes
    count = np.bincount(codes, minlength=k).astype(np.int64)
    mrr = weighted_sum(codes, churn.mrr_lost, k)
    keep = np.flatnonzero(count > 0)
    names = np.array(churn.reason.categories, dtype=object)
    order = keep[np.lexsort((names[keep].astype(str), -count[keep]))] if keep.size else keep
    total = float(mrr.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        share = count[order] / len(churn) if len(churn) else np.zeros(0)
        mrr_share = mrr[order] / total if total > 0 else np.full(len(order), np.nan)
    return ReasonDistribution(names[order], count[order], share, mrr[order], mrr_share)


@attrs.frozen(slots=True, eq=False)
class TenureByReason(_Table):
    """Tenure (days) of churned customers per reason: ``count``, ``q1`` (25th
    percentile), ``median``, ``q3`` (75th) and ``mean``; sorted by reason."""

    _columns: ClassVar[tuple[str, ...]] = ("reason", "count", "q1", "median", "q3", "mean")
    reason: npt.NDArray[np.object_]
    count: I64
    q1: F64
    median: F64
    q3: F64
    mean: F64


def _group_quantiles(
    values: F64, codes: npt.NDArray[np.integer[Any]], k: int, qs: Sequence[float]
) -> tuple[I64, list[F64]]:
    """Per-group quantiles (numpy's default linear interpolation), whole-array."""
    order = np.lexsort((values, codes))
    x = values[order]
    count = np.bincount(codes, minlength=k).astype(np.int64)
    start = np.r_[0, np.cumsum(count)[:-1]]
    out = []
    for q in qs:
        pos = (count - 1) * q
        lo = np.floor(pos).astype(np.int64)
        frac = pos - lo
        hi = np.minimum(lo + 1, count - 1)
        valid = count > 0
        a = x[np.where(valid, start + lo, 0)] if len(x) else np.zeros(k)
        b = x[np.where(valid, start + hi, 0)] if len(x) else np.zeros(k)
        out.append(np.where(valid, a + frac * (b - a), np.nan))
    return count, out


def tenure_by_reason(churn: ChurnRecords) -> TenureByReason:
    """Quartiles of tenure per churn reason (linear interpolation between order
    statistics, as ``numpy.quantile``'s default).

    >>> from custsuccess.churn._examples import small_dataset
    >>> from custsuccess.churn.records import records
    >>> table = tenure_by_reason(records(small_dataset(), "2024-12-31T00:00:00+00:00"))
    >>> table.reason.tolist(), table.median.tolist()
    (['disengaged', 'never_onboarded', 'too expensive'], [304.0, 60.0, 182.0])
    """
    k = len(churn.reason.categories)
    count, (q1, median, q3) = _group_quantiles(
        churn.tenure_days, churn.reason.codes, k, (0.25, 0.5, 0.75)
    )
    total = weighted_sum(churn.reason.codes, churn.tenure_days, k)
    keep = np.flatnonzero(count > 0)
    names = np.array(churn.reason.categories, dtype=object)
    return TenureByReason(
        names[keep], count[keep], q1[keep], median[keep], q3[keep], total[keep] / count[keep]
    )


@attrs.frozen(slots=True, eq=False)
class InactivityProfile(_Table):
    """For each ``threshold_days`` N: the share of churners inactive for at least N days
    before cancelling (``churned_share``), the share of retained customers inactive for
    at least N days before ``as_of`` (``retained_share``), and their ratio ``lift``."""

    _columns: ClassVar[tuple[str, ...]] = (
        "threshold_days",
        "churned_share",
        "retained_share",
        "lift",
    )
    threshold_days: F64
    churned_share: F64
    retained_share: F64
    lift: F64
    churned: int
    retained: int


def inactivity_profile(
    dataset: Dataset,
    as_of: datetime | np.datetime64 | str,
    *,
    thresholds: Sequence[float] = (7, 14, 30, 60, 90),
    activity_kinds: Sequence[str] = DEFAULT_ACTIVITY_KINDS,
    churn: ChurnRecords | None = None,
) -> InactivityProfile:
    """Is a period of non-use a sign of churn? Churners against retained customers.

    A churner's gap is the time from its last activity to ``churned_at``; a retained
    customer's (subscribed and active at ``as_of``) from its last activity to
    ``as_of``; without any activity, from the first subscription's start. ``churn``:
    the records of the same dataset and ``as_of`` if already computed.

    >>> from custsuccess.churn._examples import small_dataset
    >>> p = inactivity_profile(small_dataset(), "2024-12-31T00:00:00+00:00",
    ...                        thresholds=[30, 90])
    >>> p.churned_share.tolist(), p.retained_share.tolist()
    ([0.666..., 0.0], [0.5, 0.5])
    """
    require_dataset(dataset, "dataset", "inactivity_profile()")
    th = np.asarray(thresholds, dtype=np.float64)
    if th.ndim != 1 or not th.size or not np.all(np.isfinite(th)) or np.any(th < 0):
        raise ValidationError(
            f"thresholds must be a non-empty list of finite numbers >= 0, got {thresholds!r}"
        )
    kinds = _activity_kinds(activity_kinds)
    at = to_datetime64(as_of)
    if churn is None:
        churn = records(dataset, at, activity_kinds=kinds, classifiers=())
    elif churn.as_of != at:
        raise ValidationError(f"churn records are as of {churn.as_of}, not {at}")
    view = dataset.until(at)
    state = churn_state(view, at)
    retained = np.flatnonzero(state.subscribed & ~state.churned)
    n = view.n_customers
    at_us = int(us(np.asarray([at]))[0])
    hi = scatter(n, retained, np.full(retained.size, at_us + 1, dtype=np.int64), NO_TIME)
    last = last_before(view.events_of(*kinds, properties=()), hi)[retained]
    since = np.where(last == NO_TIME, state.started_at[retained], last)
    retained_gap = (at_us - since) / US_PER_DAY
    churned_gap = churn.inactivity_days
    with np.errstate(divide="ignore", invalid="ignore"):
        c_share = (churned_gap[:, None] >= th).mean(axis=0) if len(churned_gap) else th * np.nan
        r_share = (retained_gap[:, None] >= th).mean(axis=0) if retained.size else th * np.nan
        lift = np.where(r_share > 0, c_share / r_share, np.nan)
    return InactivityProfile(th, c_share, r_share, lift, len(churned_gap), int(retained.size))


@attrs.frozen(slots=True, eq=False)
class ChurnBy(_Table):
    """Churn per group (segment or plan): ``customers`` (subscribed at some point in the
    period), ``churned``, ``churn_rate`` = churned / customers, ``mrr_lost``, and
    ``mrr_retained`` (MRR at ``as_of`` of the customers still subscribed)."""

    _columns: ClassVar[tuple[str, ...]] = (
        "group",
        "customers",
        "churned",
        "churn_rate",
        "mrr_lost",
        "mrr_retained",
    )
    group: npt.NDArray[np.object_]
    customers: I64
    churned: I64
    churn_rate: F64
    mrr_lost: F64
    mrr_retained: F64
    by: str


def churn_by(
    dataset: Dataset,
    as_of: datetime | np.datetime64 | str,
    by: str = "segment",
    *,
    since: datetime | np.datetime64 | str | None = None,
) -> ChurnBy:
    """Churn per customer segment or per plan, as of ``as_of``.

    Customers counted are those with a subscription started at or before ``as_of``;
    with ``since``, those who churned before ``since`` are left out, so ``churn_rate``
    is the share of the customers of the period ``[since, as_of]`` who churned in it. The
    plan is that of the customer's last subscription (for a churner, the last one to
    end; otherwise the latest-started active one). Missing labels show as ``"(none)"``.

    >>> from custsuccess.churn._examples import small_dataset
    >>> t = churn_by(small_dataset(), "2024-12-31T00:00:00+00:00", by="segment")
    >>> t.group.tolist(), t.customers.tolist(), t.churned.tolist(), t.churn_rate.tolist()
    (['enterprise', 'smb'], [2, 3], [1, 2], [0.5, 0.666...])
    """
    require_dataset(dataset, "dataset", "churn_by()")
    if by not in ("segment", "plan"):
        raise ValidationError(f"by must be 'segment' or 'plan', got {by!r}")
    at = to_datetime64(as_of)
    view = dataset.until(at)
    state = churn_state(view, at)
    counted = state.subscribed.copy()
    if since is not None:
        start = to_datetime64(since, "since")
        if start > at:
            raise ValidationError(f"since {start} is after as_of {at}")
        counted &= ~state.churned | (state.churned_at >= int(us(np.asarray([start]))[0]))
    column = view.customers.segment if by == "segment" else state.plan()
    k = len(column.categories) + 1
    codes = np.where(column.codes >= 0, column.codes, k - 1)[counted]
    churned = state.churned[counted]
    customers = np.bincount(codes, minlength=k).astype(np.int64)
    lost = np.bincount(codes[churned], minlength=k).astype(np.int64)
    mrr_lost = weighted_sum(codes, state.mrr_lost[counted], k)
    mrr_kept = weighted_sum(codes, state.mrr[counted], k)
    keep = np.flatnonzero(customers > 0)
    return ChurnBy(
        _labels(column)[keep],
        customers[keep],
        lost[keep],
        lost[keep] / customers[keep],
        mrr_lost[keep],
        mrr_kept[keep],
        by,
    )
