"""Health scores on a :class:`~custsuccess.distributed.dataset.PartitionedDataset`.

Every partition is scored on its worker by the same :meth:`HealthModel.score` as on one
machine (the model rebuilt there from a :class:`~custsuccess.distributed._specs.ModelSpec`);
an account's score depends only on its own rows, which all sit in its partition, so the
scores are the single-machine scores bit for bit. The per-partition reports stay on the
workers; :class:`DistributedHealthReport` answers from them with small reductions:
tier counts are summed, :meth:`~DistributedHealthReport.at_risk` takes each partition's
``n`` lowest and keeps the ``n`` lowest of those, :meth:`~DistributedHealthReport.explain`
asks the one partition that holds the account.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import Dataset, to_datetime64
from custsuccess.distributed._dask import Delayed, compute, delayed, persist
from custsuccess.distributed._hashing import bucket_of
from custsuccess.distributed._specs import ModelSpec, build_model, model_spec
from custsuccess.distributed.dataset import PartitionedDataset
from custsuccess.errors import ValidationError
from custsuccess.health.backtest import BacktestResult, _figures
from custsuccess.health.report import TIERS, UNSCORED, Explanation, HealthReport
from custsuccess.typing import Reasons

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

    from custsuccess.health.model import HealthModel
    from custsuccess.plugins import Registry

__all__ = ["DistributedHealthReport", "backtest", "concat_reports", "score"]


# --------------------------------------------------------------------------- merging


def _concat_reasons(parts: Sequence[Reasons]) -> Reasons:
    templates: list[str] = []
    position: dict[str, int] = {}
    codes = []
    for r in parts:
        remap = np.empty(len(r.templates) + 1, dtype=np.int64)
        remap[-1] = -1  # code -1 (no reason) stays -1
        for i, text in enumerate(r.templates):
            if text not in position:
                position[text] = len(templates)
                templates.append(text)
            remap[i] = position[text]
        codes.append(remap[np.asarray(r.codes, dtype=np.int64)])
    keys = sorted({k for r in parts for k in r.details})
    details: dict[str, npt.NDArray[Any]] = {}
    for key in keys:
        columns = [
            r.details[key] if key in r.details else np.full(len(r), None, dtype=object)
            for r in parts
        ]
        details[key] = np.concatenate(columns)
    all_codes = np.concatenate(codes) if codes else np.empty(0, np.int64)
    return Reasons(tuple(templates), all_codes, details)


def compact(report: HealthReport) -> HealthReport:
    """``report`` with its reasons cut to its own rows and without the dataset it was
    scored from (what crosses the network)."""
    return attrs.evolve(
        report,
        rule_reasons=report.reasons,
        reason_rows=np.arange(len(report), dtype=np.intp),
        registry=None,
        dataset=None,
    )


def _joined(parts: Sequence[HealthReport], name: str, order: npt.NDArray[np.intp]) -> Any:
    """The optional per-row field ``name`` of the reports, joined (None when absent)."""
    columns = [getattr(p, name) for p in parts]
    if any(c is None for c in columns):
        return None
    return np.concatenate(columns)[order]


def _joined_features(
    parts: Sequence[HealthReport], order: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.float64], ...] | None:
    """The learned models' per-row feature columns of the reports, joined (None when
    absent)."""
    columns = [p.learned_features for p in parts]
    if any(c is None for c in columns):
        return None
    present = [c for c in columns if c is not None]
    return tuple(
        np.concatenate([c[j] for c in present])[order] for j in range(len(present[0]))
    )


def concat_reports(
    parts: Sequence[HealthReport],
    *,
    index: npt.NDArray[np.intp] | None = None,
    registry: Registry | None = None,
) -> HealthReport:
    """The reports of disjoint customer sets as one report in customer-id order.

    ``index`` gives the merged rows' customer indexes in the whole dataset (default: the
    row numbers).
    """
    if not parts:
        raise ValidationError("concat_reports needs at least one report")
    first = parts[0]
    for p in parts[1:]:
        if p.rule_names != first.rule_names or p.playbooks != first.playbooks:
            raise ValidationError("reports of different models cannot be merged")
    parts = [compact(p) for p in parts]
    ids = np.concatenate([p.customer_ids for p in parts])
    order = np.argsort(ids, kind="stable")
    k = len(first.rule_names)
    m = ids.size
    reasons = tuple(
        _concat_reasons([p.rule_reasons[j] for p in parts]).take(order) for j in range(k)
    )
    return HealthReport(
        as_of=first.as_of,
        customer_ids=ids[order],
        index=np.arange(m, dtype=np.intp) if index is None else index,
        score=np.concatenate([p.score for p in parts])[order],
        tier_code=np.concatenate([p.tier_code for p in parts])[order],
        rule_names=first.rule_names,
        weights=first.weights,
        rule_scores=np.concatenate([p.rule_scores for p in parts])[order],
        contributions=np.concatenate([p.contributions for p in parts])[order],
        rule_reasons=reasons,
        reason_rows=np.arange(m, dtype=np.intp),
        good=first.good,
        poor=first.poor,
        playbooks=first.playbooks,
        recommended=np.concatenate([p.recommended for p in parts])[order],
        registry=registry,
        churn_probability=_joined(parts, "churn_probability", order),
        learned_features=_joined_features(parts, order),
        learned_segment=_joined(parts, "learned_segment", order),
        scorer=first.scorer,
    )


def _rank(ds: Dataset, wanted: npt.NDArray[np.str_]) -> npt.NDArray[np.int64]:
    """How many of this partition's customers sort before each of ``wanted``."""
    return np.searchsorted(ds.customer_ids, wanted).astype(np.int64)


def global_index(pds: PartitionedDataset, ids: npt.NDArray[np.str_]) -> npt.NDArray[np.intp]:
    """Customer indexes of ``ids`` in the whole dataset (its customers in id order),
    summed from each partition's count of smaller ids."""
    ranks = compute(*pds.map(_rank, ids))
    total = np.zeros(ids.size, dtype=np.int64)
    for r in ranks:
        total += r
    return total.astype(np.intp)


# --------------------------------------------------------------------------- worker side


def _score(ds: Dataset, spec: ModelSpec, t: np.datetime64, include_churned: bool) -> HealthReport:
    return build_model(spec).score(ds, t, include_churned=include_churned)


def _tier_counts(report: HealthReport) -> npt.NDArray[np.int64]:
    return np.bincount(report.tier_code, minlength=4).astype(np.int64)


def _at_risk(report: HealthReport, n: int) -> HealthReport:
    return compact(report.at_risk(n))


def _explain(report: HealthReport, customer_id: str) -> Explanation | None:
    ids = report.customer_ids
    i = int(np.searchsorted(ids, customer_id)) if ids.size else 0
    if i < ids.size and ids[i] == customer_id:
        return report.explain(customer_id)
    return None


def _frame(report: HealthReport) -> pd.DataFrame:
    frame = report.to_pandas()
    for j, name in enumerate(report.rule_names):
        frame[f"{name}:contribution"] = report.contributions[:, j]
    probability = getattr(report, "churn_probability", None)
    if probability is not None:
        frame["churn_probability"] = probability
    return frame


# --------------------------------------------------------------------------- the report


class DistributedHealthReport:
    """A health report whose rows stay on the workers, one report per partition.

    The answers equal those of the single-machine :class:`HealthReport` of the whole
    dataset: :meth:`tier_counts` (summed counts), :meth:`at_risk` (a top-n reduction),
    :meth:`explain` (one partition asked), :meth:`to_dask` (a Dask DataFrame, one
    partition per report) and :meth:`compute` (the whole report gathered, in customer-id
    order, for data that fits the client).
    """

    __slots__ = ("_as_of", "_dataset", "_registry", "_reports", "_rule_names")

    def __init__(
        self,
        reports: Sequence[Delayed],
        dataset: PartitionedDataset,
        as_of: np.datetime64,
        rule_names: tuple[str, ...],
        registry: Registry | None = None,
    ) -> None:
        self._reports = tuple(reports)
        self._dataset = dataset
        self._as_of = as_of
        self._rule_names = rule_names
        self._registry = registry

    @property
    def as_of(self) -> np.datetime64:
        return self._as_of

    @property
    def rule_names(self) -> tuple[str, ...]:
        return self._rule_names

    @property
    def partitions(self) -> tuple[Delayed, ...]:
        """One Delayed :class:`HealthReport` per partition."""
        return self._reports

    def __len__(self) -> int:
        return sum(int(n) for n in compute(*[delayed(len)(r) for r in self._reports]))

    def __repr__(self) -> str:
        return (
            f"<DistributedHealthReport as_of={self._as_of} npartitions={len(self._reports)}>"
        )

    def tier_counts(self) -> dict[str, int]:
        """Accounts per tier, as :meth:`HealthReport.tier_counts`."""
        call = delayed(_tier_counts, pure=True)
        counts = np.sum(compute(*[call(r) for r in self._reports]), axis=0)
        out = {name: int(counts[i]) for i, name in enumerate(TIERS)}
        if counts[UNSCORED]:
            out["unscored"] = int(counts[UNSCORED])
        return out

    def at_risk(self, n: int = 10) -> HealthReport:
        """The ``n`` lowest-scored accounts, lowest first (ties by customer id), as
        :meth:`HealthReport.at_risk`: each partition sends its own ``n`` lowest."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValidationError(f"at_risk(n): n must be an int >= 0, got {n!r}")
        call = delayed(_at_risk, pure=True)
        tops = compute(*[call(r, int(n)) for r in self._reports])
        merged = concat_reports(list(tops), registry=self._registry).at_risk(int(n))
        return attrs.evolve(merged, index=global_index(self._dataset, merged.customer_ids))

    def explain(self, customer_id: str) -> Explanation:
        """Why ``customer_id`` has its score (asks only the partition that holds it)."""
        if not isinstance(customer_id, str):
            raise ValidationError(f"customer_id must be a str, got {customer_id!r}")
        p = int(bucket_of([customer_id], len(self._reports))[0])
        (found,) = compute(delayed(_explain, pure=True)(self._reports[p], customer_id))
        if found is None:
            raise ValidationError(
                f"customer {customer_id!r} is not in this health report (customers created "
                "after as_of and churned customers are left out)"
            )
        result: Explanation = found
        return result

    def to_dask(self) -> dd.DataFrame:
        """A Dask DataFrame indexed by ``customer_id``: ``score``, ``tier``, each rule's
        score (column named by the rule) and contribution (``<rule>:contribution``),
        ``playbooks`` and, for learned models, ``churn_probability``; one partition per
        dataset partition."""
        import dask.dataframe as dd

        call = delayed(_frame, pure=True)
        frames = [call(r) for r in self._reports]
        out: dd.DataFrame = dd.from_delayed(frames, verify_meta=False)
        return out

    def compute(self) -> HealthReport:
        """The whole report in this process, rows in customer-id order (a gather of
        every row: for data that fits the client)."""
        parts = compute(*[delayed(compact)(r) for r in self._reports])
        ids = compute(*self._dataset.map(_ids))
        everyone = np.sort(np.concatenate(ids))
        merged = concat_reports(list(parts), registry=self._registry)
        index = np.searchsorted(everyone, merged.customer_ids).astype(np.intp)
        return attrs.evolve(merged, index=index)


def _ids(ds: Dataset) -> npt.NDArray[np.str_]:
    return ds.customer_ids


def score(
    model: HealthModel,
    dataset: PartitionedDataset,
    as_of: datetime | np.datetime64 | str,
    *,
    include_churned: bool = False,
) -> DistributedHealthReport:
    """:meth:`HealthModel.score` on every partition; the reports are persisted (kept on
    the workers under a ``distributed.Client``) so later questions do not score again."""
    if not isinstance(dataset, PartitionedDataset):
        raise ValidationError(
            f"score(dataset, ...) needs a PartitionedDataset, got {type(dataset).__name__}"
        )
    t = to_datetime64(as_of, "as_of")
    spec = model_spec(model)
    # not pure: every call scores afresh (a report is a new computation, never one that
    # happens to be still in the workers' memory)
    call = delayed(_score, pure=False)
    reports = persist(*[call(p, spec, t, bool(include_churned)) for p in dataset.partitions])
    return DistributedHealthReport(reports, dataset, t, model.rule_names, model.registry)


# --------------------------------------------------------------------------- backtest


def _partition_latest(ds: Dataset) -> np.datetime64 | None:
    return ds.observation_end


def _backtest_partition(
    ds: Dataset, spec: ModelSpec, t: np.datetime64, end: np.datetime64
) -> tuple[HealthReport, npt.NDArray[np.bool_]]:
    report = build_model(spec).score(ds, t)
    subs = ds.until(end).subscriptions
    n = ds.n_customers
    running_then = np.zeros(n, dtype=bool)
    running_then[subs.customer[subs.active_at(t)]] = True
    running_end = np.zeros(n, dtype=bool)
    running_end[subs.customer[subs.active_at(end)]] = True
    keep = running_then[report.index] & ~np.isnan(report.score)
    report = compact(report.take(np.flatnonzero(keep)))
    return report, ~running_end[report.index]


def backtest(
    model: HealthModel,
    dataset: PartitionedDataset,
    as_of: datetime | np.datetime64 | str,
    horizon_days: float = 90.0,
) -> BacktestResult:
    """:func:`custsuccess.health.backtest.backtest` on a PartitionedDataset: each partition
    scores and labels its accounts; the client merges the labelled reports (in
    customer-id order, so the AUC is computed on the same arrays as on one machine)."""
    if not isinstance(dataset, PartitionedDataset):
        raise ValidationError(
            f"backtest: dataset must be a PartitionedDataset, got {type(dataset).__name__}"
        )
    if (
        isinstance(horizon_days, bool)
        or not isinstance(horizon_days, (int, float))
        or not math.isfinite(horizon_days)
        or horizon_days <= 0
    ):
        raise ValidationError(f"backtest: horizon_days must be a number > 0, got {horizon_days!r}")
    t = to_datetime64(as_of, "as_of")
    end = t + np.timedelta64(round(horizon_days * 86_400_000_000), "us")
    latest_parts = [x for x in compute(*dataset.map(_partition_latest)) if x is not None]
    latest = max(latest_parts) if latest_parts else None
    if latest is None or end > latest:
        raise ValidationError(
            f"backtest: as_of + horizon_days ({end}Z) is after the last moment in the data "
            f"({latest}Z): churn in the horizon cannot be known"
        )
    spec = model_spec(model)
    results = compute(*dataset.map(_backtest_partition, spec, t, end))
    report = concat_reports([r for r, _ in results], registry=model.registry)
    ids = np.concatenate([r.customer_ids for r, _ in results])
    churned = np.concatenate([c for _, c in results])[np.argsort(ids, kind="stable")]
    report = attrs.evolve(report, index=global_index(dataset, report.customer_ids))
    return _result(t, float(horizon_days), report, churned)


def _result(
    t: np.datetime64, horizon_days: float, report: HealthReport, churned: npt.NDArray[np.bool_]
) -> BacktestResult:
    figures = _figures(churned, report.score, report.tier_code, report.churn_probability)
    return BacktestResult(
        as_of=t, horizon_days=horizon_days, churned=churned, report=report, **figures
    )
