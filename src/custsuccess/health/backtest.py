"""How well a health model predicts churn on history: :func:`backtest`.

Score the accounts as they stood at ``as_of`` (seeing nothing later), then look at what
happened next: an account *churned* when it had a subscription running at ``as_of`` and
none running ``horizon_days`` later. The result gives the ROC AUC of the score (ranked
as risk: the lower the score, the higher the risk), the churn rate per tier and the lift
of the poor tier over the good tier.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import Dataset, require_dataset, to_datetime64
from custsuccess.errors import ValidationError
from custsuccess.health.model import HealthModel
from custsuccess.health.report import TIERS, HealthReport

if TYPE_CHECKING:
    from custsuccess.distributed.dataset import PartitionedDataset

__all__ = ["BacktestResult", "backtest", "calibration_table", "roc_auc", "top_decile_lift"]

Moment = datetime | np.datetime64 | str


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
    from custsuccess.metrics._validate import as_bool_array, as_float_array

    y = as_bool_array(positive, "roc_auc: labels")
    r = as_float_array(risk, "roc_auc: risk")
    if y.shape != r.shape:
        raise ValidationError(
            f"roc_auc: labels and risk must be 1-D of one length, got {y.shape} and {r.shape}"
        )
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(r)
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def calibration_table(
    churned: npt.NDArray[np.bool_], risk: npt.NDArray[np.float64],
    probability: npt.NDArray[np.float64] | None, bins: int = 10,
) -> list[dict[str, float]]:
    """Rows sorted by ``risk`` (ties by position) cut into ``bins`` groups of (almost)
    equal size, lowest risk first: per group ``accounts``, ``predicted`` (mean
    probability; NaN without one) and ``observed`` (churn rate)."""
    m = risk.size
    order = np.argsort(risk, kind="stable")
    out = []
    for part in np.array_split(order, bins) if m else []:
        if not part.size:
            continue
        out.append({
            "accounts": int(part.size),
            "predicted": float(probability[part].mean()) if probability is not None
            else math.nan,
            "observed": float(churned[part].mean()),
        })  # fmt: skip
    return out


def top_decile_lift(churned: npt.NDArray[np.bool_], risk: npt.NDArray[np.float64]) -> float:
    """Churn rate of the riskiest 10% (``ceil(n / 10)`` rows; ties by position) over the
    overall churn rate (NaN when nobody churned)."""
    m = risk.size
    base = float(churned.mean()) if m else math.nan
    if not m or base == 0:
        return math.nan
    top = np.argsort(-risk, kind="stable")[: -(-m // 10)]
    return float(churned[top].mean()) / base


@attrs.frozen(slots=True, eq=False)
class BacktestResult:
    """What :func:`backtest` found.

    ``auc``: ROC AUC of the risk (the churn probability of a learned model, else
    ``100 - score``) for churn; ``churn_rate``: overall; ``tiers``: per tier,
    ``{"accounts": n, "churned": k, "churn_rate": k / n}`` (rate NaN when ``n == 0``);
    ``lift``: poor-tier churn rate over good-tier churn rate (inf when the good tier has
    no churn and the poor tier has some); ``top_decile_lift``: churn rate of the riskiest
    10% over the overall rate; ``brier``: mean squared error of the churn probability
    (NaN for a model without one); ``calibration``: per decile of risk, the mean
    predicted probability and the observed churn rate; ``calibration_error``: the mean
    ``|predicted - observed|`` over the deciles; ``churned``: the label of each account
    of ``report``; ``report``: the health report at ``as_of`` (the last date when several
    were given); ``per_date``: with several dates, one result per date (the figures
    above are then pooled over all dates' rows).
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
    top_decile_lift: float = math.nan
    brier: float = math.nan
    calibration: tuple[dict[str, float], ...] = ()
    calibration_error: float = math.nan
    per_date: tuple[BacktestResult, ...] = attrs.field(default=(), repr=False)

    @property
    def dates(self) -> tuple[np.datetime64, ...]:
        """The observation dates (one unless several were given)."""
        return tuple(r.as_of for r in self.per_date) if self.per_date else (self.as_of,)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (no arrays)."""
        out: dict[str, Any] = {
            "as_of": str(self.as_of) + "Z",
            "horizon_days": self.horizon_days,
            "n_accounts": self.n_accounts,
            "n_churned": self.n_churned,
            "churn_rate": self.churn_rate,
            "auc": self.auc,
            "tiers": self.tiers,
            "lift": self.lift,
            "top_decile_lift": self.top_decile_lift,
            "brier": self.brier,
            "calibration": list(self.calibration),
            "calibration_error": self.calibration_error,
        }
        if self.per_date:
            out["per_date"] = [r.to_dict() for r in self.per_date]
        return out

    def _repr_html_(self) -> str:
        """Notebooks: the backtest's figures and the churn per tier, as tables."""
        from custsuccess._html import cell, table

        figures = [
            ["as of", cell(str(self.as_of) + "Z")], ["horizon (days)", cell(self.horizon_days)],
            ["accounts", cell(self.n_accounts)], ["churned", cell(self.n_churned)],
            ["churn rate", cell(self.churn_rate, "fraction")], ["ROC AUC", cell(self.auc)],
            ["lift poor/good", cell(self.lift)], ["top-decile lift", cell(self.top_decile_lift)],
        ]
        if not math.isnan(self.brier):
            figures.append(["Brier score", cell(self.brier)])
        tiers = [[t, cell(int(v["accounts"])), cell(int(v["churned"])),
                  cell(float(v["churn_rate"]), "fraction")] for t, v in self.tiers.items()]
        return (table("Backtest", ["figure", "value"], figures)
                + table("Churn per tier", ["tier", "accounts", "churned", "churn rate"], tiers))

    def __str__(self) -> str:
        when = (
            f"{len(self.per_date)} dates {self.per_date[0].as_of}Z .. {self.as_of}Z (pooled)"
            if self.per_date else f"{self.as_of}Z"
        )
        lines = [
            f"backtest at {when}, horizon {self.horizon_days:g} days: "
            f"{self.n_accounts} accounts, {self.n_churned} churned ({self.churn_rate:.1%})",
            f"  ROC AUC {self.auc:.3f}, lift poor/good {self.lift:.2f}, "
            f"top-decile lift {self.top_decile_lift:.2f}",
        ]
        if not math.isnan(self.brier):
            lines.append(
                f"  Brier {self.brier:.4f}, calibration error {self.calibration_error:.4f}"
            )
        for tier, row in self.tiers.items():
            lines.append(
                f"  {tier:<8} {int(row['accounts']):>8} accounts  churn {row['churn_rate']:.1%}"
            )
        for r in self.per_date:
            lines.append(f"  {r.as_of}Z: ROC AUC {r.auc:.3f}, {r.n_accounts} accounts, "
                         f"churn {r.churn_rate:.1%}")
        return "\n".join(lines)


def backtest(
    model: HealthModel,
    dataset: Dataset | PartitionedDataset,
    as_of: Moment | Iterable[Moment],
    horizon_days: float = 90.0,
) -> BacktestResult:
    """Score at ``as_of`` and measure how well the score predicts churn within
    ``(as_of, as_of + horizon_days]``.

    The accounts are those the model scores at ``as_of`` that have a subscription running
    then; scoring sees ``dataset.until(as_of)`` only, so later cancellations cannot leak
    into the scores. ``as_of + horizon_days`` must not be after
    :attr:`Dataset.observation_end` (the labels would be censored).

    With several dates (rolling origin), each is scored and labelled on its own
    (``per_date``) and the figures are also pooled over all rows.

    A :class:`~custsuccess.distributed.PartitionedDataset` is scored and labelled
    partition by partition on its Dask workers, with the same result.
    """
    if getattr(dataset, "_custsuccess_partitioned", False):
        from custsuccess.distributed.health import backtest as backtest_partitioned

        return backtest_partitioned(model, dataset, as_of, horizon_days)  # type: ignore[arg-type]
    if not isinstance(model, HealthModel):
        raise ValidationError(f"backtest: model must be a HealthModel, got {type(model).__name__}")
    dataset = require_dataset(dataset, "dataset", "backtest()")
    if (
        isinstance(horizon_days, bool)
        or not isinstance(horizon_days, (int, float))
        or not math.isfinite(horizon_days)
        or horizon_days <= 0
    ):
        raise ValidationError(f"backtest: horizon_days must be a number > 0, got {horizon_days!r}")
    if isinstance(as_of, (str, datetime, np.datetime64)):
        return _one(model, dataset, to_datetime64(as_of, "as_of"), float(horizon_days))
    dates = sorted({to_datetime64(d, f"as_of[{i}]") for i, d in enumerate(as_of)})
    if not dates:
        raise ValidationError("backtest: as_of: give at least one date")
    results = [_one(model, dataset, t, float(horizon_days)) for t in dates]
    if len(results) == 1:
        return results[0]
    churned = np.concatenate([r.churned for r in results])
    score = np.concatenate([r.report.score for r in results])
    tier_code = np.concatenate([r.report.tier_code for r in results])
    probs = [r.report.churn_probability for r in results]
    probability = None if any(p is None for p in probs) else np.concatenate(
        [p for p in probs if p is not None]
    )
    pooled = _figures(churned, score, tier_code, probability)
    last = results[-1]
    return BacktestResult(
        as_of=last.as_of, horizon_days=float(horizon_days), churned=churned,
        report=last.report, per_date=tuple(results), **pooled,
    )  # fmt: skip


def _one(model: HealthModel, dataset: Dataset, t: np.datetime64, horizon: float) -> BacktestResult:
    end = t + np.timedelta64(round(horizon * 86_400_000_000), "us")
    hi = dataset.window[1]
    if hi is not None and hi <= end:
        raise ValidationError(
            f"backtest: the dataset is a view ending at {hi}, before as_of + horizon ({end}); "
            "pass the full dataset"
        )
    latest = dataset.observation_end
    if latest is None or end > latest:
        raise ValidationError(
            f"backtest: as_of + horizon_days ({end}Z) is after the last moment in the data "
            f"({latest}Z; Dataset.observation_end): churn in the horizon cannot be known"
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
    figures = _figures(churned, report.score, report.tier_code, report.churn_probability)
    return BacktestResult(
        as_of=t, horizon_days=horizon, churned=churned, report=report, **figures
    )


def _figures(
    churned: npt.NDArray[np.bool_],
    score: npt.NDArray[np.float64],
    tier_code: npt.NDArray[np.int8],
    probability: npt.NDArray[np.float64] | None,
) -> dict[str, Any]:
    m = churned.size
    k = int(churned.sum())
    tiers: dict[str, dict[str, float]] = {}
    for code, name in enumerate(TIERS):
        in_tier = tier_code == code
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
    risk = probability if probability is not None else 100.0 - score
    table = calibration_table(churned, risk, probability)
    if probability is not None and m:
        brier = float(np.mean((probability - churned) ** 2))
        cal_error = float(np.mean([abs(r["predicted"] - r["observed"]) for r in table]))
    else:
        brier = cal_error = math.nan
    return {
        "n_accounts": m,
        "n_churned": k,
        "churn_rate": k / m if m else math.nan,
        "auc": roc_auc(churned, risk),
        "tiers": tiers,
        "lift": lift,
        "top_decile_lift": top_decile_lift(churned, risk),
        "brier": brier,
        "calibration": tuple(table),
        "calibration_error": cal_error,
    }
