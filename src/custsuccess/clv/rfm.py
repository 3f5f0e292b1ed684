"""RFM summaries: frequency, recency, T and monetary value per customer, vectorised.

The definitions are lifetimes' ``summary_data_from_transaction_data`` and
``calibration_and_holdout_data``, reproduced exactly:

* Time is cut into periods (``"D"`` days, ``"W"`` weeks starting on Monday as pandas'
  ``W-SUN``, ``"M"`` calendar months, ``"Y"`` years, ``"h"``, ``"min"``, ``"s"``). All
  of a customer's purchases in one period count as one purchase whose amount is their
  sum.
* Transactions whose period is after ``observation_end``'s period are ignored (so a
  purchase later on the same day as ``observation_end`` still counts with ``"D"``).
* ``frequency``: purchase periods after the first; ``recency``: periods from the first to
  the last purchase period; ``T``: periods from the first purchase period to the
  observation end's period (all divided by ``freq_multiplier``).
* ``monetary_value``: mean amount of the repeat purchase periods, 0 without a repeat.
* With ``calibration_end``: the summary above over transactions at or before
  ``calibration_end``, plus for the same customers ``frequency_holdout`` (distinct
  purchase periods in ``(calibration_end, observation_end]``),
  ``monetary_value_holdout`` (mean of those raw transaction amounts) and
  ``duration_holdout`` (periods between the two ends).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, overload

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.clv.base import real_number
from custsuccess.dataset import _time_column, require_dataset, to_datetime64
from custsuccess.errors import ValidationError
from custsuccess.models import EventKind

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = ["PERIODS", "RFMHoldoutSummary", "RFMSummary", "rfm_from_dataset", "rfm_summary"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Moment = datetime | np.datetime64 | str

_US_PER: Final = {"D": 86_400_000_000, "h": 3_600_000_000, "min": 60_000_000, "s": 1_000_000}
#: The accepted ``period`` codes.
PERIODS: Final[tuple[str, ...]] = ("D", "W", "M", "Y", "h", "min", "s")
_EXAMPLES: Final = 3


@attrs.frozen(slots=True, eq=False)
class RFMSummary:
    """One row per customer who bought, sorted by customer id.

    ``monetary_value`` is None when no amounts were given. ``to_pandas()`` gives the
    DataFrame lifetimes returns (index ``customer_id``).
    """

    customer_id: npt.NDArray[Any]
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary_value: FloatArray | None
    period: str
    observation_end: np.datetime64

    def __len__(self) -> int:
        return len(self.customer_id)

    def _columns(self) -> dict[str, FloatArray]:
        cols = {"frequency": self.frequency, "recency": self.recency, "T": self.T}
        if self.monetary_value is not None:
            cols["monetary_value"] = self.monetary_value
        return cols

    def take(self, index: Any) -> RFMSummary:
        """The rows selected by ``index`` (a mask or positions)."""
        return attrs.evolve(
            self,
            customer_id=self.customer_id[index],
            frequency=self.frequency[index],
            recency=self.recency[index],
            T=self.T[index],
            monetary_value=None if self.monetary_value is None else self.monetary_value[index],
        )

    def repeat_buyers(self) -> RFMSummary:
        """Customers with ``frequency > 0`` (what the Gamma-Gamma model is fitted on)."""
        return self.take(self.frequency > 0)

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by ``customer_id`` with lifetimes' column names."""
        import pandas as pd

        return pd.DataFrame(self._columns(), index=pd.Index(self.customer_id, name="customer_id"))


@attrs.frozen(slots=True, eq=False)
class RFMHoldoutSummary(RFMSummary):
    """A calibration summary (the inherited columns) plus the holdout columns.

    ``to_pandas()`` names columns as lifetimes' ``calibration_and_holdout_data``
    (``frequency_cal``, ..., ``duration_holdout``).
    """

    calibration_end: np.datetime64
    frequency_holdout: FloatArray
    monetary_value_holdout: FloatArray | None
    duration_holdout: float

    def take(self, index: Any) -> RFMHoldoutSummary:
        base = RFMSummary.take(self, index)
        return RFMHoldoutSummary(
            base.customer_id,
            base.frequency,
            base.recency,
            base.T,
            base.monetary_value,
            self.period,
            self.observation_end,
            self.calibration_end,
            self.frequency_holdout[index],
            None if self.monetary_value_holdout is None else self.monetary_value_holdout[index],
            self.duration_holdout,
        )

    def repeat_buyers(self) -> RFMHoldoutSummary:
        return self.take(self.frequency > 0)

    def to_pandas(self) -> Any:
        import pandas as pd

        cols = {f"{k}_cal": v for k, v in self._columns().items()}
        cols["frequency_holdout"] = self.frequency_holdout
        if self.monetary_value_holdout is not None:
            cols["monetary_value_holdout"] = self.monetary_value_holdout
        cols["duration_holdout"] = np.full(len(self), self.duration_holdout)
        return pd.DataFrame(cols, index=pd.Index(self.customer_id, name="customer_id"))


# ----------------------------------------------------------------------- periods


def _period_index(t: npt.NDArray[np.datetime64], period: str) -> IntArray:
    """Index of the period containing each moment (floor), as in pandas' ``to_period``."""
    us = t.astype("datetime64[us]").astype(np.int64)
    out: IntArray
    if period in _US_PER:
        out = np.floor_divide(us, _US_PER[period])
        return out
    if period == "W":
        # numpy's epoch (1970-01-01) is a Thursday; weeks here start on Monday.
        out = np.floor_divide(np.floor_divide(us, _US_PER["D"]) + 3, 7)
        return out
    unit = "M" if period == "M" else "Y"
    out = t.astype(f"datetime64[{unit}]").astype(np.int64)
    return out


def _check_period(period: str, freq_multiplier: float) -> None:
    if period not in PERIODS:
        raise ValidationError(f"period must be one of {list(PERIODS)}, got {period!r}")
    if not (
        isinstance(freq_multiplier, (int, float))
        and np.isfinite(freq_multiplier)
        and freq_multiplier > 0
    ):
        raise ValidationError(f"freq_multiplier must be a number > 0, got {freq_multiplier!r}")


# ----------------------------------------------------------------------- core


@attrs.frozen(slots=True)
class _Core:
    customer: IntArray  # customer codes, sorted, unique
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary: FloatArray | None


def _pair_keys(codes: IntArray, p: IntArray) -> tuple[IntArray, int, int]:
    """Sorted unique (customer code, period) pairs as ``code * span + (p - lo)``."""
    lo = int(p.min())
    span = int(p.max()) - lo + 1
    if span * (int(codes.max()) + 1) >= 2**62:  # pragma: no cover - needs ~1e18 periods
        raise ValidationError("timestamps span too many periods to summarise")
    keys = np.sort(codes * span + (p - lo))  # (np.unique may hash: slower here)
    distinct = np.empty(keys.size, dtype=bool)
    distinct[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=distinct[1:])
    return keys[distinct], lo, span


def _summarise(
    codes: IntArray,
    p: IntArray,
    amounts: FloatArray | None,
    end_period: int,
    multiplier: float,
    include_first: bool,
) -> _Core:
    """One ``np.sort`` of integer (customer, period) keys, then ``bincount``s: no
    argsort, no groupby, no Python loop."""
    if codes.size == 0:
        empty = np.empty(0)
        return _Core(np.empty(0, np.int64), empty, empty, empty, None if amounts is None else empty)
    pairs, lo, span = _pair_keys(codes, p)
    pair_code = pairs // span
    n_codes = int(codes.max()) + 1
    count_all = np.bincount(pair_code, minlength=n_codes)
    customer = np.flatnonzero(count_all)
    count = count_all[customer]
    ends = np.cumsum(count)
    first_p = pairs[ends - count] - pair_code[ends - count] * span + lo
    last_p = pairs[ends - 1] - pair_code[ends - 1] * span + lo
    frequency = (count if include_first else count - 1).astype(np.float64)
    recency = (last_p - first_p) / multiplier
    age = (end_period - first_p) / multiplier
    monetary = None
    if amounts is not None:
        if include_first:
            sums = np.bincount(codes, weights=amounts, minlength=n_codes)[customer]
        else:
            first_of_code = np.zeros(n_codes, dtype=np.int64)
            first_of_code[customer] = first_p
            repeat = p != first_of_code[codes]
            sums = np.bincount(codes[repeat], weights=amounts[repeat], minlength=n_codes)[customer]
        monetary = np.where(frequency > 0, sums / np.maximum(frequency, 1), 0.0)
    return _Core(
        customer.astype(np.int64),
        frequency,
        recency.astype(np.float64),
        age.astype(np.float64),
        monetary,
    )


def _holdout(
    codes: IntArray,
    p: IntArray,
    amounts: FloatArray | None,
    customers: IntArray,
) -> tuple[FloatArray, FloatArray | None]:
    """Distinct purchase periods and mean raw amount per calibration customer."""
    known = np.zeros(codes.size, dtype=bool)
    pos = np.zeros(codes.size, dtype=np.int64)
    if customers.size:
        pos = np.minimum(np.searchsorted(customers, codes), customers.size - 1)
        known = customers[pos] == codes
    idx = pos[known]
    pk = p[known]
    freq = np.zeros(customers.size)
    if idx.size:
        pairs, _, span = _pair_keys(idx, pk)
        freq = np.bincount(pairs // span, minlength=customers.size).astype(np.float64)
    money = None
    if amounts is not None:
        sums = np.bincount(idx, weights=amounts[known], minlength=customers.size)
        counts = np.bincount(idx, minlength=customers.size)
        money = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    return freq, money


def _encode_ids(customer_ids: Any) -> tuple[npt.NDArray[Any], IntArray]:
    ids = np.asarray(customer_ids)
    if ids.ndim != 1:
        raise ValidationError(f"customer_ids must be one-dimensional, got shape {ids.shape}")
    if ids.dtype.kind in "OUS" and ids.size > 50_000:
        factorized = _factorize(ids)
        if factorized is not None:
            return factorized
    if ids.dtype.kind == "O":
        missing = np.flatnonzero(np.array([v is None or v != v for v in ids.tolist()], dtype=bool))
        if missing.size:
            raise ValidationError(f"customer_ids is missing at row {int(missing[0])}")
    elif ids.dtype.kind == "f":
        missing = np.flatnonzero(np.isnan(ids))
        if missing.size:
            raise ValidationError(f"customer_ids is missing (NaN) at row {int(missing[0])}")
    if ids.dtype.kind in "iu" and ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if hi - lo <= 4 * ids.size + 1024:  # dense integer ids: codes without a sort
            codes = ids.astype(np.int64) - lo
            used = np.zeros(hi - lo + 1, dtype=bool)
            used[codes] = True
            remap = np.cumsum(used) - 1
            values = np.flatnonzero(used) + lo
            return values.astype(ids.dtype), remap[codes]
    try:
        uniq, inverse = np.unique(ids, return_inverse=True)
    except TypeError:
        raise ValidationError("customer_ids must be sortable (all str or all numbers)") from None
    return uniq, inverse.reshape(-1).astype(np.int64)


def _factorize(ids: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], IntArray] | None:
    """Sorted unique ids and codes by pandas' hash table (many times faster than sorting
    millions of strings); None without pandas or when the ids are not mutually sortable."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is an optional extra
        return None
    codes, uniques = pd.factorize(ids)
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        raise ValidationError(f"customer_ids is missing at row {int(missing[0])}")
    uniques = np.asarray(uniques)
    if ids.dtype.kind in "US":  # pandas hands back objects: keep the caller's dtype
        uniques = uniques.astype(ids.dtype)
    try:
        order = np.argsort(uniques, kind="stable")
    except TypeError:
        return None
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return uniques[order], rank[np.asarray(codes, dtype=np.int64)]


def _amounts(amounts: Any, n: int) -> FloatArray | None:
    if amounts is None:
        return None
    try:
        a = np.asarray(amounts, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError("amounts must hold numbers") from None
    if a.shape != (n,):
        raise ValidationError(
            f"amounts must have one value per transaction ({n}), got shape {a.shape}"
        )
    bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
    if bad.size:
        shown = ", ".join(f"row {int(r)}: {float(a[r])!r}" for r in bad[:_EXAMPLES])
        more = f" (and {bad.size - _EXAMPLES} more)" if bad.size > _EXAMPLES else ""
        raise ValidationError(f"amounts must be finite and >= 0: {shown}{more}")
    return a


def _moment(value: Moment, field: str) -> np.datetime64:
    return to_datetime64(value, field)


# ----------------------------------------------------------------------- public


@overload
def rfm_summary(
    customer_ids: Any,
    timestamps: Any,
    amounts: Any,
    observation_end: Moment,
    *,
    period: str = ...,
    calibration_end: None = ...,
    freq_multiplier: float = ...,
    include_first_transaction: bool = ...,
) -> RFMSummary: ...


@overload
def rfm_summary(
    customer_ids: Any,
    timestamps: Any,
    amounts: Any,
    observation_end: Moment,
    *,
    period: str = ...,
    calibration_end: Moment,
    freq_multiplier: float = ...,
    include_first_transaction: bool = ...,
) -> RFMHoldoutSummary: ...


def rfm_summary(
    customer_ids: Any,
    timestamps: Any,
    amounts: Any,
    observation_end: Moment,
    *,
    period: str = "D",
    calibration_end: Moment | None = None,
    freq_multiplier: float = 1,
    include_first_transaction: bool = False,
) -> RFMSummary | RFMHoldoutSummary:
    """Summarise transactions into frequency, recency, T and monetary value per customer.

    Parameters
    ----------
    customer_ids, timestamps, amounts
        One entry per transaction. ``timestamps``: datetime64 (read as UTC) or
        timezone-aware values; ``amounts``: numbers ``>= 0``, or None for no monetary
        value.
    observation_end
        The end of the study (datetime64, aware datetime or ISO string with offset).
    period
        The time unit, one of :data:`PERIODS`.
    calibration_end
        When given, return an :class:`RFMHoldoutSummary` split at this moment.
    freq_multiplier
        Divides recency, T and duration (``period="D", freq_multiplier=7`` gives weeks
        with day resolution, as the CDNOW summaries use).
    include_first_transaction
        Count the first purchase in frequency and monetary value (lifetimes' option;
        leave False for the models).

    Examples
    --------
    >>> import numpy as np
    >>> s = rfm_summary(
    ...     ["a", "a", "a", "b"],
    ...     np.array(["2024-01-01T10", "2024-01-01T15", "2024-01-08", "2024-01-03"],
    ...              dtype="datetime64[us]"),
    ...     [10.0, 5.0, 7.0, 3.0],
    ...     np.datetime64("2024-01-10"),
    ... )
    >>> s.customer_id.tolist(), s.frequency.tolist(), s.recency.tolist(), s.T.tolist()
    (['a', 'b'], [1.0, 0.0], [7.0, 0.0], [9.0, 7.0])
    >>> s.monetary_value.tolist()
    [7.0, 0.0]
    """
    _check_period(period, freq_multiplier)
    ids, codes = _encode_ids(customer_ids)
    times = _time_column(timestamps, "timestamps", allow_missing=False)
    if times.shape != codes.shape:
        raise ValidationError(
            "customer_ids and timestamps must have the same length, "
            f"got {codes.size} and {times.size}"
        )
    money = _amounts(amounts, codes.size)
    if not isinstance(include_first_transaction, (bool, np.bool_)):
        raise ValidationError(
            f"include_first_transaction must be True or False, got {include_first_transaction!r}"
        )
    return _rfm(
        ids,
        codes,
        times,
        money,
        observation_end,
        period,
        calibration_end,
        real_number(freq_multiplier, "freq_multiplier"),
        bool(include_first_transaction),
    )


def _rfm(
    ids: npt.NDArray[Any],
    codes: IntArray,
    times: npt.NDArray[np.datetime64],
    money: FloatArray | None,
    observation_end: Moment,
    period: str,
    calibration_end: Moment | None,
    mult: float,
    include_first: bool,
) -> RFMSummary | RFMHoldoutSummary:
    end = _moment(observation_end, "observation_end")
    p = _period_index(times, period)
    end_p = int(_period_index(np.array([end]), period)[0])
    if calibration_end is None:
        keep = p <= end_p
        core = _summarise(
            codes[keep],
            p[keep],
            None if money is None else money[keep],
            end_p,
            mult,
            include_first,
        )
        return RFMSummary(
            ids[core.customer], core.frequency, core.recency, core.T, core.monetary, period, end
        )
    cal = _moment(calibration_end, "calibration_end")
    if cal > end:
        raise ValidationError(f"calibration_end {cal} is after observation_end {end}")
    cal_p = int(_period_index(np.array([cal]), period)[0])
    in_cal = times <= cal
    core = _summarise(
        codes[in_cal],
        p[in_cal],
        None if money is None else money[in_cal],
        cal_p,
        mult,
        include_first,
    )
    in_hold = (times > cal) & (times <= end)
    freq_h, money_h = _holdout(
        codes[in_hold], p[in_hold], None if money is None else money[in_hold], core.customer
    )
    return RFMHoldoutSummary(
        ids[core.customer],
        core.frequency,
        core.recency,
        core.T,
        core.monetary,
        period,
        end,
        cal,
        freq_h,
        money_h,
        (end_p - cal_p) / mult,
    )


@overload
def rfm_from_dataset(
    dataset: Dataset,
    observation_end: Moment,
    *,
    period: str = ...,
    calibration_end: None = ...,
    freq_multiplier: float = ...,
) -> RFMSummary: ...


@overload
def rfm_from_dataset(
    dataset: Dataset,
    observation_end: Moment,
    *,
    period: str = ...,
    calibration_end: Moment,
    freq_multiplier: float = ...,
) -> RFMHoldoutSummary: ...


def rfm_from_dataset(
    dataset: Dataset,
    observation_end: Moment,
    *,
    period: str = "D",
    calibration_end: Moment | None = None,
    freq_multiplier: float = 1,
) -> RFMSummary | RFMHoldoutSummary:
    """:func:`rfm_summary` of a :class:`~custsuccess.dataset.Dataset`'s ``purchase``
    events (in the dataset's time window), keyed by customer id; each event's ``value``
    is the amount. Customers without a purchase are not in the result.
    """
    require_dataset(dataset, "dataset", "rfm_from_dataset()")
    _check_period(period, freq_multiplier)
    events = dataset.events_of(EventKind.PURCHASE, properties=())
    money = _amounts(events.value, len(events))
    return _rfm(
        dataset.customer_ids,
        events.customer.astype(np.int64),
        events.time,
        money,
        observation_end,
        period,
        calibration_end,
        float(freq_multiplier),
        False,
    )
