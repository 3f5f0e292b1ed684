"""Customer (logo) churn and retention rates, their period conversion, and per-period counts.

* :func:`churn_rate` has two forms, picked by ``method``: the conventional
  ``lost / customers at start`` (default) and the founding text's
  ``lost / (new + existing)`` (BusinessNewsDaily, "Tips to reduce customer churn").
* :func:`retention_rate` is ``(CE - CN) / CS`` ("Making customers happy" writes it
  ``x 100``: the same number in percent; rates here are fractions, see
  :mod:`custsuccess.units`).
* :func:`customer_flow` counts, per period of a dataset, the paying customers at the start
  and end, the new (and reactivated) ones and the lost ones, and applies both formulas.

A customer *is a customer* at an instant when its MRR there is above zero (see
:mod:`custsuccess.metrics.revenue` for the instant); lost = paying at the period's
opening instant and not at its closing one, so ``CE = CS - lost + CN`` exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import result_html, to_pandas_renamed
from custsuccess.dataset import require_dataset
from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame
from custsuccess.metrics._validate import as_count, as_fraction, choice
from custsuccess.metrics.periods import Freq, Moment, Periods

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = [
    "CHURN_METHODS",
    "CustomerFlow",
    "annual_churn_rate",
    "churn_rate",
    "customer_flow",
    "monthly_churn_rate",
    "retention_rate",
]

#: ``"start"``: lost / customers at start; ``"founding"``: lost / (new + existing).
CHURN_METHODS: Final = ("start", "founding")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def churn_rate(
    lost: int, customers_start: int, new_customers: int = 0, *, method: str = "start"
) -> float:
    """Customer (logo) churn rate over one period, as a fraction in [0, 1].

    Parameters
    ----------
    lost
        Customers lost during the period.
    customers_start
        Customers at the start of the period (the founding text's "existing customers").
    new_customers
        Customers acquired during the period (used by ``method="founding"`` only).
    method
        ``"start"`` (default): ``lost / customers_start``. The conventional rate: it does
        not fall just because many customers were acquired, it compounds over periods
        (:func:`annual_churn_rate`) and it is the rate the LTV formula expects.
        ``"founding"``: ``lost / (new_customers + customers_start)``, as BusinessNewsDaily
        defines it: the share of everyone served in the period who left.

    Raises
    ------
    ValidationError
        With a zero denominator (no customers at the start: no rate, rather than a
        division warning), or more customers lost than the denominator holds.

    Examples
    --------
    100 customers at the start, 20 acquired, 6 lost: 6 / 100 = 6 %, or
    6 / (20 + 100) = 5 % in the founding text's form.

    >>> churn_rate(6, 100, 20)
    0.06
    >>> churn_rate(6, 100, 20, method="founding")
    0.05
    """
    choice(method, "method", CHURN_METHODS)
    n_lost = as_count(lost, "lost")
    start = as_count(customers_start, "customers_start")
    new = as_count(new_customers, "new_customers")
    denominator = start if method == "start" else start + new
    if denominator == 0:
        raise ValidationError(
            "customers_start is 0: churn rate is undefined with no customers at the start "
            "of the period" + (" and none acquired" if method == "founding" else "")
        )
    if n_lost > denominator:
        what = "customers_start" if method == "start" else "customers_start + new_customers"
        hint = (
            "; customers both acquired and lost within the period belong to method='founding'"
            if method == "start"
            else ""
        )
        raise ValidationError(f"lost ({n_lost}) cannot exceed {what} ({denominator}){hint}")
    return n_lost / denominator


def retention_rate(customers_end: int, new_customers: int, customers_start: int) -> float:
    """Customer retention rate as a fraction: ``(CE - CN) / CS``.

    CE: customers at the end of the period; CN: new customers acquired during it; CS:
    customers at its start ("Making customers happy", which shows it ``x 100``, in
    percent: :func:`custsuccess.units.as_percent`). In [0, 1] for consistent counts.

    Raises ValidationError when ``customers_start`` is 0 or when ``CE - CN`` is negative
    or above ``CS`` (counts that cannot describe one period).

    >>> retention_rate(110, 20, 100)  # (110 - 20) / 100
    0.9
    """
    ce = as_count(customers_end, "customers_end")
    cn = as_count(new_customers, "new_customers")
    cs = as_count(customers_start, "customers_start")
    if cs == 0:
        raise ValidationError(
            "customers_start is 0: retention rate is undefined with no customers at the start"
        )
    kept = ce - cn
    if kept < 0 or kept > cs:
        raise ValidationError(
            f"customers_end - new_customers = {kept} must be between 0 and customers_start "
            f"({cs}): the customers kept from the start"
        )
    return kept / cs


def annual_churn_rate(monthly_rate: float, *, periods_per_year: int = 12) -> float:
    """Convert a per-period churn rate to an annual one, compounding:
    ``1 - (1 - monthly_rate) ** periods_per_year``.

    Multiplying by 12 overstates annual churn (10 % a month is 72 %, not 120 %, a year).

    >>> round(annual_churn_rate(0.10), 4)  # 1 - 0.9 ** 12
    0.7176
    """
    m = as_fraction(monthly_rate, "monthly_rate")
    k = as_count(periods_per_year, "periods_per_year")
    if k == 0:
        raise ValidationError("periods_per_year must be >= 1, got 0")
    return float(1.0 - (1.0 - m) ** k)


def monthly_churn_rate(annual_rate: float, *, periods_per_year: int = 12) -> float:
    """The per-period churn rate equivalent to an annual one:
    ``1 - (1 - annual_rate) ** (1 / periods_per_year)`` (inverse of
    :func:`annual_churn_rate`).

    >>> round(monthly_churn_rate(0.7176), 4)
    0.1
    """
    a = as_fraction(annual_rate, "annual_rate")
    k = as_count(periods_per_year, "periods_per_year")
    if k == 0:
        raise ValidationError("periods_per_year must be >= 1, got 0")
    return float(1.0 - (1.0 - a) ** (1.0 / k))


@attrs.frozen(slots=True, eq=False)
class CustomerFlow:
    """Paying customers per period: ``customers_start`` (CS), ``new`` (CN: new and
    reactivated), ``lost``, ``customers_end`` (CE = CS - lost + CN), and the rates.

    ``churn_rate`` uses ``method``; both rates are fractions. Both are NaN for a
    period with no customer at its start (and with none acquired either, for
    ``method="founding"``): no rate, flagged rather than raised because other periods of
    the same series are still meaningful.
    """

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "customers_start": "count",
        "new": "count",
        "lost": "count",
        "customers_end": "count",
        "churn_rate": "fraction",
        "retention_rate": "fraction",
    }

    periods: Periods
    method: str
    customers_start: IntArray
    new: IntArray
    lost: IntArray
    customers_end: IntArray
    churn_rate: FloatArray
    retention_rate: FloatArray

    def __len__(self) -> int:
        return len(self.periods)

    _repr_html_ = result_html
    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by period label."""
        return to_frame(
            {
                "customers_start": self.customers_start,
                "new": self.new,
                "lost": self.lost,
                "customers_end": self.customers_end,
                "churn_rate": self.churn_rate,
                "retention_rate": self.retention_rate,
            },
            self.periods.labels,
            "period",
        )


def customer_flow(
    dataset: Dataset,
    *,
    freq: Freq = "month",
    start: Moment | None = None,
    end: Moment | None = None,
    periods: Periods | None = None,
    tz: str | None = None,
    currency: str | None = None,
    method: str = "start",
) -> CustomerFlow:
    """Customer counts, churn rate and retention rate per period of a dataset.

    Periods as in :func:`~custsuccess.metrics.revenue.mrr_series`. A customer counts at
    an instant when its MRR there is above zero.

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Subscription
    >>> t = lambda m, d=1: datetime(2024, m, d, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer(c, t(1)) for c in "abc"], [
    ...     Subscription("s1", "a", "pro", 10.0, "USD", t(1, 2)),
    ...     Subscription("s2", "b", "pro", 10.0, "USD", t(1, 2), t(2, 9)),
    ...     Subscription("s3", "c", "pro", 10.0, "USD", t(2, 3))])
    >>> f = customer_flow(ds, end="2024-02-01T00:00:00Z")
    >>> f.customers_start.tolist(), f.new.tolist(), f.lost.tolist(), f.churn_rate.tolist()
    ([0, 2], [2, 1], [0, 1], [nan, 0.5])
    >>> f.retention_rate.tolist()  # February: (2 - 1) / 2
    [nan, 0.5]
    """
    require_dataset(dataset, "dataset", "customer_flow()")
    from custsuccess.metrics.revenue import CHURN, NEW, REACTIVATION, mrr_movements

    choice(method, "method", CHURN_METHODS)
    m = mrr_movements(
        dataset, freq=freq, start=start, end=end, periods=periods, tz=tz, currency=currency
    )
    k = len(m.periods)
    paying_start = np.zeros(k, dtype=np.int64)
    if k:
        # paying customers at the first boundary, then carried by the movements
        first = int(np.count_nonzero(m.customer_opening > 0))
        gained = m.counts[:, NEW] + m.counts[:, REACTIVATION]
        lost = m.counts[:, CHURN]
        paying_end = first + np.cumsum(gained - lost)
        paying_start = np.concatenate([[first], paying_end[:-1]]).astype(np.int64)
    else:
        gained = lost = paying_end = np.zeros(0, dtype=np.int64)
    denominator = paying_start if method == "start" else paying_start + gained
    with np.errstate(invalid="ignore", divide="ignore"):
        churn = np.where(denominator > 0, lost / np.maximum(denominator, 1), np.nan)
        retention = np.where(
            paying_start > 0, (paying_end - gained) / np.maximum(paying_start, 1), np.nan
        )
    return CustomerFlow(
        m.periods,
        method,
        paying_start,
        gained.astype(np.int64),
        lost.astype(np.int64),
        paying_end.astype(np.int64),
        churn,
        retention,
    )
