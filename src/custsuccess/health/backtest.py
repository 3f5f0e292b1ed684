"""How well a health model predicts churn on history: :func:`backtest`.

Score the accounts as they stood at ``as_of`` (seeing nothing later), then look at what
happened next: an account *churned* when it had a subscription running at ``as_of`` and
none running ``horizon_days`` later. The result gives the ROC AUC of the score (ranked
as risk: the lower the score, the higher the risk), the churn rate per tier and the lift
of the poor tier over the good tier.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import Dataset, to_datetime64
from custsuccess.errors import ValidationError
from custsuccess.health.model import HealthModel
from custsuccess.health.report import TIERS, HealthReport

if TYPE_CHECKING:
    from custsuccess.distributed.dataset import PartitionedDataset

__all__ = ["BacktestResult", "backtest", "roc_auc"]


def _average_ranks(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """1-based ranks of ``x``, ties sharing the mean of their ranks (no NaN allowed)."""
    n = x.size
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new = np.empty(n, dtype=bool)
    if n:
        new[0] = True
        new[1:] = xs[1:] != xs[:-1]
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)  # exclusive
    group_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def roc_auc(positive: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Area under the ROC curve of ``risk`` for the boolean labels ``positive``.

    The probability that a random positive has a higher ``risk`` than a random negative,
    ties counting half (the Mann-Whitney U statistic over ``n_pos * n_neg``), computed
    from average ranks::

        AUC = (sum of the positives' ranks - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)

    NaN when either class is empty.

    >>> roc_auc([False, True, False, True, True], [10, 20, 30, 40, 50])
    0.833...
    """
    y = np.asarray(positive, dtype=bool)
    r = np.asarray(risk, dtype=np.float64)
    if y.shape != r.shape or y.ndim != 1:
        raise ValidationError(
            f"roc_auc: labels and risk must be 1-D of one length, got {y.shape} and {r.shape}"
        )
    if np.isnan(r).any():
        raise ValidationError(f"roc_auc: risk has NaN at row {int(np.flatnonzero(np.isnan(r))[0])}")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(r)
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


@attrs.frozen(slots=True, eq=False)
class BacktestResult:
    """What :func:`backtest` found.

    ``auc``: ROC AUC of ``100 - score`` for churn; ``churn_rate``: overall; ``tiers``:
    per tier, ``{"accounts": n, "churned": k, "churn_rate": k / n}`` (rate NaN when
    ``n == 0``); ``lift``: poor-tier churn rate over good-tier churn rate (inf when the
    good tier has no churn and the poor tier has some); ``churned``: the label of each
    account of ``report``; ``report``: the health report at ``as_of``.
    """

    as_of: np.datetime64
    horizon_days: float
    n_accounts: int
    n_churned: int
    churn_rate: float
    auc: float
    tiers: dict[str, dict[str, float]]
    lift: float
    churned: npt.NDArray[np.bool_]
    report: HealthReport = attrs.field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (no arrays)."""
        return {
            "as_of": str(self.as_of) + "Z",
            "horizon_days": self.horizon_days,
            "n_accounts": self.n_accounts,
            "n_churned": self.n_churned,
            "churn_rate": self.churn_rate,
            "auc": self.auc,
            "tiers": self.tiers,
            "lift": self.lift,
        }

    def __str__(self) -> str:
        lines = [
            f"backtest at {self.as_of}Z, horizon {self.horizon_days:g} days: "
            f"{self.n_accounts} accounts, {self.n_churned} churned ({self.churn_rate:.1%})",
            f"  ROC AUC {self.auc:.3f}, lift poor/good {self.lift:.2f}",
        ]
        for tier, row in self.tiers.items():
            lines.append(
                f"  {tier:<8} {int(row['accounts']):>8} accounts  churn {row['churn_rate']:.1%}"
            )
        return "\n".join(lines)


def backtest(
    model: HealthModel,
    dataset: Dataset | PartitionedDataset,
    as_of: datetime | np.datetime64 | str,
    horizon_days: float = 90.0,
) -> BacktestResult:
    """Score at ``as_of`` and measure how well the score predicts churn within
    ``(as_of, as_of + horizon_days]``.

    The accounts are those the model scores at ``as_of`` that have a subscription running
    then; scoring sees ``dataset.until(as_of)`` only, so later cancellations cannot leak
    into the scores. ``as_of + horizon_days`` must not be after the last moment in the
    data (the labels would be censored).

    A :class:`~custsuccess.distributed.PartitionedDataset` is scored and labelled
    partition by partition on its Dask workers, with the same result.
    """
    if getattr(dataset, "_custsuccess_partitioned", False):
        from custsuccess.distributed.health import backtest as backtest_partitioned

        return backtest_partitioned(model, dataset, as_of, horizon_days)  # type: ignore[arg-type]
    if not isinstance(model, HealthModel):
        raise ValidationError(f"backtest: model must be a HealthModel, got {type(model).__name__}")
    if not isinstance(dataset, Dataset):
        raise ValidationError(f"backtest: dataset must be a Dataset, got {type(dataset).__name__}")
    if (
        isinstance(horizon_days, bool)
        or not isinstance(horizon_days, (int, float))
        or not math.isfinite(horizon_days)
        or horizon_days <= 0
    ):
        raise ValidationError(f"backtest: horizon_days must be a number > 0, got {horizon_days!r}")
    t = to_datetime64(as_of, "as_of")
    end = t + np.timedelta64(round(horizon_days * 86_400_000_000), "us")
    hi = dataset.window[1]
    if hi is not None and hi <= end:
        raise ValidationError(
            f"backtest: the dataset is a view ending at {hi}, before as_of + horizon ({end}); "
            "pass the full dataset"
        )
    latest = _latest(dataset)
    if latest is None or end > latest:
        raise ValidationError(
            f"backtest: as_of + horizon_days ({end}Z) is after the last moment in the data "
            f"({latest}Z): churn in the horizon cannot be known"
        )
    report = model.score(dataset, t)
    subs = dataset.until(end).subscriptions
    n = dataset.n_customers
    running_then = np.zeros(n, dtype=bool)
    running_then[subs.customer[subs.active_at(t)]] = True
    running_end = np.zeros(n, dtype=bool)
    running_end[subs.customer[subs.active_at(end)]] = True
    keep = running_then[report.index] & ~np.isnan(report.score)
    report = report.take(np.flatnonzero(keep))
    churned = ~running_end[report.index]
    m = len(report)
    k = int(churned.sum())
    tiers: dict[str, dict[str, float]] = {}
    for code, name in enumerate(TIERS):
        in_tier = report.tier_code == code
        accounts = int(in_tier.sum())
        lost = int((churned & in_tier).sum())
        tiers[name] = {
            "accounts": accounts,
            "churned": lost,
            "churn_rate": lost / accounts if accounts else math.nan,
        }
    good, poor = tiers["good"]["churn_rate"], tiers["poor"]["churn_rate"]
    if math.isnan(good) or math.isnan(poor):
        lift = math.nan
    elif good == 0:
        lift = math.inf if poor > 0 else math.nan
    else:
        lift = poor / good
    return BacktestResult(
        as_of=t,
        horizon_days=float(horizon_days),
        n_accounts=m,
        n_churned=k,
        churn_rate=k / m if m else math.nan,
        auc=roc_auc(churned, 100.0 - report.score),
        tiers=tiers,
        lift=lift,
        churned=churned,
        report=report,
    )


def _latest(dataset: Dataset) -> np.datetime64 | None:
    """The last moment the dataset records (an event, a subscription start or end)."""
    candidates = []
    events = dataset.events
    if len(events):
        candidates.append(events.time.max())
    subs = dataset.subscriptions
    if len(subs):
        candidates.append(subs.started_at.max())
        ended = subs.ended_at[~np.isnat(subs.ended_at)]
        if ended.size:
            candidates.append(ended.max())
    if not candidates:
        return None
    latest: np.datetime64 = max(candidates)
    return latest
