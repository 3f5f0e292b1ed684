"""Net Promoter Score: from a list of survey answers, and per period from a dataset.

NPS = % promoters (answers 9-10) - % detractors (answers 0-6), in points from -100 to
100; passives (7-8) count in the denominator only. This is the definition in the
Totango co-founder's "5 steps to winning and keeping customer loyalty", which also
suggests surveying every quarter (hence ``freq="quarter"`` by default per period).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import result_html, to_pandas_renamed
from custsuccess.dataset import require_dataset
from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame
from custsuccess.metrics._validate import choice
from custsuccess.metrics.periods import Freq, Moment, Periods, resolve_periods
from custsuccess.models import EventKind

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = ["NpsByPeriod", "NpsResult", "nps", "nps_by_period"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@attrs.frozen(slots=True)
class NpsResult:
    """The NPS of a set of answers and its counts.

    ``score`` is in points, -100 to 100, and NaN when there are no answers (``n == 0``).
    """

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "score": "points",
        "promoters": "count",
        "passives": "count",
        "detractors": "count",
        "n": "count",
    }

    score: float
    promoters: int
    passives: int
    detractors: int
    n: int


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _check_scores(values: Any) -> npt.NDArray[np.float64]:
    if isinstance(values, (str, bytes)) or np.isscalar(values):
        raise ValidationError(f"scores must be a sequence of answers 0..10, got {values!r}")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValidationError(f"scores must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "iuf":
        out = arr.astype(np.float64)
    else:
        out = np.empty(arr.shape, dtype=np.float64)
        for i, item in enumerate(arr.tolist()):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise ValidationError(
                    f"scores must be whole numbers from 0 to 10, got {item!r} at position {i}"
                )
            out[i] = float(item)
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~np.isfinite(out) | (out < 0) | (out > 10) | (out != np.round(out)))
    if bad.size:
        i = int(bad[0])
        more = f" ({bad.size} invalid scores in all)" if bad.size > 1 else ""
        raise ValidationError(
            f"scores must be whole numbers from 0 to 10, got {_py(arr[i])!r} at position {i}{more}"
        )
    return out


def nps(scores: Any) -> NpsResult:
    """Net Promoter Score of survey answers ("how likely are you to recommend us, 0-10").

    ``score = 100 * (promoters - detractors) / n`` with promoters answering 9 or 10,
    detractors 0 to 6 and passives 7 or 8.

    Parameters
    ----------
    scores
        Whole numbers from 0 to 10 (list, numpy array or pandas Series). A value outside
        0..10, fractional or NaN raises :class:`~custsuccess.errors.ValidationError`
        naming its position and value.

    Returns
    -------
    NpsResult
        With ``n == 0`` and ``score`` NaN for an empty input (no answers: no NPS).

    Examples
    --------
    3 promoters (10, 9, 9), 1 passive (8), 2 detractors (6, 0) out of 6:
    100 * (3 - 2) / 6 = 16.67 points.

    >>> nps([10, 9, 9, 8, 6, 0])
    NpsResult(score=16.666666666666668, promoters=3, passives=1, detractors=2, n=6)
    >>> nps([]).score
    nan
    """
    s = _check_scores(scores)
    n = int(s.size)
    promoters = int(np.count_nonzero(s >= 9))
    detractors = int(np.count_nonzero(s <= 6))
    passives = n - promoters - detractors
    score = 100.0 * (promoters - detractors) / n if n else float("nan")
    return NpsResult(score, promoters, passives, detractors, n)


@attrs.frozen(slots=True, eq=False)
class NpsByPeriod:
    """NPS per period: one entry per period of ``periods``.

    ``score`` is NaN for a period without answers (its ``n`` is 0).
    """

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "score": "points",
        "promoters": "count",
        "passives": "count",
        "detractors": "count",
        "n": "count",
    }

    periods: Periods
    score: FloatArray
    promoters: IntArray
    passives: IntArray
    detractors: IntArray
    n: IntArray

    def __len__(self) -> int:
        return len(self.periods)

    def __getitem__(self, i: int) -> NpsResult:
        return NpsResult(
            float(self.score[i]),
            int(self.promoters[i]),
            int(self.passives[i]),
            int(self.detractors[i]),
            int(self.n[i]),
        )

    _repr_html_ = result_html
    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by period label."""
        return to_frame(
            {
                "nps": self.score,
                "promoters": self.promoters,
                "passives": self.passives,
                "detractors": self.detractors,
                "n": self.n,
            },
            self.periods.labels,
            "period",
        )


def nps_by_period(
    dataset: Dataset,
    *,
    freq: Freq = "quarter",
    start: Moment | None = None,
    end: Moment | None = None,
    periods: Periods | None = None,
    tz: str | None = None,
    per_customer: Literal["all", "last"] = "all",
) -> NpsByPeriod:
    """NPS of the ``nps_response`` events of ``dataset``, per calendar period or window.

    Parameters
    ----------
    dataset
        Its ``nps_response`` events (value 0..10) within the dataset's window are read.
    freq, start, end, tz
        Calendar periods (quarters by default, as the founding text suggests) from the
        period holding ``start`` (default: the first answer) to the one holding ``end``
        (default: the dataset's ``as_of``, else the last answer).
    periods
        Explicit periods instead (:func:`~custsuccess.metrics.periods.windows`).
    per_customer
        ``"all"`` (default) counts every answer, as a survey tool does; ``"last"`` counts
        only each customer's last answer in each period, so an account answering twice
        weighs once.

    Returns
    -------
    NpsByPeriod
        With no answers and no ``start``/``end``, a result with no periods.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = lambda m, d: datetime(2024, m, d, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records(
    ...     [Customer("a", t(1, 1)), Customer("b", t(1, 1))],
    ...     events=[Event("a", "nps_response", t(1, 5), 10), Event("b", "nps_response", t(2, 5), 3),
    ...             Event("a", "nps_response", t(4, 2), 9), Event("b", "nps_response", t(5, 9), 8)])
    >>> r = nps_by_period(ds)
    >>> r.periods.labels, r.score.tolist(), r.n.tolist()
    (('2024Q1', '2024Q2'), [0.0, 50.0], [2, 2])
    """
    require_dataset(dataset, "dataset", "nps_by_period()")
    choice(per_customer, "per_customer", ("all", "last"))
    ev = dataset.events_of(EventKind.NPS_RESPONSE, properties=())
    times = ev.time
    default_start = times.min() if len(times) else None
    default_end = (
        dataset.as_of if dataset.as_of is not None else (times.max() if len(times) else None)
    )
    per = resolve_periods(
        freq=freq,
        start=start,
        end=end,
        periods=periods,
        default_start=default_start,
        default_end=default_end,
        tz=tz,
    )
    k = len(per)
    p = per.assign(times)
    keep = p >= 0
    value = ev.value[keep]
    p = p[keep]
    if per_customer == "last" and p.size:
        key = ev.customer[keep].astype(np.int64) * max(k, 1) + p
        last = np.ones(key.size, dtype=bool)
        last[:-1] = key[1:] != key[:-1]
        value, p = value[last], p[last]
    category = np.where(value >= 9, 2, np.where(value <= 6, 0, 1))
    counts = np.bincount(p * 3 + category, minlength=3 * k).reshape(k, 3).astype(np.int64)
    detractors, passives, promoters = counts[:, 0], counts[:, 1], counts[:, 2]
    n = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n > 0, 100.0 * (promoters - detractors) / np.maximum(n, 1), np.nan)
    return NpsByPeriod(per, score, promoters, passives, detractors, n)
