"""A health score learned from the data: :func:`learn` and :class:`LearnedScorer`.

The model is a regularised logistic regression of "churned within the horizon" on the
point-in-time features of :func:`~custsuccess.health.training_frame` (every rule's score
and behavioural metrics per event kind, custom kinds included):

* **Transform**: counts and durations (``FeatureSpec.transform == "log1p"``) become
  ``log1p(x)`` (their tails are fat); every feature is then standardised with the mean and
  standard deviation of the training rows. A missing value (a rule that does not apply, no
  NPS answer) is set to the training mean, and a 0/1 "missing" column is added for each
  feature that has missing values in training.
* **Fit**: with ``x_i`` a row (a leading 1 for the intercept), ``y_i`` its label,
  ``eta_i = x_i . beta``, the objective is the mean negative log-likelihood plus a ridge
  penalty on every coefficient but the intercept::

      J(beta) = (1 / n) * sum_i [log(1 + exp(eta_i)) - y_i * eta_i] + (penalty / 2) * |beta_1..|^2

  minimised by SciPy's L-BFGS-B (``scipy.optimize.minimize``) with the analytic gradient
  ``(1 / n) * X^T (p - y) + penalty * beta``. The penalty is chosen out of time by
  default: fitted on the earlier observation dates, scored (log-loss) on the latest ones.
  With ``segment_by``, segment ``s`` has
  ``beta + delta_s`` and the penalty gains ``(segment_penalty / 2) * sum_s |delta_s|^2``:
  a hierarchical (shrinkage) fit in which a small segment keeps coefficients near the
  global ones and a big one moves away from them only as far as its data says.
* **Probability and score**: ``p = 1 / (1 + exp(-eta))`` is the churn probability over
  the horizon (the intercept is not penalised, so on the training rows the mean of ``p``
  equals the churn rate); the score is ``100 / (1 + p / base_rate)``: 50 at the base rate,
  towards 100 as the risk falls, towards 0 as it rises.
* **Tiers** (the default rule, overridable): *poor* when the risk is at least
  ``poor_ratio`` (2) times the base rate, *good* when at most ``good_ratio`` (0.5) times it,
  i.e. score thresholds ``100 / (1 + ratio)``.
* **Explanation**: a feature's contribution to an account's log-odds against the
  population average is ``beta_j * (z_ij - mean_j(z))``, ``z`` the standardised value (its
  training mean is 0), plus the same for its missing column.

For distributed fitting the objective is a sum over rows, so a cluster evaluates
:func:`_loss_and_grad` on each partition's design chunk (see :func:`_design`) and adds the
results; the standardisation needs the sums of :func:`_moments` per partition. Both are
documented below and used by :func:`fit` itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from custsuccess.dataset import require_dataset
from custsuccess.errors import ValidationError
from custsuccess.health.features import (
    WINDOW_DAYS,
    FeatureSpec,
    Moments,
    TrainingFrame,
    training_frame,
)

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset
    from custsuccess.distributed.dataset import PartitionedDataset
    from custsuccess.health.model import HealthModel
    from custsuccess.plugins import Registry

__all__ = ["Design", "LearnedScorer", "fit", "learn"]

F64 = npt.NDArray[np.float64]

#: Default tier rule: poor at >= 2x the base rate's risk, good at <= 0.5x.
DEFAULT_POOR_RATIO: Final = 2.0
DEFAULT_GOOD_RATIO: Final = 0.5
DEFAULT_PENALTY: Final = 1e-3
DEFAULT_SEGMENT_PENALTY: Final = 0.05
_QUANTILES: Final = np.linspace(0.0, 1.0, 101)
#: The ridge penalties ``penalty="auto"`` chooses from (strongest first).
PENALTIES: Final = (1.0, 0.1, 0.01, 0.001)


def _minimise(design: Design, n_seg: int, penalty: float, segment_penalty: float,
              x0: F64, *, ftol: float = 1e-9) -> F64:
    """The parameters minimising the penalised mean negative log-likelihood (L-BFGS-B)."""
    n = design.x.shape[0]
    k = design.x.shape[1]

    def objective(params: F64) -> tuple[float, F64]:
        loss, grad = _loss_and_grad(params, design, n_seg)
        pen, pgrad = _penalty(params, k, penalty, segment_penalty)
        return loss / n + pen, grad / n + pgrad

    result = optimize.minimize(
        objective, x0, jac=True, method="L-BFGS-B",
        options={"maxiter": 1000, "ftol": ftol, "gtol": 1e-5},
    )
    out: F64 = result.x
    return out


#: Below this many churned training rows, ``penalty="auto"`` also weighs the compact
#: feature set (events per month of each kind, and tenure) against all features.
SCARCE_CHURNED: Final = 2_000
#: Rows the penalty is chosen on, at most (a seeded sample of each side): the choice
#: needs far fewer rows than the fit.
CHOOSE_ROWS: Final = 40_000


def _sample(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    if rows.size <= CHOOSE_ROWS:
        return rows
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(rows, CHOOSE_ROWS, replace=False))


def _choose_penalty(
    frame: TrainingFrame, design: Design, n_seg: int, segment_penalty: float, x0: F64
) -> tuple[float, dict[float, float], F64]:
    """The penalty of :data:`PENALTIES` with the best held-out log-loss (see :func:`fit`),
    the held-out log-loss of each, and the chosen fit (a warm start for the final one)."""
    dates = np.unique(frame.as_of)
    if dates.size < 2:
        return DEFAULT_PENALTY, {}, x0
    held = dates[-max(1, dates.size // 4) :]
    horizon = np.timedelta64(round(frame.horizon_days * 86_400_000_000), "us")
    train = frame.as_of + horizon <= held[0]
    test = frame.as_of >= held[0]
    y_tr, y_te = design.y[train], design.y[test]
    if not (0 < y_tr.sum() < y_tr.size and 0 < y_te.sum() < y_te.size):
        return DEFAULT_PENALTY, {}, x0
    train_rows, test_rows = _sample(np.flatnonzero(train)), _sample(np.flatnonzero(test))
    y_tr, y_te = design.y[train_rows], design.y[test_rows]
    if not (0 < y_tr.sum() < y_tr.size and 0 < y_te.sum() < y_te.size):
        return DEFAULT_PENALTY, {}, x0
    sub = Design(design.x[train_rows], y_tr, design.segment[train_rows])
    out = Design(design.x[test_rows], y_te, design.segment[test_rows])
    scores: dict[float, float] = {}
    fits: dict[float, F64] = {}
    start = x0
    for penalty in PENALTIES:  # strongest first: each fit starts from the previous one
        # a looser tolerance while choosing: the final fit is made to full precision
        start = fits[penalty] = _minimise(sub, n_seg, penalty, segment_penalty, start,
                                          ftol=1e-7)
        scores[penalty] = _loss_and_grad(start, out, n_seg)[0] / y_te.size
    best = min(scores, key=lambda p: (scores[p], -p))
    return best, scores, fits[best]


@attrs.frozen(slots=True, eq=False)
class Design:
    """A chunk of the design: ``x`` (rows x (1 + features), a leading column of ones),
    ``y`` (0/1 float labels) and ``segment`` (per row, the segment's position in the
    model's segment list, -1 for none / global)."""

    x: F64
    y: F64
    segment: npt.NDArray[np.intp]


def _moments(values: F64) -> tuple[F64, F64, F64]:
    """Per column of transformed ``values`` (rows x features, NaN missing): count, sum,
    sum of squares of the present values. Sums over partitions give the global mean and
    standard deviation exactly."""
    present = ~np.isnan(values)
    v = np.where(present, values, 0.0)
    return present.sum(axis=0).astype(np.float64), v.sum(axis=0), (v * v).sum(axis=0)


def _loss_and_grad(params: F64, chunk: Design, n_segments: int = 0) -> tuple[float, F64]:
    """The negative log-likelihood of ``chunk`` and its gradient, as sums over its rows
    (no penalty, not divided by n): add them over partitions, then divide by the total
    row count and add the penalty (:func:`_penalty`).

    ``params`` is ``beta`` (1 + features) followed by ``delta_s`` for each of the
    ``n_segments`` segments.
    """
    k = chunk.x.shape[1]
    eta = chunk.x @ params[:k]
    rows = [np.flatnonzero(chunk.segment == s) for s in range(n_segments)]
    for s, idx in enumerate(rows):
        if idx.size:
            eta[idx] += chunk.x[idx] @ params[k * (1 + s) : k * (2 + s)]
    # log(1 + exp(eta)) - y * eta, stable for big |eta|
    loss = float(np.sum(np.logaddexp(0.0, eta) - chunk.y * eta))
    r = special.expit(eta) - chunk.y
    grad = np.empty_like(params)
    grad[:k] = r @ chunk.x
    for s, idx in enumerate(rows):
        grad[k * (1 + s) : k * (2 + s)] = r[idx] @ chunk.x[idx] if idx.size else 0.0
    return loss, grad


def _penalty(params: F64, k: int, penalty: float, segment_penalty: float) -> tuple[float, F64]:
    """The ridge penalty and its gradient (the intercept ``params[0]`` is free)."""
    grad = np.zeros_like(params)
    grad[1:k] = penalty * params[1:k]
    grad[k:] = segment_penalty * params[k:]
    value = 0.5 * penalty * float(params[1:k] @ params[1:k])
    value += 0.5 * segment_penalty * float(params[k:] @ params[k:])
    return value, grad


@attrs.frozen(slots=True, eq=False)
class LearnedScorer:
    """The fitted part of a learned :class:`~custsuccess.health.HealthModel`.

    ``names``: the features used (``specs`` holds every feature the frame makes);
    ``center``/``scale``: the standardisation (after the transform); ``missing``: the
    features with a missing column; ``coef``: intercept, one coefficient per feature, one
    per missing column; ``segments``: per segment value, the coefficients (global plus
    shrunk offset); ``base_rate``: the training churn rate; ``quantiles``: per feature
    the training distribution (101 quantiles of the raw values) for the explanations.
    """

    horizon_days: float
    window_days: int
    kinds: tuple[str, ...]
    rule_names: tuple[str, ...]
    specs: tuple[FeatureSpec, ...]
    names: tuple[str, ...]
    center: F64
    scale: F64
    missing: tuple[str, ...]
    coef: F64
    base_rate: float
    quantiles: F64
    segment_by: str | None = None
    segments: Mapping[str, F64] = attrs.field(factory=dict)
    good_ratio: float = DEFAULT_GOOD_RATIO
    poor_ratio: float = DEFAULT_POOR_RATIO
    penalty: float = DEFAULT_PENALTY
    segment_penalty: float = DEFAULT_SEGMENT_PENALTY
    n_rows: int = 0
    validation: Mapping[float, float] = attrs.field(factory=dict)

    # ------------------------------------------------------------ thresholds

    @property
    def good_score(self) -> float:
        """Score threshold of the good tier: risk at most ``good_ratio`` x base rate."""
        return 100.0 / (1.0 + self.good_ratio)

    @property
    def poor_score(self) -> float:
        """Score threshold of the poor tier: risk at least ``poor_ratio`` x base rate."""
        return 100.0 / (1.0 + self.poor_ratio)

    def score_of(self, probability: F64) -> F64:
        """``100 / (1 + p / base_rate)``."""
        out: F64 = 100.0 / (1.0 + probability / self.base_rate)
        return out

    # ------------------------------------------------------------ design

    def _positions(self) -> npt.NDArray[np.intp]:
        order = {s.name: i for i, s in enumerate(self.specs)}
        return np.array([order[n] for n in self.names], dtype=np.intp)

    def transformed(self, columns: Sequence[F64]) -> F64:
        """The used features (rows x features), transformed, NaN where missing."""
        spec_of = {s.name: s for s in self.specs}
        pos = self._positions()
        m = columns[int(pos[0])].size if pos.size else 0
        out = np.empty((m, len(self.names)))
        for j, (name, p) in enumerate(zip(self.names, pos.tolist(), strict=True)):
            x = columns[p]
            if spec_of[name].transform == "log1p":
                with np.errstate(invalid="ignore"):
                    out[:, j] = np.log1p(np.maximum(x, 0.0))
                out[np.isnan(x), j] = np.nan
            else:
                out[:, j] = x
        return out

    def design(self, columns: Sequence[F64], segment: npt.NDArray[np.intp] | None = None,
               y: F64 | None = None) -> Design:
        """The design chunk of raw feature ``columns`` (in ``specs`` order)."""
        return _design(self.transformed(columns), self.center, self.scale,
                       self._missing_positions(), segment, y)

    def _missing_positions(self) -> npt.NDArray[np.intp]:
        return np.array([self.names.index(n) for n in self.missing], dtype=np.intp)

    def segment_codes(self, values: npt.NDArray[Any] | None, m: int) -> npt.NDArray[np.intp]:
        """Per row, the position of its segment in :attr:`segments` (-1: global)."""
        if not self.segments or values is None:
            return np.full(m, -1, dtype=np.intp)
        keys = list(self.segments)
        lookup = {k: i for i, k in enumerate(keys)}
        return np.array([lookup.get(str(v), -1) for v in values.tolist()], dtype=np.intp)

    def _params(self) -> F64:
        if not self.segments:
            return self.coef
        return np.concatenate([self.coef, *[c - self.coef for c in self.segments.values()]])

    def log_odds(self, design: Design) -> F64:
        coef = np.broadcast_to(self.coef, design.x.shape)
        if self.segments:
            has = design.segment >= 0
            if has.any():
                table = np.array(list(self.segments.values()))
                coef = coef.copy()
                coef[has] = table[design.segment[has]]
        out: F64 = np.einsum("ij,ij->i", design.x, coef)
        return out

    def log_odds_of(
        self, columns: Sequence[F64], segment: npt.NDArray[np.intp] | None = None
    ) -> F64:
        """The log-odds of raw feature ``columns`` (in ``specs`` order), one feature at a
        time: the same value as ``log_odds(design(columns))`` without building the
        (rows x features) design."""
        pos = self._positions()
        m = columns[int(pos[0])].size if pos.size else 0
        rows = None
        if self.segments and segment is not None and (segment >= 0).any():
            table = np.vstack([self.coef, *self.segments.values()])
            rows = table[segment + 1]  # -1 (global) -> row 0
        spec_of = {s.name: s for s in self.specs}
        miss_col = {n: 1 + len(self.names) + i for i, n in enumerate(self.missing)}
        eta = np.full(m, self.coef[0]) if rows is None else rows[:, 0].copy()
        for j, (name, p) in enumerate(zip(self.names, pos.tolist(), strict=True)):
            x = columns[p]
            if spec_of[name].transform == "log1p":
                with np.errstate(invalid="ignore"):
                    x = np.log1p(np.maximum(x, 0.0))
            miss = np.isnan(x)
            z = (x - self.center[j]) / self.scale[j]
            z[miss] = 0.0
            eta += (self.coef[1 + j] if rows is None else rows[:, 1 + j]) * z
            c = miss_col.get(name)
            if c is not None:
                eta += (self.coef[c] if rows is None else rows[:, c]) * miss
        return eta

    def predict(self, columns: Sequence[F64], segment: npt.NDArray[np.intp] | None = None) -> F64:
        """Churn probability over the horizon for raw feature ``columns``."""
        out: F64 = special.expit(self.log_odds(self.design(columns, segment)))
        return out

    # ------------------------------------------------------------ explanation

    def effects(self, design: Design) -> F64:
        """Per row and used feature, its contribution to the log-odds against the
        population average (the feature and its missing column together)."""
        k = len(self.names)
        coef = np.broadcast_to(self.coef, design.x.shape)
        if self.segments:
            has = design.segment >= 0
            if has.any():
                table = np.array(list(self.segments.values()))
                coef = coef.copy()
                coef[has] = table[design.segment[has]]
        parts = design.x * coef
        out = parts[:, 1 : 1 + k].copy()
        if self.missing:
            pos = self._missing_positions()
            # the missing column's training mean: its share of missing rows
            out[:, pos] += parts[:, 1 + k :] - coef[:, 1 + k :] * self._missing_rate()
        effects: F64 = out
        return effects

    def _missing_rate(self) -> F64:
        rates: F64 = np.array([self._missing_share.get(n, 0.0) for n in self.missing])
        return rates

    @property
    def _missing_share(self) -> dict[str, float]:
        # the share is stored as the last quantile row (see fit)
        return {n: float(self.quantiles[i, -1]) for i, n in enumerate(self.names)
                if n in self.missing}

    def describe(self, name: str, value: float) -> str:
        """``"messages: 9.6 a month, fewer than 80% of accounts"``."""
        spec = next(s for s in self.specs if s.name == name)
        if not math.isnan(value):
            # features travel as float32: round off their noise (no "-0" for a 0 score)
            value = round(value, 4) + 0.0
        text = spec.describe(value)
        if math.isnan(value):
            return text
        q = self.quantiles[self.names.index(name), :-1]
        below = np.searchsorted(q, value, side="left") / q.size
        above = 1.0 - np.searchsorted(q, value, side="right") / q.size
        if above >= below and above > 0:
            return f"{text}, lower than {min(above, 0.99):.0%} of accounts"
        if below > 0:
            return f"{text}, higher than {min(below, 0.99):.0%} of accounts"
        return text

    # ------------------------------------------------------------ text form

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` reads back."""
        return {
            "horizon_days": self.horizon_days,
            "window_days": self.window_days,
            "kinds": list(self.kinds),
            "rule_names": list(self.rule_names),
            "specs": [attrs.asdict(s) for s in self.specs],
            "names": list(self.names),
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "missing": list(self.missing),
            "coef": self.coef.tolist(),
            "base_rate": self.base_rate,
            "quantiles": self.quantiles.tolist(),
            "segment_by": self.segment_by,
            "segments": {k: v.tolist() for k, v in self.segments.items()},
            "good_ratio": self.good_ratio,
            "poor_ratio": self.poor_ratio,
            "penalty": self.penalty,
            "segment_penalty": self.segment_penalty,
            "n_rows": self.n_rows,
            "validation": [[p, v] for p, v in self.validation.items()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearnedScorer:
        try:
            specs = tuple(FeatureSpec(**s) for s in data["specs"])
            return cls(
                horizon_days=float(data["horizon_days"]),
                window_days=int(data["window_days"]),
                kinds=tuple(data["kinds"]),
                rule_names=tuple(data["rule_names"]),
                specs=specs,
                names=tuple(data["names"]),
                center=np.asarray(data["center"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64),
                missing=tuple(data["missing"]),
                coef=np.asarray(data["coef"], dtype=np.float64),
                base_rate=float(data["base_rate"]),
                quantiles=np.asarray(data["quantiles"], dtype=np.float64),
                segment_by=data.get("segment_by"),
                segments={k: np.asarray(v, dtype=np.float64)
                          for k, v in dict(data.get("segments", {})).items()},
                good_ratio=float(data.get("good_ratio", DEFAULT_GOOD_RATIO)),
                poor_ratio=float(data.get("poor_ratio", DEFAULT_POOR_RATIO)),
                penalty=float(data.get("penalty", DEFAULT_PENALTY)),
                segment_penalty=float(data.get("segment_penalty", DEFAULT_SEGMENT_PENALTY)),
                n_rows=int(data.get("n_rows", 0)),
                validation={float(p): float(v) for p, v in data.get("validation", [])},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"learned model: malformed saved form ({exc!r})") from None

    def with_tiers(self, good_ratio: float, poor_ratio: float) -> LearnedScorer:
        _check_ratios(good_ratio, poor_ratio)
        return attrs.evolve(self, good_ratio=float(good_ratio), poor_ratio=float(poor_ratio))

    def summary(self) -> list[tuple[str, float]]:
        """(feature, coefficient per standard deviation), largest magnitude first."""
        k = len(self.names)
        pairs = list(zip(self.names, self.coef[1 : 1 + k].tolist(), strict=True))
        pairs += [(f"{n} (missing)", c) for n, c in
                  zip(self.missing, self.coef[1 + k :].tolist(), strict=True)]
        return sorted(pairs, key=lambda p: -abs(p[1]))

    def __repr__(self) -> str:
        return (
            f"<LearnedScorer features={len(self.names)} horizon={self.horizon_days:g}d "
            f"base_rate={self.base_rate:.3f} rows={self.n_rows}>"
        )


def _design(
    transformed: F64,
    center: F64,
    scale: F64,
    missing_pos: npt.NDArray[np.intp],
    segment: npt.NDArray[np.intp] | None = None,
    y: F64 | None = None,
) -> Design:
    """Standardise transformed values and add the intercept and missing columns."""
    m, k = transformed.shape
    miss = np.isnan(transformed)
    x = np.empty((m, 1 + k + missing_pos.size))
    x[:, 0] = 1.0
    z = (transformed - center) / scale
    z[miss] = 0.0
    x[:, 1 : 1 + k] = z
    if missing_pos.size:
        x[:, 1 + k :] = miss[:, missing_pos]
    seg = np.full(m, -1, dtype=np.intp) if segment is None else segment
    return Design(x, np.zeros(m) if y is None else y, seg)


def _check_ratios(good_ratio: Any, poor_ratio: Any) -> None:
    for label, v in (("good_ratio", good_ratio), ("poor_ratio", poor_ratio)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValidationError(f"tiers: {label} must be a number > 0, got {v!r}")
    if good_ratio > poor_ratio:
        raise ValidationError(
            f"tiers: good_ratio ({good_ratio!r}) must not be above poor_ratio ({poor_ratio!r})"
        )


def _positive_number(value: Any, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{label} must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ValidationError(f"{label} must be >= 0, got {value!r}")
    return float(value)


def fit(
    frame: TrainingFrame,
    *,
    penalty: float | str = "auto",
    segment_penalty: float = DEFAULT_SEGMENT_PENALTY,
    good_ratio: float = DEFAULT_GOOD_RATIO,
    poor_ratio: float = DEFAULT_POOR_RATIO,
    window_days: int = 28,
    segment_by: str | None = None,
) -> LearnedScorer:
    """Fit the logistic regression on ``frame`` (see the module docs for the formulas).

    ``penalty="auto"`` chooses the ridge penalty out of time: the latest quarter of the
    observation dates (at least one) is held out, the model is fitted on the dates whose
    labels end before the first held-out date for each of :data:`PENALTIES`, the penalty
    with the smallest held-out log-loss wins, and the model is refitted on every row. When
    data is scarce (fewer than :data:`SCARCE_CHURNED` churned rows) the same choice is made
    between every feature and the literature's compact set (events per month of each kind,
    and tenure), which can predict better with few churners.
    """
    penalty_auto = isinstance(penalty, str)
    if penalty_auto and penalty != "auto":
        raise ValidationError(f"penalty must be a number >= 0 or 'auto', got {penalty!r}")
    penalty = DEFAULT_PENALTY if penalty_auto else _positive_number(penalty, "penalty")
    segment_penalty = _positive_number(segment_penalty, "segment_penalty")
    _check_ratios(good_ratio, poor_ratio)
    n = len(frame)
    y = frame.churned.astype(np.float64)
    k_churn = int(y.sum())
    if n == 0 or k_churn == 0 or k_churn == n:
        raise ValidationError(
            f"learn: the training rows need both churned and retained accounts, got "
            f"{k_churn} churned of {n}"
        )
    specs = tuple(frame.specs.values())
    all_names = tuple(frame.specs)
    probe = LearnedScorer(
        horizon_days=frame.horizon_days, window_days=window_days, kinds=frame.kinds,
        rule_names=frame.rule_names, specs=specs, names=all_names,
        center=np.zeros(len(all_names)), scale=np.ones(len(all_names)), missing=(),
        coef=np.zeros(1), base_rate=k_churn / n, quantiles=np.zeros((0, 0)),
    )  # fmt: skip
    columns = [frame.features[s] for s in all_names]
    values = probe.transformed(columns)
    count, total, squares = _moments(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = squares / count - mean * mean
    # keep features that vary on the training rows
    keep = (count > 0) & (var > 1e-12 * np.maximum(1.0, mean * mean))
    names = tuple(nm for nm, ok in zip(all_names, keep.tolist(), strict=True) if ok)
    values = values[:, keep]
    center = mean[keep]
    scale = np.sqrt(var[keep])
    miss_share = 1.0 - count[keep] / n
    missing = tuple(nm for nm, s in zip(names, miss_share.tolist(), strict=True) if s > 0)
    missing_pos = np.array([names.index(m) for m in missing], dtype=np.intp)
    seg_keys: list[str] = []
    seg_codes = None
    if segment_by is not None:
        if frame.segment is None:
            raise ValidationError("learn: segment_by needs a frame made with segment_by")
        labels = np.asarray(frame.segment, dtype=object).astype(str)
        seg_keys = sorted(set(labels.tolist()))
        lookup = {s: i for i, s in enumerate(seg_keys)}
        seg_codes = np.array([lookup[s] for s in labels.tolist()], dtype=np.intp)
    design = _design(values, center, scale, missing_pos, seg_codes, y)
    k = design.x.shape[1]
    n_seg = len(seg_keys)
    x0 = np.zeros(k * (1 + n_seg))
    x0[0] = special.logit(k_churn / n)
    chosen = penalty
    validation: dict[float, float] = {}
    if penalty_auto:
        chosen, validation, x0 = _choose_penalty(frame, design, n_seg, segment_penalty, x0)
        # the literature's compact model (counts per kind and tenure) as a candidate too:
        # with little data, fewer features can predict better out of time
        core = np.array([nm.endswith(".per_month") or nm == "tenure_days" for nm in names])
        if 0 < core.sum() < len(names) and k_churn < SCARCE_CHURNED:
            core_names = tuple(nm for nm, c in zip(names, core.tolist(), strict=True) if c)
            core_missing = tuple(m for m in missing if m in core_names)
            core_design = _design(
                values[:, core], center[core], scale[core],
                np.array([core_names.index(m) for m in core_missing], dtype=np.intp),
                seg_codes, y,
            )  # fmt: skip
            k_core = core_design.x.shape[1]
            start = np.zeros(k_core * (1 + n_seg))
            start[0] = x0[0]
            c_pen, c_val, c_x0 = _choose_penalty(
                frame, core_design, n_seg, segment_penalty, start
            )
            if c_val and validation and min(c_val.values()) < min(validation.values()):
                names, values, center, scale = core_names, values[:, core], center[core], \
                    scale[core]
                miss_share = miss_share[core]
                missing = core_missing
                design, k = core_design, k_core
                chosen, validation, x0 = c_pen, c_val, c_x0
    params = _minimise(design, n_seg, chosen, segment_penalty, x0)
    coef = params[:k].copy()
    segments = {
        s: coef + params[k * (1 + i) : k * (2 + i)] for i, s in enumerate(seg_keys)
    }
    # quantiles of the raw values (for the explanations) and, last, the missing share
    raw = np.column_stack([frame.features[nm] for nm in names])
    quantiles = np.empty((len(names), _QUANTILES.size + 1))
    for j in range(len(names)):
        col = raw[:, j]
        col = col[~np.isnan(col)]
        quantiles[j, :-1] = np.quantile(col, _QUANTILES) if col.size else np.nan
    quantiles[:, -1] = miss_share
    return LearnedScorer(
        horizon_days=frame.horizon_days,
        window_days=window_days,
        kinds=frame.kinds,
        rule_names=frame.rule_names,
        specs=specs,
        names=names,
        center=center,
        scale=scale,
        missing=missing,
        coef=coef,
        base_rate=k_churn / n,
        quantiles=quantiles,
        segment_by=segment_by,
        segments=segments,
        good_ratio=float(good_ratio),
        poor_ratio=float(poor_ratio),
        penalty=chosen,
        segment_penalty=segment_penalty,
        n_rows=n,
        validation=validation,
    )


def dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=1, allow_nan=False)


def learn(
    dataset: Dataset | PartitionedDataset,
    observation_dates: Moments | Iterable[Moments],
    horizon_days: float = 90.0,
    *,
    segment_by: str | None = None,
    registry: Registry | None = None,
    model: HealthModel | None = None,
    kinds: Sequence[str] | None = None,
    window_days: int = WINDOW_DAYS,
    penalty: float | str = "auto",
    segment_penalty: float = DEFAULT_SEGMENT_PENALTY,
    good_ratio: float = DEFAULT_GOOD_RATIO,
    poor_ratio: float = DEFAULT_POOR_RATIO,
) -> HealthModel:
    """Learn a health score that predicts churn within ``horizon_days`` from history.

    Builds :func:`~custsuccess.health.training_frame` at ``observation_dates`` (dates
    whose horizon runs past the data's observation end are left out), fits the
    regularised logistic regression described in the module docs and returns a
    :class:`~custsuccess.health.HealthModel` whose reports carry ``churn_probability``,
    a score of ``100 / (1 + p / base_rate)`` and tiers by risk relative to the base rate
    (poor at ``poor_ratio`` times it or more, good at ``good_ratio`` times it or less).

    ``penalty`` is the ridge penalty, or ``"auto"`` (the default) to choose it on the
    latest observation dates, held out (see :func:`fit`). ``model`` gives the rules whose
    scores are features (and the playbooks; default
    :meth:`HealthModel.default` of ``registry``). ``segment_by`` (``"segment"``,
    ``"plan"`` or a customer attribute) fits one coefficient set per segment, shrunk
    toward the global one by ``segment_penalty``.

    A :class:`~custsuccess.distributed.PartitionedDataset` is learned on its Dask
    workers (:func:`custsuccess.distributed.learn`): the frames stay there and the
    optimiser adds the partitions' losses and gradients.
    """
    from custsuccess.health.model import HealthModel

    if getattr(dataset, "_custsuccess_partitioned", False):
        from custsuccess.distributed.learn import learn as learn_partitioned

        return learn_partitioned(
            dataset,  # type: ignore[arg-type]
            observation_dates, horizon_days, segment_by=segment_by, registry=registry,
            model=model, kinds=kinds, window_days=window_days, penalty=penalty,
            segment_penalty=segment_penalty, good_ratio=good_ratio, poor_ratio=poor_ratio,
        )  # fmt: skip
    require_dataset(dataset, "dataset", "learn()")
    if model is None:
        model = HealthModel.default(registry)
    elif model.learned is not None:
        model = model.rules_only()
    frame = training_frame(
        dataset,  # type: ignore[arg-type]  # a PartitionedDataset went to the cluster above
        observation_dates, horizon_days, model=model, kinds=kinds,
        window_days=window_days, segment_by=segment_by,
    )  # fmt: skip
    scorer = fit(
        frame, penalty=penalty, segment_penalty=segment_penalty, good_ratio=good_ratio,
        poor_ratio=poor_ratio, window_days=window_days, segment_by=segment_by,
    )  # fmt: skip
    return model.with_learned(scorer)
