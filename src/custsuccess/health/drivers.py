"""What moves churn, feature by feature: :func:`driver_analysis`.

The "metric cohort" view of the churn-analysis literature, before any model: for each
feature of :func:`~custsuccess.health.training_frame`, the accounts are cut into deciles
of the feature's value (as known at the observation date) and the churn rate within the
horizon is given per decile, with the feature's univariate ROC AUC (the probability that
a churner has a higher value than a retained account, ties half; below 0.5: churners have
lower values). Accounts without a value (a rule that does not apply) form their own group.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.health.backtest import roc_auc
from custsuccess.health.features import Moments, TrainingFrame, training_frame

if TYPE_CHECKING:
    import pandas as pd

    from custsuccess.dataset import Dataset
    from custsuccess.health.model import HealthModel

__all__ = ["Driver", "DriverAnalysis", "driver_analysis"]


@attrs.frozen(slots=True)
class Driver:
    """One feature's churn profile: ``auc`` (univariate, of the raw value), ``bins``
    (per decile of the value, low to high: ``low``, ``high``, ``accounts``, ``churn_rate``)
    and ``missing`` (accounts without a value and their churn rate)."""

    name: str
    label: str
    auc: float
    bins: tuple[dict[str, float], ...]
    missing: dict[str, float]

    @property
    def strength(self) -> float:
        """``|auc - 0.5|``: how well the feature alone separates churners."""
        return abs(self.auc - 0.5) if not math.isnan(self.auc) else 0.0


@attrs.frozen(slots=True, eq=False)
class DriverAnalysis:
    """Per feature churn by decile and univariate AUC, strongest first; ``frame`` is the
    training frame it was computed on."""

    drivers: tuple[Driver, ...]
    churn_rate: float
    n_rows: int
    frame: TrainingFrame = attrs.field(repr=False)

    def __getitem__(self, name: str) -> Driver:
        for d in self.drivers:
            if d.name == name:
                return d
        raise KeyError(name)

    def to_pandas(self) -> pd.DataFrame:
        """One row per feature: ``auc``, ``strength``, and the churn rate of the lowest and
        highest deciles."""
        import pandas as pd

        frame: pd.DataFrame = pd.DataFrame(
            {
                "feature": [d.name for d in self.drivers],
                "auc": [d.auc for d in self.drivers],
                "strength": [d.strength for d in self.drivers],
                "lowest_decile_churn": [d.bins[0]["churn_rate"] if d.bins else math.nan
                                        for d in self.drivers],
                "highest_decile_churn": [d.bins[-1]["churn_rate"] if d.bins else math.nan
                                         for d in self.drivers],
            }
        ).set_index("feature")
        return frame

    def __str__(self) -> str:
        lines = [f"driver analysis: {self.n_rows} accounts, churn {self.churn_rate:.1%}"]
        for d in self.drivers[:15]:
            lines.append(f"  {d.name:<34} AUC {d.auc:.3f}")
        return "\n".join(lines)


def _driver(name: str, label: str, x: npt.NDArray[np.float64], y: npt.NDArray[np.bool_],
            bins: int) -> Driver:
    present = ~np.isnan(x)
    xs, ys = x[present], y[present]
    auc = roc_auc(ys, xs) if xs.size else math.nan
    rows: list[dict[str, float]] = []
    if xs.size:
        order = np.argsort(xs, kind="stable")
        for part in np.array_split(order, bins):
            if part.size:
                rows.append({
                    "low": float(xs[part[0]]), "high": float(xs[part[-1]]),
                    "accounts": int(part.size), "churn_rate": float(ys[part].mean()),
                })  # fmt: skip
    k = int((~present).sum())
    missing = {"accounts": k, "churn_rate": float(y[~present].mean()) if k else math.nan}
    return Driver(name, label, auc, tuple(rows), missing)


def driver_analysis(
    dataset: Dataset,
    as_of: Moments | Iterable[Moments],
    horizon_days: float = 90.0,
    *,
    model: HealthModel | None = None,
    kinds: Sequence[str] | None = None,
    bins: int = 10,
) -> DriverAnalysis:
    """Churn rate by decile and univariate ROC AUC of every feature of
    :func:`~custsuccess.health.training_frame` at ``as_of`` (one date or several, pooled).
    """
    frame = training_frame(dataset, as_of, horizon_days, model=model, kinds=kinds)
    y = frame.churned
    drivers = [
        _driver(name, frame.specs[name].label, values, y, bins)
        for name, values in frame.features.items()
    ]
    drivers.sort(key=lambda d: -d.strength)
    rate = float(y.mean()) if len(frame) else math.nan
    return DriverAnalysis(tuple(drivers), rate, len(frame), frame)


