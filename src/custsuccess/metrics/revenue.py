"""Revenue metrics: MRR, MRR movements, GRR, NRR, ARPA, revenue churn, quick ratio, LTV, CLV.

Dataset-level functions (:func:`customer_mrr`, :func:`mrr_series`,
:func:`mrr_movements`) read a :class:`~custsuccess.dataset.Dataset`'s subscriptions with
whole-array numpy code. The rest are pure formulas on numbers or sequences.

**Which instant counts.** A customer's MRR at instant ``t`` is the sum of the ``mrr`` of
its subscriptions running at ``t`` (``started_at <= t < ended_at``), so it combines all
of the customer's subscriptions. A period holds the instants ``start <= t < end``, and a
change (a start, an end) at instant ``t`` belongs to the period holding ``t``, as
everywhere in the library (:meth:`Periods.assign
<custsuccess.metrics.Periods.assign>`, cohorts by first payment). So a period's
*closing* MRR is the MRR at its last instant (``end`` minus one microsecond, the
resolution of every timestamp), and its *opening* MRR the previous period's closing: a
subscription starting exactly at 2024-01-01T00:00Z is new MRR of January (not in
December's closing), and one ending exactly at 2024-02-01T00:00Z is in January's
closing and churns in February. Changes that start and end between two boundaries are
not seen (as in any month-end MRR report).

**Movements** (ChartMogul's definitions), per customer per period, comparing opening
``a`` and closing ``b``:

* new: ``a == 0 < b`` and the customer never had a paying subscription starting before
  the period's opening instant;
* reactivation: ``a == 0 < b`` and it had one (it paid before, then churned);
* expansion: ``0 < a < b``; contraction: ``0 < b < a``;
* churn: ``a > 0 == b``: only when the customer's last running subscription ends.

Amounts are summed in integer millionths of the currency unit, so
``opening + new + expansion + reactivation - contraction - churn == closing`` holds
exactly, per customer and in total, before conversion to float.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import result_html, to_pandas_renamed
from custsuccess.dataset import require_dataset, to_datetime64
from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame
from custsuccess.metrics._validate import (
    as_float_array,
    as_fraction,
    as_money,
    as_nonnegative,
    finite_result,
    overflow_safe_mean,
)
from custsuccess.metrics.periods import Freq, Moment, Periods, resolve_periods

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset, SubscriptionTable

__all__ = [
    "MOVEMENT_KINDS",
    "MrrMovements",
    "MrrSeries",
    "RevenueRates",
    "arpa",
    "clv",
    "customer_mrr",
    "grr",
    "ltv",
    "mrr_movements",
    "mrr_series",
    "nrr",
    "quick_ratio",
    "revenue_churn_rate",
    "revenue_rates",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TimeArray = npt.NDArray[np.datetime64]

#: Movement kinds, in the order of their codes in :attr:`MrrMovements.kind`.
MOVEMENT_KINDS: Final = ("new", "expansion", "contraction", "churn", "reactivation")
NEW, EXPANSION, CONTRACTION, CHURN, REACTIVATION = range(5)
#: MRR is summed in integer units of 1 / SCALE of the currency unit.
SCALE: Final = 1_000_000
_MAX_MRR: Final = 2**53 / SCALE


# --------------------------------------------------------------------------- pure formulas


def arpa(mrr: Any, *, include_zero: bool = False) -> float:
    """Average revenue per account: total MRR / number of accounts.

    Parameters
    ----------
    mrr
        One MRR per customer, already combined across its subscriptions (see
        :func:`customer_mrr`). Negative MRR is rejected.
    include_zero
        Count customers with zero MRR in the denominator. Default False: ARPA is over
        paying accounts, as ChartMogul and Baremetrics report it.

    Returns
    -------
    float
        NaN when there is no account to average over (empty input, or no paying one).

    Examples
    --------
    Accounts paying 100, 50 and 0: (100 + 50) / 2 paying accounts = 75.

    >>> arpa([100.0, 50.0, 0.0])
    75.0
    >>> arpa([100.0, 50.0, 0.0], include_zero=True)
    50.0
    """
    m = as_float_array(mrr, "mrr", minimum=0.0)
    n = m.size if include_zero else int(np.count_nonzero(m > 0))
    return overflow_safe_mean(m, n) if n else float("nan")


def _movement_args(start_mrr: Any, churned: Any, contraction: Any) -> tuple[float, float, float]:
    start = as_money(start_mrr, "start_mrr")
    lost = as_money(churned, "churned")
    down = as_money(contraction, "contraction")
    if start == 0:
        raise ValidationError(
            "start_mrr is 0: the rate is undefined with no MRR at the start of the period"
        )
    if lost + down > start * (1 + 1e-12):
        raise ValidationError(
            f"churned + contraction ({lost + down:g}) cannot exceed start_mrr ({start:g}): "
            "they are losses of the MRR present at the start"
        )
    return start, lost, down


def grr(start_mrr: float, *, churned: float, contraction: float) -> float:
    """Gross revenue retention: ``(start_mrr - churned - contraction) / start_mrr``.

    A fraction in [0, 1]: the share of the period's opening MRR still there at its end,
    counting losses only. ``start_mrr == 0`` raises ValidationError.

    >>> grr(1000.0, churned=50.0, contraction=30.0)  # (1000 - 50 - 30) / 1000
    0.92
    """
    start, lost, down = _movement_args(start_mrr, churned, contraction)
    return max(0.0, (start - lost - down) / start)


def nrr(start_mrr: float, *, churned: float, contraction: float, expansion: float) -> float:
    """Net revenue retention: ``(start_mrr - churned - contraction + expansion) / start_mrr``.

    A fraction >= 0 (above 1 when expansion outweighs losses). New and reactivated MRR
    are not included: NRR is about the customers present at the start.

    >>> nrr(1000.0, churned=50.0, contraction=30.0, expansion=120.0)  # 1040 / 1000
    1.04
    """
    start, lost, down = _movement_args(start_mrr, churned, contraction)
    up = as_money(expansion, "expansion")
    return finite_result(max(0.0, (start - lost - down + up) / start), "nrr")


def revenue_churn_rate(
    start_mrr: float,
    *,
    churned: float,
    contraction: float,
    expansion: float = 0.0,
    method: str = "gross",
) -> float:
    """Revenue (MRR) churn rate over a period, as a fraction of opening MRR.

    * ``method="gross"`` (default): ``(churned + contraction) / start_mrr``, in [0, 1];
      the default because it cannot be flattered by upsells.
    * ``method="net"``: ``(churned + contraction - expansion) / start_mrr``; negative when
      expansion exceeds the losses ("negative churn").

    >>> revenue_churn_rate(1000.0, churned=50.0, contraction=30.0)  # 80 / 1000
    0.08
    >>> revenue_churn_rate(1000.0, churned=50.0, contraction=30.0, expansion=120.0, method="net")
    -0.04
    """
    start, lost, down = _movement_args(start_mrr, churned, contraction)
    up = as_money(expansion, "expansion")
    if method == "gross":
        return min(1.0, (lost + down) / start)
    if method == "net":
        return (lost + down - up) / start
    raise ValidationError(f"method must be 'gross' or 'net', got {method!r}")


def quick_ratio(
    *, new: float, expansion: float, churned: float, contraction: float, reactivation: float = 0.0
) -> float:
    """SaaS quick ratio: ``(new + expansion + reactivation) / (churned + contraction)``.

    MRR gained per unit of MRR lost over a period. ``inf`` when nothing was lost and
    something gained; both zero raises ValidationError (no movement: no ratio).

    >>> quick_ratio(new=300.0, expansion=100.0, churned=150.0, contraction=50.0)  # 400 / 200
    2.0
    """
    gained = (
        as_money(new, "new")
        + as_money(expansion, "expansion")
        + as_money(reactivation, "reactivation")
    )
    lost = as_money(churned, "churned") + as_money(contraction, "contraction")
    if lost == 0:
        if gained == 0:
            raise ValidationError("quick_ratio is undefined: no MRR was gained or lost")
        return float("inf")
    return finite_result(gained / lost, "quick_ratio")


def ltv(arpa: float, churn_rate: float, *, gross_margin: float = 1.0) -> float:
    """Customer lifetime value (SaaS form): ``arpa * gross_margin / churn_rate``.

    ``arpa`` and ``churn_rate`` must be over the same period (monthly ARPA with monthly
    churn); ``1 / churn_rate`` is the expected lifetime in periods. ``churn_rate`` must be
    in (0, 1]: with zero churn the lifetime value is unbounded and a ValidationError says so.

    >>> ltv(100.0, 0.05, gross_margin=0.8)  # 100 * 0.8 / 0.05
    1600.0
    """
    a = as_money(arpa, "arpa")
    c = as_nonnegative(churn_rate, "churn_rate")
    if c == 0:
        raise ValidationError("churn_rate is 0: lifetime value is unbounded; it needs churn > 0")
    c = as_fraction(c, "churn_rate", open_low=True)
    m = as_fraction(gross_margin, "gross_margin")
    return finite_result(a * m / c, "ltv")


def clv(average_sale: float, purchases_per_year: float, retention_years: float) -> float:
    """Customer lifetime value, the founding text's form.

    ``CLV = average sale per customer x average purchases per year x average retention
    time in years`` ("Making customers happy"). Undiscounted, no margin: use :func:`ltv`
    for subscriptions, :mod:`custsuccess.clv` for probabilistic models.

    >>> clv(50.0, 4.0, 3.0)  # 50 * 4 * 3
    600.0
    """
    return finite_result(
        as_nonnegative(average_sale, "average_sale")
        * as_nonnegative(purchases_per_year, "purchases_per_year")
        * as_nonnegative(retention_years, "retention_years"),
        "clv",
    )


# --------------------------------------------------------------------------- dataset level


def _subscriptions(dataset: Dataset, currency: str | None) -> tuple[SubscriptionTable, str | None]:
    """The dataset's subscriptions in one currency (ValidationError when it is ambiguous)."""
    subs = dataset.subscriptions
    codes = subs.currency.codes
    present = np.unique(codes[codes >= 0])
    names = [subs.currency.categories[int(c)] for c in present]
    if currency is None:
        if len(names) > 1:
            raise ValidationError(
                f"subscriptions are in several currencies ({', '.join(names)}); MRR cannot be "
                f"summed across them: pass currency= one of {tuple(names)}"
            )
        chosen = names[0] if names else None
    else:
        if names and currency not in names:
            raise ValidationError(
                f"currency {currency!r} does not occur in the subscriptions (found {tuple(names)})"
            )
        chosen = currency
        if len(names) > 1:
            subs = subs.take(np.flatnonzero(codes == subs.currency.code_of(currency)))
    big = np.flatnonzero(subs.mrr >= _MAX_MRR)
    if big.size:
        i = int(big[0])
        raise ValidationError(
            f"subscription {str(subs.ids[i])!r}: mrr {float(subs.mrr[i])!r} is too large to "
            f"sum exactly (limit {_MAX_MRR:.0f})"
        )
    return subs, chosen


def _ticks(mrr: FloatArray) -> IntArray:
    return np.rint(mrr * SCALE).astype(np.int64)


def _money(ticks: Any) -> Any:
    return np.asarray(ticks, dtype=np.int64) / SCALE


def _default_span(
    subs: SubscriptionTable, dataset: Dataset
) -> tuple[np.datetime64 | None, np.datetime64 | None]:
    if len(subs) == 0:
        return None, dataset.as_of
    lo = subs.started_at.min()
    if dataset.as_of is not None:
        return lo, dataset.as_of
    ended = subs.ended_at[~np.isnat(subs.ended_at)]
    hi = max(subs.started_at.max(), ended.max()) if ended.size else subs.started_at.max()
    return lo, hi


def customer_mrr(
    dataset: Dataset, at: Moment | None = None, *, currency: str | None = None
) -> FloatArray:
    """Each customer's MRR at instant ``at``: the sum over its running subscriptions.

    ``at`` defaults to the dataset's ``as_of`` (or, without a window, the latest
    subscription start or end: the state after every known change). One float per
    customer, in customer-index order.

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Subscription
    >>> t = lambda m: datetime(2024, m, 1, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("a", t(1)), Customer("b", t(1))], [
    ...     Subscription("s1", "a", "pro", 100.0, "USD", t(1)),
    ...     Subscription("s2", "a", "seats", 20.0, "USD", t(2), t(4)),
    ...     Subscription("s3", "b", "pro", 100.0, "USD", t(1), t(2))])
    >>> customer_mrr(ds, "2024-03-01T00:00:00Z").tolist()  # a: 100 + 20, b: ended
    [120.0, 0.0]
    """
    require_dataset(dataset, "dataset", "customer_mrr()")
    subs, _ = _subscriptions(dataset, currency)
    if at is None:
        when = _default_span(subs, dataset)[1]
        if when is None:
            return np.zeros(dataset.n_customers)
    else:
        when = to_datetime64(at, "at")
    active = subs.active_at(when)
    ticks = np.zeros(dataset.n_customers, dtype=np.int64)
    np.add.at(ticks, subs.customer[active], _ticks(subs.mrr[active]))
    return _money(ticks)  # type: ignore[no-any-return]


@attrs.frozen(slots=True, eq=False)
class _Changes:
    """Per-customer MRR change points at period boundaries (the shared core).

    Row ``r``: customer ``customer[r]``'s MRR becomes ``after[r]`` (ticks) at boundary
    ``j[r]`` (``0..K``), having been ``before[r]``; rows sorted by (customer, j).
    """

    customer: npt.NDArray[np.int64]
    j: npt.NDArray[np.int64]
    before: IntArray
    after: IntArray
    bounds: TimeArray
    first_paid: TimeArray  # per customer: first start of a paying subscription (NaT: none)


def _changes(subs: SubscriptionTable, bounds: TimeArray, n_customers: int) -> _Changes:
    k1 = len(bounds)  # K + 1 boundaries
    paying = subs.mrr > 0
    cust = subs.customer[paying].astype(np.int64)
    start = subs.started_at[paying]
    end = subs.ended_at[paying]
    ticks = _ticks(subs.mrr[paying])
    # boundary j holds the MRR at the last instant before bounds[j]: a subscription counts
    # there when start < bounds[j] <= end, so a change at instant t lands in the period
    # holding t (starts <= t < ends), the rule Periods.assign and the cohorts use
    lo = np.searchsorted(bounds, start, side="right")
    hi = np.where(np.isnat(end), k1, np.searchsorted(bounds, end, side="right"))
    seen = lo < hi
    # first paying start per customer (subscriptions are sorted by customer, start)
    first_paid = np.full(n_customers, np.datetime64("NaT", "us"), dtype="datetime64[us]")
    if cust.size:
        head = np.ones(cust.size, dtype=bool)
        head[1:] = cust[1:] != cust[:-1]
        first_paid[cust[head]] = start[head]
    cust, lo, hi, ticks = cust[seen], lo[seen], hi[seen], ticks[seen]
    closes = hi < k1
    stride = np.int64(k1 + 1)
    key = np.concatenate([cust * stride + lo, cust[closes] * stride + hi[closes]])
    delta = np.concatenate([ticks, -ticks[closes]])
    order = np.argsort(key, kind="stable")
    key, delta = key[order], delta[order]
    if key.size:
        head = np.ones(key.size, dtype=bool)
        head[1:] = key[1:] != key[:-1]
        starts = np.flatnonzero(head)
        key = key[starts]
        delta = np.add.reduceat(delta, starts)
        nz = delta != 0
        key, delta = key[nz], delta[nz]
    c = key // stride
    j = key % stride
    total = np.cumsum(delta)
    group_head = np.ones(c.size, dtype=bool)
    group_head[1:] = c[1:] != c[:-1]
    # subtract the running total before each customer's first change point
    head_row = np.maximum.accumulate(np.where(group_head, np.arange(c.size), 0))
    after = total - (total - delta)[head_row]
    before = after - delta
    return _Changes(c, j, before, after, bounds, first_paid)


def _periods_for(
    dataset: Dataset,
    subs: SubscriptionTable,
    freq: Freq,
    start: Moment | None,
    end: Moment | None,
    periods: Periods | None,
    tz: str | None,
) -> Periods:
    lo, hi = _default_span(subs, dataset)
    return resolve_periods(
        freq=freq,
        start=start,
        end=end,
        periods=periods,
        default_start=lo,
        default_end=hi,
        tz=tz,
    )


@attrs.frozen(slots=True, eq=False)
class MrrSeries:
    """MRR per period: opening (first instant) and closing (exclusive end) MRR, the
    number of paying customers at closing and ARPA at closing (NaN with none)."""

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "opening": "money",
        "closing": "money",
        "customers": "count",
        "arpa": "money",
    }

    periods: Periods
    currency: str | None
    opening: FloatArray
    closing: FloatArray
    customers: IntArray
    arpa: FloatArray

    def __len__(self) -> int:
        return len(self.periods)

    _repr_html_ = result_html
    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by period label."""
        return to_frame(
            {
                "opening_mrr": self.opening,
                "mrr": self.closing,
                "customers": self.customers,
                "arpa": self.arpa,
            },
            self.periods.labels,
            "period",
        )


@attrs.frozen(slots=True, eq=False)
class MrrMovements:
    """MRR movements per period, in total and per customer.

    Totals (one entry per period): ``opening``, ``new``, ``expansion``, ``contraction``,
    ``churn``, ``reactivation``, ``closing`` (all >= 0, in currency units) and the
    number of customers behind each movement (``n_new``, ..., ``n_reactivation``).
    ``opening + new + expansion + reactivation - contraction - churn == closing``.

    Per customer, as a long table with one row per customer and period in which its MRR
    changed: ``customer`` (customer index), ``period``, ``kind`` (a code into
    :data:`MOVEMENT_KINDS`), ``amount`` (>= 0), ``before`` and ``after`` MRR.
    ``customer_opening`` / ``customer_closing`` hold every customer's MRR at the first
    and the last boundary.
    """

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "opening": "money",
        "new": "money",
        "expansion": "money",
        "contraction": "money",
        "churn": "money",
        "reactivation": "money",
        "closing": "money",
        "counts": "count",
        "amount": "money",
        "before": "money",
        "after": "money",
        "customer_opening": "money",
        "customer_closing": "money",
    }

    periods: Periods
    currency: str | None
    opening: FloatArray
    new: FloatArray
    expansion: FloatArray
    contraction: FloatArray
    churn: FloatArray
    reactivation: FloatArray
    closing: FloatArray
    counts: IntArray  # shape (len(periods), 5), columns in MOVEMENT_KINDS order
    customer: npt.NDArray[np.int64]
    period: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    amount: FloatArray
    before: FloatArray
    after: FloatArray
    customer_opening: FloatArray
    customer_closing: FloatArray

    def __len__(self) -> int:
        return len(self.periods)

    @property
    def net_new(self) -> FloatArray:
        """``new + expansion + reactivation - contraction - churn`` per period."""
        return self.closing - self.opening

    def of_kind(self, kind: str) -> npt.NDArray[np.bool_]:
        """Mask of per-customer rows of movement ``kind`` (one of MOVEMENT_KINDS)."""
        if kind not in MOVEMENT_KINDS:
            raise ValidationError(f"kind must be one of {MOVEMENT_KINDS}, got {kind!r}")
        mask: npt.NDArray[np.bool_] = self.kind == np.int8(MOVEMENT_KINDS.index(kind))
        return mask

    _repr_html_ = result_html
    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """Totals per period as a pandas DataFrame indexed by period label."""
        cols: dict[str, Any] = {
            "opening": self.opening,
            "new": self.new,
            "expansion": self.expansion,
            "contraction": self.contraction,
            "churn": self.churn,
            "reactivation": self.reactivation,
            "closing": self.closing,
        }
        for i, name in enumerate(MOVEMENT_KINDS):
            cols[f"n_{name}"] = self.counts[:, i]
        return to_frame(cols, self.periods.labels, "period")

    def customer_frame(self, dataset: Dataset | None = None) -> Any:
        """Per-customer movements as a long pandas DataFrame (ids from ``dataset``)."""
        import pandas as pd

        who: Any = self.customer if dataset is None else dataset.customer_ids[self.customer]
        return pd.DataFrame(
            {
                "customer": who,
                "period": np.asarray(self.periods.labels, dtype=object)[self.period]
                if len(self.periods)
                else np.empty(0, object),
                "movement": np.asarray(MOVEMENT_KINDS, dtype=object)[self.kind],
                "amount": self.amount,
                "before": self.before,
                "after": self.after,
            }
        )


def _boundary_totals(ch: _Changes, k1: int) -> tuple[IntArray, IntArray]:
    """Total MRR (ticks) and paying customers at each boundary."""
    delta = ch.after - ch.before
    step = np.zeros(k1, dtype=np.int64)
    np.add.at(step, ch.j, delta)
    total = np.cumsum(step)
    cstep = np.zeros(k1, dtype=np.int64)
    became = (ch.before == 0) & (ch.after > 0)
    stopped = (ch.before > 0) & (ch.after == 0)
    np.add.at(cstep, ch.j, became.astype(np.int64) - stopped.astype(np.int64))
    return total, np.cumsum(cstep)


def mrr_series(
    dataset: Dataset,
    *,
    freq: Freq = "month",
    start: Moment | None = None,
    end: Moment | None = None,
    periods: Periods | None = None,
    tz: str | None = None,
    currency: str | None = None,
) -> MrrSeries:
    """MRR per calendar period (month by default) or per contiguous window.

    Parameters
    ----------
    dataset
        Its subscriptions as of the dataset's window end.
    freq, start, end, tz, periods
        The periods: calendar ``freq`` from the period holding ``start`` (default: the
        first subscription start) to the one holding ``end`` (default: ``as_of``, else the
        last subscription date); or explicit contiguous ``periods``.
    currency
        Required when subscriptions are in more than one currency.

    Returns
    -------
    MrrSeries
        No periods when the dataset has no subscriptions and no ``start``/``end``.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Subscription
    >>> t = lambda m, d=1: datetime(2024, m, d, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("a", t(1)), Customer("b", t(1))], [
    ...     Subscription("s1", "a", "pro", 100.0, "USD", t(1, 10)),
    ...     Subscription("s2", "b", "pro", 50.0, "USD", t(2, 3), t(3, 20))])
    >>> s = mrr_series(ds, end="2024-03-31T00:00:00Z")
    >>> s.periods.labels, s.closing.tolist(), s.customers.tolist()
    (('2024-01', '2024-02', '2024-03'), [100.0, 150.0, 100.0], [1, 2, 1])
    """
    require_dataset(dataset, "dataset", "mrr_series()")
    subs, chosen = _subscriptions(dataset, currency)
    per = _periods_for(dataset, subs, freq, start, end, periods, tz)
    k = len(per)
    if k == 0:
        empty = np.empty(0)
        return MrrSeries(per, chosen, empty, empty, np.empty(0, np.int64), empty)
    bounds = per.boundaries()
    ch = _changes(subs, bounds, dataset.n_customers)
    total, paying = _boundary_totals(ch, k + 1)
    closing = _money(total[1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        per_account = np.where(paying[1:] > 0, closing / np.maximum(paying[1:], 1), np.nan)
    return MrrSeries(per, chosen, _money(total[:-1]), closing, paying[1:], per_account)


def mrr_movements(
    dataset: Dataset,
    *,
    freq: Freq = "month",
    start: Moment | None = None,
    end: Moment | None = None,
    periods: Periods | None = None,
    tz: str | None = None,
    currency: str | None = None,
) -> MrrMovements:
    """MRR movements (new, expansion, contraction, churn, reactivation) per period.

    Follows ChartMogul's definitions, comparing each customer's MRR at consecutive period
    boundaries (see the module documentation for the instant and the rules). Parameters as
    :func:`mrr_series`.

    Returns
    -------
    MrrMovements
        Totals per period and a per-customer long table; no periods when the dataset has
        no subscriptions and no ``start``/``end``.

    Examples
    --------
    ``a`` starts at 100 in January, upgrades to 150 in February, leaves in March and comes
    back at 80 in April; ``b`` starts at 50 in February:

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Subscription
    >>> t = lambda m, d=1: datetime(2024, m, d, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("a", t(1)), Customer("b", t(1))], [
    ...     Subscription("s1", "a", "pro", 100.0, "USD", t(1, 5), t(2, 10)),
    ...     Subscription("s2", "a", "pro+", 150.0, "USD", t(2, 10), t(3, 15)),
    ...     Subscription("s3", "a", "lite", 80.0, "USD", t(4, 2)),
    ...     Subscription("s4", "b", "pro", 50.0, "USD", t(2, 3))])
    >>> m = mrr_movements(ds, start="2024-01-01T00:00:00Z", end="2024-04-30T00:00:00Z")
    >>> m.to_pandas()[["opening", "new", "expansion", "churn", "reactivation", "closing"]]
             opening    new  expansion  churn  reactivation  closing
    period
    2024-01      0.0  100.0        0.0    0.0           0.0    100.0
    2024-02    100.0   50.0       50.0    0.0           0.0    200.0
    2024-03    200.0    0.0        0.0  150.0           0.0     50.0
    2024-04     50.0    0.0        0.0    0.0          80.0    130.0
    """
    require_dataset(dataset, "dataset", "mrr_movements()")
    subs, chosen = _subscriptions(dataset, currency)
    per = _periods_for(dataset, subs, freq, start, end, periods, tz)
    k = len(per)
    n = dataset.n_customers
    if k == 0:
        e = np.empty(0)
        ei = np.empty(0, np.int64)
        z = np.zeros(n)
        return MrrMovements(
            per,
            chosen,
            e,
            e,
            e,
            e,
            e,
            e,
            e,
            np.zeros((0, 5), np.int64),
            ei,
            ei,
            np.empty(0, np.int8),
            e,
            e,
            e,
            z,
            z.copy(),
        )
    bounds = per.boundaries()
    ch = _changes(subs, bounds, n)
    total, _ = _boundary_totals(ch, k + 1)
    move = ch.j > 0
    c, j, a, b = ch.customer[move], ch.j[move], ch.before[move], ch.after[move]
    kind = np.full(c.size, EXPANSION, dtype=np.int8)
    kind[(a > 0) & (b < a)] = CONTRACTION
    kind[(a > 0) & (b == 0)] = CHURN
    starting = a == 0
    paid_before = ch.first_paid[c] < bounds[j - 1]
    kind[starting & ~paid_before] = NEW
    kind[starting & paid_before] = REACTIVATION
    amount = np.abs(b - a)
    period = j - 1
    flat = np.zeros(k * 5, dtype=np.int64)
    np.add.at(flat, period * 5 + kind, amount)
    sums = flat.reshape(k, 5)
    counts = np.bincount(period * 5 + kind, minlength=k * 5).reshape(k, 5).astype(np.int64)
    # per-customer MRR at the first and last boundary
    opening_c = np.zeros(n, dtype=np.int64)
    at0 = ch.j == 0
    opening_c[ch.customer[at0]] = ch.after[at0]
    closing_c = np.zeros(n, dtype=np.int64)
    if ch.customer.size:
        last = np.ones(ch.customer.size, dtype=bool)
        last[:-1] = ch.customer[1:] != ch.customer[:-1]
        closing_c[ch.customer[last]] = ch.after[last]
    return MrrMovements(
        per,
        chosen,
        _money(total[:-1]),
        _money(sums[:, NEW]),
        _money(sums[:, EXPANSION]),
        _money(sums[:, CONTRACTION]),
        _money(sums[:, CHURN]),
        _money(sums[:, REACTIVATION]),
        _money(total[1:]),
        counts,
        c,
        period,
        kind,
        _money(amount),
        _money(a),
        _money(b),
        _money(opening_c),
        _money(closing_c),
    )


@attrs.frozen(slots=True, eq=False)
class RevenueRates:
    """Per-period revenue rates derived from :func:`mrr_movements` (fractions):

    * ``grr = (opening - churn - contraction) / opening``
    * ``nrr = (opening - churn - contraction + expansion) / opening``
    * ``gross_churn = (churn + contraction) / opening``,
      ``net_churn = (churn + contraction - expansion) / opening``
    * ``quick_ratio = (new + expansion + reactivation) / (churn + contraction)``

    NaN where opening MRR is 0 (no rate: nothing to retain), ``inf`` quick ratio where
    nothing was lost but something gained, NaN where nothing moved.
    """

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "grr": "fraction",
        "nrr": "fraction",
        "gross_churn": "fraction",
        "net_churn": "fraction",
        "quick_ratio": "ratio",
    }

    periods: Periods
    grr: FloatArray
    nrr: FloatArray
    gross_churn: FloatArray
    net_churn: FloatArray
    quick_ratio: FloatArray
    movements: MrrMovements

    def __len__(self) -> int:
        return len(self.periods)

    _repr_html_ = result_html
    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by period label."""
        return to_frame(
            {
                "grr": self.grr,
                "nrr": self.nrr,
                "gross_churn": self.gross_churn,
                "net_churn": self.net_churn,
                "quick_ratio": self.quick_ratio,
            },
            self.periods.labels,
            "period",
        )


def revenue_rates(
    dataset: Dataset,
    *,
    freq: Freq = "month",
    start: Moment | None = None,
    end: Moment | None = None,
    periods: Periods | None = None,
    tz: str | None = None,
    currency: str | None = None,
) -> RevenueRates:
    """GRR, NRR, gross and net revenue churn and quick ratio per period of a dataset.

    Options as :func:`mrr_movements`. Over a ``freq="year"`` period these compare the
    opening and closing MRR of the year directly (the customers present at its start).

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Subscription
    >>> t = lambda m, d=1: datetime(2024, m, d, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer(c, t(1)) for c in "abc"], [
    ...     Subscription("s1", "a", "pro", 100.0, "USD", t(1, 2), t(2, 5)),
    ...     Subscription("s2", "a", "max", 130.0, "USD", t(2, 5)),
    ...     Subscription("s3", "b", "pro", 100.0, "USD", t(1, 2), t(2, 9)),
    ...     Subscription("s4", "c", "pro", 40.0, "USD", t(2, 3))])
    >>> r = revenue_rates(ds, start="2024-02-01T00:00:00Z", end="2024-02-01T00:00:00Z")
    >>> r.grr.tolist(), r.nrr.tolist(), r.quick_ratio.tolist()  # 100/200, 130/200, 70/100
    ([0.5], [0.65], [0.7])
    """
    require_dataset(dataset, "dataset", "revenue_rates()")
    m = mrr_movements(
        dataset, freq=freq, start=start, end=end, periods=periods, tz=tz, currency=currency
    )
    o = m.opening
    lost = m.churn + m.contraction
    gained = m.new + m.expansion + m.reactivation
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(o > 0, o, 1.0)
        grr_v = np.where(o > 0, (o - lost) / safe, np.nan)
        nrr_v = np.where(o > 0, (o - lost + m.expansion) / safe, np.nan)
        gross = np.where(o > 0, lost / safe, np.nan)
        net = np.where(o > 0, (lost - m.expansion) / safe, np.nan)
        qr = np.where(
            lost > 0, gained / np.where(lost > 0, lost, 1.0), np.where(gained > 0, np.inf, np.nan)
        )
    return RevenueRates(m.periods, grr_v, nrr_v, gross, net, qr, m)
