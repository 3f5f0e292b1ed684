"""Churn records, survival and CLV fits on a
:class:`~custsuccess.distributed.dataset.PartitionedDataset`.

* Churn records: every partition builds its churned customers' records with
  :func:`custsuccess.churn.records` (classifiers taken by name from each worker's
  registry); the client concatenates them in customer-id order. The reason distribution
  sums counts and lost MRR per reason.
* Kaplan-Meier and log-rank: every partition sends its *event table* (distinct
  durations with the number of subjects ending there and how many of those endings were
  observed); the tables are summed and the curve or the test computed from the sums with
  the same formulas as :mod:`custsuccess.churn.survival`. That is exact: the estimator
  only ever reads those counts.
* RFM and the BG/NBD, Pareto/NBD and Gamma-Gamma fits: every partition sends its
  customers' RFM rows merged into distinct rows with counts. The likelihood of each
  model is a sum over customers, so the weighted distinct rows are its sufficient
  statistic: the client sums the counts and maximises the summed likelihood (with its
  analytic gradient, as on one machine), reaching the same parameters as a fit on every
  customer's row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.clv.bgnbd import BetaGeoModel
from custsuccess.clv.gamma_gamma import GammaGammaModel
from custsuccess.clv.pareto_nbd import ParetoNBDModel
from custsuccess.clv.rfm import RFMSummary
from custsuccess.clv.rfm import rfm_from_dataset as _rfm_single
from custsuccess.dataset import Categorical, Dataset, to_datetime64
from custsuccess.distributed._dask import compute
from custsuccess.distributed.dataset import PartitionedDataset
from custsuccess.distributed.health import _concat_reasons
from custsuccess.distributed.metrics import global_maps
from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    from custsuccess.churn.analysis import ReasonDistribution
    from custsuccess.churn.records import ChurnRecords
    from custsuccess.churn.survival import KaplanMeier, LogRankResult
    from custsuccess.typing import ChurnReasonClassifier

__all__ = [
    "EventTable",
    "fit_beta_geo",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "kaplan_meier",
    "lifetime_table",
    "logrank_test",
    "reason_distribution",
    "records",
    "rfm_from_dataset",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Moment = datetime | np.datetime64 | str


def _check(dataset: Any, name: str) -> PartitionedDataset:
    if not isinstance(dataset, PartitionedDataset):
        raise ValidationError(
            f"{name}(dataset, ...) needs a PartitionedDataset, got {type(dataset).__name__}"
        )
    return dataset


# --------------------------------------------------------------------------- churn records


def _records_part(
    ds: Dataset,
    at: np.datetime64,
    classifiers: Sequence[ChurnReasonClassifier] | None,
    activity_kinds: Sequence[str] | None,
    recent_days: float,
) -> ChurnRecords:
    from custsuccess.churn._windows import DEFAULT_ACTIVITY_KINDS
    from custsuccess.churn.records import records as single

    kinds = DEFAULT_ACTIVITY_KINDS if activity_kinds is None else activity_kinds
    return single(
        ds, at, classifiers=classifiers, activity_kinds=kinds, recent_days=recent_days
    )


def _concat_categorical(parts: Sequence[Categorical], field: str) -> Categorical:
    return Categorical.encode(np.concatenate([p.decode() for p in parts]), field)


def records(
    dataset: PartitionedDataset,
    as_of: Moment,
    *,
    classifiers: Sequence[ChurnReasonClassifier] | None = None,
    activity_kinds: Sequence[str] | None = None,
    recent_days: float = 90.0,
) -> ChurnRecords:
    """:func:`custsuccess.churn.records` of the whole partitioned dataset, rows in
    customer-id order (``customer``: indexes of the whole dataset).

    The classifiers are those of each worker's default registry (built-ins and installed
    plugins), or ``classifiers``: objects of importable classes, pickled by reference.
    """
    from custsuccess.churn.records import ChurnRecords

    pds = _check(dataset, "records")
    at = to_datetime64(as_of, "as_of")
    if classifiers is not None:
        from custsuccess.distributed._specs import _spec
        from custsuccess.plugins import Contribution

        for c in classifiers:  # refuse what the workers cannot rebuild, here
            name = str(getattr(c, "name", type(c).__name__))
            _spec(Contribution(name, type(c).__module__, "register_churn_reasons", c), {})
    parts = compute(
        *pds.map(_records_part, at, classifiers, activity_kinds, float(recent_days))
    )
    maps = global_maps(pds)
    customer = np.concatenate([maps[i][p.customer] for i, p in enumerate(parts)])
    order = np.argsort(customer, kind="stable")
    values: dict[str, Any] = {"as_of": at}
    for field in attrs.fields(ChurnRecords):
        name = field.name
        if name == "as_of":
            continue
        columns = [getattr(p, name) for p in parts]
        if name == "customer":
            values[name] = customer[order].astype(np.intp)
        elif isinstance(columns[0], Categorical):
            values[name] = _concat_categorical(columns, f"churn.{name}").take(order)
        elif name == "evidence":
            values[name] = _concat_reasons(columns).take(order)
        else:
            values[name] = np.concatenate(columns)[order]
    return ChurnRecords(**values)


def _reasons_part(
    ds: Dataset,
    at: np.datetime64,
    classifiers: Sequence[ChurnReasonClassifier] | None,
    activity_kinds: Sequence[str] | None,
    recent_days: float,
) -> tuple[int, dict[str, tuple[int, float]]]:
    rec = _records_part(ds, at, classifiers, activity_kinds, recent_days)
    from custsuccess.churn.analysis import reason_distribution as single

    dist = single(rec)
    return len(rec), {
        str(r): (int(c), float(m))
        for r, c, m in zip(dist.reason.tolist(), dist.count.tolist(), dist.mrr_lost.tolist(),
                           strict=True)
    }


def reason_distribution(
    dataset: PartitionedDataset,
    as_of: Moment,
    *,
    classifiers: Sequence[ChurnReasonClassifier] | None = None,
    activity_kinds: Sequence[str] | None = None,
    recent_days: float = 90.0,
) -> ReasonDistribution:
    """:func:`custsuccess.churn.reason_distribution` of the churn records of the whole
    dataset, from per-partition counts and lost MRR per reason (no records gathered)."""
    from custsuccess.churn.analysis import ReasonDistribution

    pds = _check(dataset, "reason_distribution")
    at = to_datetime64(as_of, "as_of")
    parts = compute(
        *pds.map(_reasons_part, at, classifiers, activity_kinds, float(recent_days))
    )
    churners = sum(n for n, _ in parts)
    count: dict[str, int] = {}
    mrr: dict[str, float] = {}
    for _, table in parts:
        for reason, (c, m) in table.items():
            count[reason] = count.get(reason, 0) + c
            mrr[reason] = mrr.get(reason, 0.0) + m
    names = sorted(count, key=lambda r: (-count[r], r))
    counts = np.array([count[r] for r in names], dtype=np.int64)
    lost = np.array([mrr[r] for r in names], dtype=np.float64)
    total = float(lost.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        share = counts / churners if churners else np.zeros(0)
        mrr_share = lost / total if total > 0 else np.full(len(names), np.nan)
    return ReasonDistribution(np.array(names, dtype=object), counts, share, lost, mrr_share)


# --------------------------------------------------------------------------- survival


@attrs.frozen(slots=True, eq=False)
class EventTable:
    """Survival data reduced to what the estimators read: per distinct ``time``
    (ascending), ``removed`` subjects whose duration is that time and ``events`` of
    them observed (the rest censored)."""

    time: F64
    removed: I64
    events: I64

    @classmethod
    def of(cls, durations: F64, observed: npt.NDArray[np.bool_]) -> EventTable:
        time, inverse = np.unique(durations, return_inverse=True)
        inverse = inverse.reshape(-1)
        removed = np.bincount(inverse, minlength=time.size).astype(np.int64)
        events = np.bincount(inverse, weights=observed, minlength=time.size).astype(np.int64)
        return cls(time, removed, events)

    @classmethod
    def sum(cls, tables: Sequence[EventTable]) -> EventTable:
        """The table of the union of the tables' subjects."""
        if not tables:
            return cls(np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64))
        time, inverse = np.unique(np.concatenate([t.time for t in tables]), return_inverse=True)
        inverse = inverse.reshape(-1)
        removed = np.bincount(
            inverse, weights=np.concatenate([t.removed for t in tables]), minlength=time.size
        )
        events = np.bincount(
            inverse, weights=np.concatenate([t.events for t in tables]), minlength=time.size
        )
        return cls(time, removed.astype(np.int64), events.astype(np.int64))

    @property
    def n(self) -> int:
        return int(self.removed.sum())


def _lifetime_part(ds: Dataset, at: np.datetime64, by: str | None) -> dict[str, EventTable]:
    from custsuccess.churn.survival import lifetimes_from

    life = lifetimes_from(ds, at)
    if by is None:
        return {"": EventTable.of(life.durations, life.observed)}
    column: Categorical = getattr(life, by)
    labels = np.array([*column.categories, "(none)"], dtype=object)[column.codes]
    return {
        str(label): EventTable.of(life.durations[labels == label], life.observed[labels == label])
        for label in np.unique(labels.astype(str))
    }


def lifetime_table(
    dataset: PartitionedDataset, as_of: Moment, *, by: Literal["segment", "plan"] | None = None
) -> dict[str, EventTable]:
    """The summed event tables of the customer lifetimes of
    :func:`custsuccess.churn.survival.lifetimes_from` (one per ``by`` label; key ``""``
    without ``by``)."""
    pds = _check(dataset, "lifetime_table")
    if by not in (None, "segment", "plan"):
        raise ValidationError(f"by must be 'segment', 'plan' or None, got {by!r}")
    at = to_datetime64(as_of, "as_of")
    parts = compute(*pds.map(_lifetime_part, at, by))
    labels = sorted({k for p in parts for k in p})
    return {k: EventTable.sum([p[k] for p in parts if k in p]) for k in labels}


def km_from_table(table: EventTable, *, alpha: float = 0.05) -> KaplanMeier:
    """The Kaplan-Meier curve of an event table: the formulas of
    :func:`custsuccess.churn.survival.kaplan_meier` on the counts."""
    from custsuccess.churn.survival import KaplanMeier, _alpha

    alpha = _alpha(alpha)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    # time 0 is always on the timeline (S(0) = 1), with whatever ends there
    if table.time.size and table.time[0] == 0.0:
        timeline, removed, events = table.time, table.removed, table.events
    else:
        timeline = np.concatenate([[0.0], table.time])
        removed = np.concatenate([[0], table.removed]).astype(np.int64)
        events = np.concatenate([[0], table.events]).astype(np.int64)
    at_risk = table.n - np.r_[0, np.cumsum(removed)[:-1]].astype(np.int64)
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


def kaplan_meier(
    dataset: PartitionedDataset,
    as_of: Moment,
    *,
    alpha: float = 0.05,
    by: Literal["segment", "plan"] | None = None,
) -> KaplanMeier | dict[str, KaplanMeier]:
    """The Kaplan-Meier curve of the customer lifetimes as of ``as_of``
    (``lifetimes_from(dataset, as_of).kaplan_meier()`` on one machine), or one curve per
    ``by`` label (``kaplan_meier_by``), from summed event tables."""
    tables = lifetime_table(dataset, as_of, by=by)
    if by is None:
        return km_from_table(tables.get("", EventTable.sum([])), alpha=alpha)
    return {label: km_from_table(t, alpha=alpha) for label, t in tables.items()}


def logrank_from_tables(a: EventTable, b: EventTable) -> LogRankResult:
    """The two-sample log-rank test of :func:`custsuccess.churn.survival.logrank_test`
    from the two groups' event tables."""
    from scipy.special import chdtrc

    from custsuccess.churn.survival import LogRankResult

    if not a.n or not b.n:
        raise ValidationError("logrank_test needs at least one subject in each group")
    times = np.unique(np.concatenate([a.time[a.events > 0], b.time[b.events > 0]]))

    def at_risk(t: EventTable) -> I64:
        before = np.concatenate([[0], np.cumsum(t.removed)])
        return t.n - before[np.searchsorted(t.time, times, side="left")]

    def deaths(t: EventTable) -> I64:
        pos = np.searchsorted(t.time, times)
        hit = (pos < t.time.size) & (t.time[np.minimum(pos, t.time.size - 1)] == times)
        return np.where(hit, t.events[np.minimum(pos, t.time.size - 1)], 0)

    n_a, n_b = at_risk(a), at_risk(b)
    d_a, d_b = deaths(a), deaths(b)
    n = (n_a + n_b).astype(np.float64)
    d = (d_a + d_b).astype(np.float64)
    share = n_a / n
    expected_a = float(np.sum(d * share))
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = np.where(n > 1, (n - d) / (n - 1), 0.0)
    variance = float(np.sum(d * share * (1 - share) * correction))
    observed_a = float(d_a.sum())
    if variance <= 0:
        raise ValidationError(
            "logrank_test: the variance is 0 (no event with subjects at risk in both "
            "groups), the test is undefined"
        )
    statistic = (observed_a - expected_a) ** 2 / variance
    total = float(d.sum())
    return LogRankResult(
        float(statistic),
        float(chdtrc(1, statistic)),
        (observed_a, float(d_b.sum())),
        (expected_a, total - expected_a),
    )


def logrank_test(
    dataset: PartitionedDataset,
    as_of: Moment,
    *,
    by: Literal["segment", "plan"],
    a: str,
    b: str,
) -> LogRankResult:
    """Log-rank test of the lifetimes of customers labelled ``a`` against ``b`` in
    column ``by`` (``"(none)"`` for a missing label), from summed event tables."""
    tables = lifetime_table(dataset, as_of, by=by)
    for label in (a, b):
        if label not in tables:
            raise ValidationError(
                f"no subscribed customer has {by} {label!r}; labels: {sorted(tables)}"
            )
    return logrank_from_tables(tables[a], tables[b])


# --------------------------------------------------------------------------- RFM and CLV


def _rfm_part(ds: Dataset, end: np.datetime64, period: str, multiplier: float) -> RFMSummary:
    return _rfm_single(ds, end, period=period, freq_multiplier=multiplier)


def rfm_from_dataset(
    dataset: PartitionedDataset,
    observation_end: Moment,
    *,
    period: str = "D",
    freq_multiplier: float = 1,
) -> RFMSummary:
    """:func:`custsuccess.clv.rfm_from_dataset` of the whole dataset (every customer's
    row is computed in its partition; the rows are gathered in customer-id order)."""
    pds = _check(dataset, "rfm_from_dataset")
    end = to_datetime64(observation_end, "observation_end")
    parts = compute(*pds.map(_rfm_part, end, period, float(freq_multiplier)))
    ids = np.concatenate([p.customer_id for p in parts])
    order = np.argsort(ids, kind="stable")
    money = [p.monetary_value for p in parts]
    merged: RFMSummary = attrs.evolve(
        parts[0],
        customer_id=ids[order],
        frequency=np.concatenate([p.frequency for p in parts])[order],
        recency=np.concatenate([p.recency for p in parts])[order],
        T=np.concatenate([p.T for p in parts])[order],
        monetary_value=None if any(m is None for m in money)
        else np.concatenate([m for m in money if m is not None])[order],
    )
    return merged


def _distinct(columns: Sequence[F64], weights: F64) -> tuple[list[F64], F64]:
    """Identical rows merged, their weights summed, rows in lexicographic order."""
    if not columns[0].size:
        return [c.copy() for c in columns], weights.copy()
    keys = np.stack(columns, axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    w = np.bincount(inverse.reshape(-1), weights=weights, minlength=uniq.shape[0])
    return [uniq[:, j].copy() for j in range(uniq.shape[1])], w.astype(np.float64)


def _rfm_rows(
    ds: Dataset, end: np.datetime64, period: str, multiplier: float, repeat_spend: bool
) -> tuple[list[F64], F64]:
    rfm = _rfm_single(ds, end, period=period, freq_multiplier=multiplier)
    if repeat_spend:
        rfm = rfm.repeat_buyers()
        if rfm.monetary_value is None:
            raise ValidationError("purchase events carry no amounts: no Gamma-Gamma fit")
        cols = [rfm.frequency, rfm.monetary_value]
    else:
        cols = [rfm.frequency, rfm.recency, rfm.T]
    return _distinct(cols, np.ones(len(rfm)))


def rfm_rows(
    dataset: PartitionedDataset,
    observation_end: Moment,
    *,
    period: str = "D",
    freq_multiplier: float = 1,
    repeat_spend: bool = False,
) -> tuple[list[F64], F64]:
    """The distinct RFM rows of the whole dataset with their counts: ``(frequency,
    recency, T)``, or with ``repeat_spend`` the repeat buyers' ``(frequency,
    monetary_value)``. The per-customer likelihoods of the CLV models are summed over
    exactly these rows."""
    pds = _check(dataset, "rfm_rows")
    end = to_datetime64(observation_end, "observation_end")
    parts = compute(
        *pds.map(_rfm_rows, end, period, float(freq_multiplier), bool(repeat_spend))
    )
    k = len(parts[0][0])
    columns = [np.concatenate([p[0][j] for p in parts]) for j in range(k)]
    return _distinct(columns, np.concatenate([p[1] for p in parts]))


def fit_beta_geo(
    dataset: PartitionedDataset,
    observation_end: Moment,
    *,
    period: str = "D",
    freq_multiplier: float = 1,
    penalizer: float = 0.0,
    **fit_options: Any,
) -> BetaGeoModel:
    """A :class:`~custsuccess.clv.BetaGeoModel` fitted on every customer's RFM row,
    from the partitions' distinct rows and counts."""
    (x, t_x, age), w = rfm_rows(
        dataset, observation_end, period=period, freq_multiplier=freq_multiplier
    )
    return BetaGeoModel(penalizer=penalizer).fit(x, t_x, age, weights=w, **fit_options)


def fit_pareto_nbd(
    dataset: PartitionedDataset,
    observation_end: Moment,
    *,
    period: str = "D",
    freq_multiplier: float = 1,
    penalizer: float = 0.0,
    **fit_options: Any,
) -> ParetoNBDModel:
    """A :class:`~custsuccess.clv.ParetoNBDModel` fitted on every customer's RFM row,
    from the partitions' distinct rows and counts."""
    (x, t_x, age), w = rfm_rows(
        dataset, observation_end, period=period, freq_multiplier=freq_multiplier
    )
    return ParetoNBDModel(penalizer=penalizer).fit(x, t_x, age, weights=w, **fit_options)


def fit_gamma_gamma(
    dataset: PartitionedDataset,
    observation_end: Moment,
    *,
    period: str = "D",
    freq_multiplier: float = 1,
    penalizer: float = 0.0,
    **fit_options: Any,
) -> GammaGammaModel:
    """A :class:`~custsuccess.clv.GammaGammaModel` fitted on the repeat buyers' spend,
    from the partitions' distinct ``(frequency, monetary_value)`` rows and counts."""
    (x, m), w = rfm_rows(
        dataset,
        observation_end,
        period=period,
        freq_multiplier=freq_multiplier,
        repeat_spend=True,
    )
    return GammaGammaModel(penalizer=penalizer).fit(x, m, weights=w, **fit_options)

