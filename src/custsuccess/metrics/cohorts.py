"""Cohort retention matrices: signup cohort x periods since signup, by customers and by MRR.

A customer's cohort is the calendar period of its signup (``created_at``, default) or of
the start of its first paying subscription (``cohort_by="first_payment"``). Cell
``(c, o)`` is measured at the end of period ``c + o`` (the closing instant, as in
:mod:`custsuccess.metrics.revenue`): offset 0 is the end of the signup period itself.

* ``customers[c, o]``: cohort members paying (MRR > 0) then; ``customer_rate`` divides by
  the cohort size (every member, paying or not at signup).
* ``mrr[c, o]``: their total MRR then; ``mrr_rate`` divides by the cohort's MRR at
  offset 0 (NaN when that is zero), so it can exceed 1 with expansion.

Cells after the last period are not observed: counts 0, rates NaN, ``observed`` False.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import result_html, to_pandas_renamed
from custsuccess.dataset import require_dataset
from custsuccess.errors import ValidationError
from custsuccess.metrics._validate import choice
from custsuccess.metrics.periods import Freq, Moment, Periods, resolve_periods
from custsuccess.metrics.revenue import _changes, _money, _subscriptions

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = ["CohortRetention", "cohort_retention"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@attrs.frozen(slots=True, eq=False)
class CohortRetention:
    """Cohort x offset matrices (shape ``(len(periods), len(periods))``); see the module."""

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "size": "count",
        "customers": "count",
        "customer_rate": "fraction",
        "mrr": "money",
        "mrr_rate": "fraction",
    }

    periods: Periods
    cohort_by: str
    size: IntArray
    customers: IntArray
    customer_rate: FloatArray
    mrr: FloatArray
    mrr_rate: FloatArray
    observed: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.periods)

    _repr_html_ = result_html
    to_frame = to_pandas_renamed()

    def to_pandas(self, value: str = "customer_rate") -> Any:
        """One matrix (``customer_rate``, ``customers``, ``mrr`` or ``mrr_rate``) as a
        pandas DataFrame: cohorts as rows, offsets as columns; unobserved cells NaN."""
        from custsuccess.metrics._frame import to_frame

        choice(value, "value", ("customer_rate", "customers", "mrr", "mrr_rate"))
        matrix = np.where(self.observed, getattr(self, value), np.nan)
        frame = to_frame(
            {o: matrix[:, o] for o in range(matrix.shape[1])}, self.periods.labels, "cohort"
        )
        frame.insert(0, "size", self.size)
        return frame


#: the largest number of periods a cohort matrix may have (100 years of months): the
#: matrices are periods x periods, so the work grows with the square of the span
MAX_COHORT_PERIODS = 1200


def cohort_retention(
    dataset: Dataset,
    *,
    freq: Freq = "month",
    start: Moment | None = None,
    end: Moment | None = None,
    tz: str | None = None,
    currency: str | None = None,
    cohort_by: str = "signup",
    period: Freq | None = None,
) -> CohortRetention:
    """Retention of each signup cohort over the periods since signup.

    Parameters
    ----------
    dataset
        Customers (``created_at``) and subscriptions as of the dataset's window end;
        customers created after ``as_of`` are left out.
    freq, start, end, tz
        Calendar periods from the one holding ``start`` (default: the first signup) to the
        one holding ``end`` (default: ``as_of``, else the latest date in the data).
    currency
        Required when subscriptions are in several currencies.
    cohort_by
        ``"signup"`` (default, the customer's ``created_at``: trials that never pay count
        as lost from the start) or ``"first_payment"``.
    period
        Another spelling of ``freq`` (``cohort_retention(ds, period="quarter")``).

    Returns
    -------
    CohortRetention
        Empty matrices when there is no customer and no ``start``/``end``. More than
        ``MAX_COHORT_PERIODS`` (1200) periods raise a ValidationError: the matrices grow
        with the square of the span (an end in year 2500 would need gigabytes).

    Examples
    --------
    January cohort of 2: ``a`` pays 100 throughout, ``b`` pays 50 and leaves in February;
    February cohort of 1: ``c`` pays 30.

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Subscription
    >>> t = lambda m, d=1: datetime(2024, m, d, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records(
    ...     [Customer("a", t(1, 3)), Customer("b", t(1, 9)), Customer("c", t(2, 4))],
    ...     [Subscription("s1", "a", "pro", 100.0, "USD", t(1, 3)),
    ...      Subscription("s2", "b", "pro", 50.0, "USD", t(1, 9), t(2, 20)),
    ...      Subscription("s3", "c", "pro", 30.0, "USD", t(2, 4))])
    >>> r = cohort_retention(ds, end="2024-03-15T00:00:00Z")
    >>> r.to_pandas()
             size    0    1    2
    cohort
    2024-01     2  1.0  0.5  0.5
    2024-02     1  1.0  1.0  NaN
    2024-03     0  NaN  NaN  NaN
    >>> r.mrr_rate[0].tolist()  # (100 + 50) -> 100 -> 100
    [1.0, 0.6666666666666666, 0.6666666666666666]
    """
    require_dataset(dataset, "dataset", "cohort_retention()")
    choice(cohort_by, "cohort_by", ("signup", "first_payment"))
    if period is not None:
        if freq != "month" and freq != period:
            raise ValidationError(f"pass freq or period, not both (got {freq!r} and {period!r})")
        freq = period
    subs, _ = _subscriptions(dataset, currency)
    created = dataset.customers.created_at
    as_of = dataset.as_of
    if created.size:
        lo: np.datetime64 | None = created.min()
        hi = as_of
        if hi is None:
            candidates = [created.max()]
            if len(subs):
                candidates.append(subs.started_at.max())
                ended = subs.ended_at[~np.isnat(subs.ended_at)]
                if ended.size:
                    candidates.append(ended.max())
            hi = max(candidates)
    else:
        lo, hi = None, as_of
    per = resolve_periods(
        freq=freq,
        start=start,
        end=end,
        periods=None,
        default_start=lo,
        default_end=hi,
        tz=tz,
        max_periods=MAX_COHORT_PERIODS,
        metric="cohort_retention (periods x periods matrices)",
    )
    k = len(per)
    if k == 0:
        e = np.zeros((0, 0))
        return CohortRetention(
            per,
            cohort_by,
            np.zeros(0, np.int64),
            np.zeros((0, 0), np.int64),
            e,
            e,
            e,
            np.zeros((0, 0), bool),
        )
    bounds = per.boundaries()
    ch = _changes(subs, bounds, dataset.n_customers)
    joined = created if cohort_by == "signup" else ch.first_paid
    cohort = per.assign(joined)
    if as_of is not None:
        cohort[created > as_of] = -1
    size = np.bincount(cohort[cohort >= 0], minlength=k).astype(np.int64)

    # each change point starts a segment of constant MRR up to the customer's next one
    c = ch.customer
    nxt = np.full(c.size, k + 1, dtype=np.int64)
    if c.size > 1:
        same = c[1:] == c[:-1]
        nxt[:-1] = np.where(same, ch.j[1:], k + 1)
    coh = cohort[c]
    keep = (ch.after > 0) & (coh >= 0)
    coh, j_a, j_b, value = coh[keep], ch.j[keep], nxt[keep], ch.after[keep]
    o_a = np.maximum(j_a - coh - 1, 0)
    o_b = np.minimum(j_b - coh - 1, k)
    run = o_b > o_a
    coh, o_a, o_b, value = coh[run], o_a[run], o_b[run], value[run]
    width = k + 1
    count_diff = np.zeros(k * width, dtype=np.int64)
    mrr_diff = np.zeros(k * width, dtype=np.int64)
    np.add.at(count_diff, coh * width + o_a, 1)
    np.add.at(count_diff, coh * width + o_b, -1)
    np.add.at(mrr_diff, coh * width + o_a, value)
    np.add.at(mrr_diff, coh * width + o_b, -value)
    customers = np.cumsum(count_diff.reshape(k, width), axis=1)[:, :k]
    mrr_ticks = np.cumsum(mrr_diff.reshape(k, width), axis=1)[:, :k]
    offsets = np.arange(k)
    observed = offsets[None, :] < (k - np.arange(k))[:, None]
    customers = np.where(observed, customers, 0)
    mrr = np.where(observed, _money(mrr_ticks), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        customer_rate = np.where(
            observed & (size[:, None] > 0), customers / np.maximum(size, 1)[:, None], np.nan
        )
        base = mrr[:, :1]
        mrr_rate = np.where(observed & (base > 0), mrr / np.where(base > 0, base, 1.0), np.nan)
    return CohortRetention(
        per, cohort_by, size, customers.astype(np.int64), customer_rate, mrr, mrr_rate, observed
    )
