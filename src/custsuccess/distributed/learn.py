""":func:`custsuccess.health.learn` on a
:class:`~custsuccess.distributed.dataset.PartitionedDataset`.

The learned health score is a ridge logistic regression whose objective is a sum over
training rows (:mod:`custsuccess.health.learn`). On a cluster:

1. every partition builds its training frame (:func:`~custsuccess.health.training_frame`)
   with the whole dataset's observation end and event kinds, and keeps it in memory;
2. the standardisation comes from summed per-column counts, sums and sums of squares
   (``learn._moments``);
3. every partition keeps its design chunk; at each step of the optimiser (SciPy's L-BFGS-B,
   on the client) the partitions return the loss and gradient of their rows
   (``learn._loss_and_grad``) and the client adds them and the penalty;
4. the quantiles the explanations quote are taken over every row's raw value (gathered
   per feature, as one machine does).

The result is the same model as one machine's: the same objective, evaluated with the rows
added in another order (to rounding), minimised from the same start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from custsuccess.dataset import BUILTIN_KINDS, Dataset
from custsuccess.distributed._dask import compute, delayed, persist
from custsuccess.distributed._specs import ModelSpec, build_model, model_spec
from custsuccess.distributed.dataset import PartitionedDataset
from custsuccess.errors import ValidationError
from custsuccess.health.features import WINDOW_DAYS, Moments, TrainingFrame, training_frame
from custsuccess.health.learn import (
    _QUANTILES,
    DEFAULT_GOOD_RATIO,
    DEFAULT_POOR_RATIO,
    DEFAULT_SEGMENT_PENALTY,
    Design,
    LearnedScorer,
    _check_ratios,
    _design,
    _loss_and_grad,
    _moments,
    _penalty,
    _positive_number,
)

if TYPE_CHECKING:
    from custsuccess.health.model import HealthModel
    from custsuccess.plugins import Registry

__all__ = ["learn"]

F64 = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- worker side


def _extent(ds: Dataset) -> tuple[np.datetime64 | None, frozenset[str]]:
    """The partition's observation end and the event kinds it has events of."""
    from custsuccess.health.features import kinds_present

    return ds.observation_end, frozenset(kinds_present(ds))


def _frame(
    ds: Dataset,
    spec: ModelSpec,
    dates: Any,
    horizon_days: float,
    kinds: tuple[str, ...],
    window_days: int,
    segment_by: str | None,
    end: np.datetime64,
) -> TrainingFrame:
    return training_frame(
        ds.with_observation_end(end), dates, horizon_days, model=build_model(spec),
        kinds=kinds, window_days=window_days, segment_by=segment_by,
    )  # fmt: skip


def _shape(frame: TrainingFrame) -> tuple[int, int, Any, frozenset[str]]:
    labels = (
        frozenset() if frame.segment is None
        else frozenset(np.asarray(frame.segment, dtype=object).astype(str).tolist())
    )  # fmt: skip
    return len(frame), int(frame.churned.sum()), frame.specs, labels


def _frame_moments(frame: TrainingFrame, probe: LearnedScorer) -> tuple[F64, F64, F64]:
    values = probe.transformed([frame.features[s] for s in probe.names])
    return _moments(values)


def _chunk(
    frame: TrainingFrame,
    probe: LearnedScorer,
    keep: npt.NDArray[np.bool_],
    center: F64,
    scale: F64,
    missing_pos: npt.NDArray[np.intp],
    seg_keys: tuple[str, ...],
) -> Design:
    values = probe.transformed([frame.features[s] for s in probe.names])[:, keep]
    seg_codes = None
    if seg_keys and frame.segment is not None:
        lookup = {s: i for i, s in enumerate(seg_keys)}
        labels = np.asarray(frame.segment, dtype=object).astype(str).tolist()
        seg_codes = np.array([lookup[s] for s in labels], dtype=np.intp)
    return _design(
        values, center, scale, missing_pos, seg_codes, frame.churned.astype(np.float64)
    )


def _raw(frame: TrainingFrame, names: tuple[str, ...]) -> F64:
    if not len(frame):
        return np.empty((0, len(names)))
    return np.column_stack([frame.features[nm] for nm in names])


# --------------------------------------------------------------------------- the fit


def _kinds(found: Iterable[frozenset[str]]) -> tuple[str, ...]:
    """The kinds of every partition in vocabulary order (built-ins first, then custom
    kinds sorted), as ``kinds_present`` of the whole dataset gives them."""
    every = frozenset().union(*found)
    return tuple(k for k in BUILTIN_KINDS if k in every) + tuple(
        sorted(every - set(BUILTIN_KINDS))
    )


def learn(
    dataset: PartitionedDataset,
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
    """:func:`custsuccess.health.learn` of the whole partitioned dataset: training frames
    and design chunks stay on the workers; the optimiser runs here on summed losses and
    gradients. Parameters and result as the single-machine function, except that the
    ridge penalty must be given as a number: the out-of-time choice of ``penalty="auto"``
    is not distributed yet."""
    from custsuccess.health.model import HealthModel

    if not isinstance(dataset, PartitionedDataset):
        raise ValidationError(
            f"learn(dataset, ...) needs a PartitionedDataset, got {type(dataset).__name__}"
        )
    if isinstance(penalty, str):
        raise ValidationError(
            "learn on a PartitionedDataset: penalty='auto' (choosing the penalty out of "
            "time) is not distributed yet; pass a number, e.g. penalty=0.001, or the "
            "penalty a single-machine learn chose on a sample (model.learned.penalty)"
        )
    penalty = _positive_number(penalty, "penalty")
    segment_penalty = _positive_number(segment_penalty, "segment_penalty")
    _check_ratios(good_ratio, poor_ratio)
    if model is None:
        model = HealthModel.default(registry)
    elif model.learned is not None:
        model = model.rules_only()
    spec = model_spec(model)
    extents = compute(*dataset.map(_extent))
    ends = [e for e, _ in extents if e is not None]
    if not ends:
        raise ValidationError("learn: the dataset records nothing (no observation end)")
    end = max(ends)
    every_kind = _kinds(k for _, k in extents) if kinds is None else tuple(kinds)
    dates = observation_dates if isinstance(observation_dates, str) else (
        observation_dates if not isinstance(observation_dates, Iterable)
        else list(observation_dates)
    )  # fmt: skip
    frames = persist(
        *dataset.map(_frame, spec, dates, float(horizon_days), every_kind, window_days,
                     segment_by, end)
    )  # fmt: skip
    shapes = compute(*[delayed(_shape)(f) for f in frames])
    n = sum(s[0] for s in shapes)
    k_churn = sum(s[1] for s in shapes)
    if n == 0 or k_churn == 0 or k_churn == n:
        raise ValidationError(
            f"learn: the training rows need both churned and retained accounts, got "
            f"{k_churn} churned of {n}"
        )
    frame_specs = shapes[0][2]
    specs = tuple(frame_specs.values())
    all_names = tuple(frame_specs)
    horizon = float(horizon_days)
    probe = LearnedScorer(
        horizon_days=horizon, window_days=window_days, kinds=every_kind,
        rule_names=model.rule_names, specs=specs, names=all_names,
        center=np.zeros(len(all_names)), scale=np.ones(len(all_names)), missing=(),
        coef=np.zeros(1), base_rate=k_churn / n, quantiles=np.zeros((0, 0)),
    )  # fmt: skip
    sums = compute(*[delayed(_frame_moments)(f, probe) for f in frames])
    count = np.sum([s[0] for s in sums], axis=0)
    total = np.sum([s[1] for s in sums], axis=0)
    squares = np.sum([s[2] for s in sums], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = squares / count - mean * mean
    keep = (count > 0) & (var > 1e-12 * np.maximum(1.0, mean * mean))
    names = tuple(nm for nm, ok in zip(all_names, keep.tolist(), strict=True) if ok)
    center = mean[keep]
    scale = np.sqrt(var[keep])
    miss_share = 1.0 - count[keep] / n
    missing = tuple(nm for nm, s in zip(names, miss_share.tolist(), strict=True) if s > 0)
    missing_pos = np.array([names.index(m) for m in missing], dtype=np.intp)
    seg_keys: tuple[str, ...] = ()
    if segment_by is not None:
        seg_keys = tuple(sorted(frozenset().union(*(s[3] for s in shapes))))
    designs = persist(
        *[delayed(_chunk)(f, probe, keep, center, scale, missing_pos, seg_keys) for f in frames]
    )
    k = 1 + len(names) + len(missing)
    n_seg = len(seg_keys)
    x0 = np.zeros(k * (1 + n_seg))
    x0[0] = special.logit(k_churn / n)
    step = delayed(_loss_and_grad, pure=False)

    def objective(params: F64) -> tuple[float, F64]:
        parts = compute(*[step(params, d, n_seg) for d in designs])
        loss = sum(p[0] for p in parts)
        grad = np.sum([p[1] for p in parts], axis=0)
        pen, pgrad = _penalty(params, k, penalty, segment_penalty)
        return loss / n + pen, grad / n + pgrad

    result = optimize.minimize(
        objective, x0, jac=True, method="L-BFGS-B",
        options={"maxiter": 1000, "ftol": 1e-9, "gtol": 1e-5},  # as health.learn
    )  # fmt: skip
    params = result.x
    coef = params[:k].copy()
    segments = {s: coef + params[k * (1 + i) : k * (2 + i)] for i, s in enumerate(seg_keys)}
    raw = np.concatenate(compute(*[delayed(_raw)(f, names) for f in frames]))
    quantiles = np.empty((len(names), _QUANTILES.size + 1))
    for j in range(len(names)):  # a loop over features
        col = raw[:, j]
        col = col[~np.isnan(col)]
        quantiles[j, :-1] = np.quantile(col, _QUANTILES) if col.size else np.nan
    quantiles[:, -1] = miss_share
    scorer = LearnedScorer(
        horizon_days=horizon,
        window_days=window_days,
        kinds=every_kind,
        rule_names=model.rule_names,
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
        penalty=penalty,
        segment_penalty=segment_penalty,
        n_rows=n,
        validation={},
    )
    return model.with_learned(scorer)
