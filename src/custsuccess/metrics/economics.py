"""Funnel and retention economics (founding texts 2-4): stage conversion along a
host-defined funnel, average order value and its trend, revenue concentration, CAC
payback and LTV:CAC, and a retention what-if.

Formulas and the texts' quoted figures (labelled as theirs) are on the documentation page
``docs/economics.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame
from custsuccess.metrics._validate import as_fraction, as_money, as_nonnegative, as_positive

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset
    from custsuccess.metrics.periods import Moment

__all__ = [
    "FUNNEL_SIGNUP",
    "FUNNEL_SUBSCRIBED",
    "AverageOrderValue",
    "Funnel",
    "RetentionWhatIf",
    "average_order_value",
    "cac_payback_months",
    "funnel_conversion",
    "ltv_to_cac",
    "retention_what_if",
    "revenue_concentration",
]

#: Funnel stage names with a built-in meaning: the account's creation, and the start of
#: its first subscription. Every other stage name is an event kind.
FUNNEL_SIGNUP: Final = "signup"
FUNNEL_SUBSCRIBED: Final = "subscribed"
_NONE: Final = np.iinfo(np.int64).max

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def _dataset(dataset: Any, what: str) -> Dataset:
    from custsuccess.dataset import Dataset

    if not isinstance(dataset, Dataset):
        raise ValidationError(f"{what} needs a custsuccess Dataset, got {type(dataset).__name__}")
    return dataset


# --------------------------------------------------------------------------- funnel


@attrs.frozen(slots=True, eq=False)
class Funnel:
    """Accounts reaching each stage, in order: ``reached[k]`` accounts reached stage
    ``k`` after every stage before it; ``step_conversion[k] = reached[k] /
    reached[k - 1]`` (1 for the first stage) and ``overall_conversion[k] = reached[k] /
    reached[0]``."""

    stages: tuple[str, ...]
    reached: I64
    step_conversion: F64
    overall_conversion: F64

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "reached": "count", "step_conversion": "fraction", "overall_conversion": "fraction",
    }

    def to_frame(self) -> Any:
        return to_frame(
            {"reached": self.reached, "step_conversion": self.step_conversion,
             "overall_conversion": self.overall_conversion},
            self.stages,
            "stage",
        )


def funnel_conversion(
    dataset: Dataset, stages: Sequence[str] = ("signup", "login", "subscribed", "purchase")
) -> Funnel:
    """Stage conversion along a host-defined funnel.

    ``stages`` are names in order: ``"signup"`` (the account's ``created_at``),
    ``"subscribed"`` (its first subscription's start) or any event kind (its first event
    of that kind). An account reaches stage ``k`` when it reached stage ``k - 1`` and the
    stage happened at or after it (the first such moment counts). The default funnel is
    signup, login, subscribed, purchase. Funnel texts name
    awareness, interest, decision, action and retention (founding text 2): map each to
    an event kind of yours.

    >>> from datetime import datetime, timedelta, timezone
    >>> from custsuccess import Customer, Dataset, Event, Subscription
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> d = lambda n: t + timedelta(days=n)
    >>> ds = Dataset.from_records(
    ...     [Customer(c, d(0)) for c in "abcd"],
    ...     [Subscription("s1", "a", "pro", 10.0, "USD", d(5)),
    ...      Subscription("s2", "b", "pro", 10.0, "USD", d(1))],
    ...     [Event("a", "page_view", d(1)), Event("b", "page_view", d(3)),
    ...      Event("c", "page_view", d(2)), Event("a", "purchase", d(9), value=20)])
    >>> f = funnel_conversion(ds, ["signup", "page_view", "subscribed", "purchase"])
    >>> f.reached.tolist(), f.step_conversion.round(2).tolist()
    ([4, 3, 1, 1], [1.0, 0.75, 0.33, 1.0])

    ``b`` subscribed before its page view, so it does not count as converting after it.
    """
    ds = _dataset(dataset, "funnel_conversion")
    if isinstance(stages, str) or not stages:
        raise ValidationError(f"stages must be a non-empty list of stage names, got {stages!r}")
    names = tuple(stages)
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ValidationError(f"stages[{i}] must be a stage name, got {name!r}")
    n = ds.n_customers
    previous = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    reached = np.ones(n, dtype=bool)
    counts = []
    for name in names:  # a loop over stages, not accounts
        if name == FUNNEL_SIGNUP:
            when = ds.customers.created_at.astype("datetime64[us]").view(np.int64)
            at = np.where(when >= previous, when, _NONE)
        elif name == FUNNEL_SUBSCRIBED:
            subs = ds.subscriptions
            at = _first_at_or_after(subs.customer, subs.started_at, previous, n)
        else:
            ev = ds.events_of(name, properties=())
            at = _first_at_or_after(ev.customer, ev.time, previous, n)
        reached &= at != _NONE
        previous = np.where(reached, at, _NONE)
        counts.append(int(reached.sum()))
    got = np.array(counts, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.r_[1.0, got[1:] / np.where(got[:-1] > 0, got[:-1], np.nan)]
        overall = got / (got[0] if got[0] else np.nan)
    return Funnel(names, got, step.astype(np.float64), overall.astype(np.float64))


def _first_at_or_after(
    customer: npt.NDArray[np.integer[Any]],
    time: npt.NDArray[np.datetime64],
    threshold: I64,
    n: int,
) -> I64:
    """Per customer, the first ``time`` at or after its ``threshold`` (``_NONE``: none)."""
    t = time.astype("datetime64[us]").view(np.int64)
    out = np.full(n, _NONE, dtype=np.int64)
    if t.size:
        ok = t >= threshold[customer]
        np.minimum.at(out, customer[ok], t[ok])
    return out


# --------------------------------------------------------------------------- orders


@attrs.frozen(slots=True, eq=False)
class AverageOrderValue:
    """Per calendar month (``months``, ``YYYY-MM``): ``orders``, ``revenue`` and ``aov =
    revenue / orders`` (NaN without an order); ``trend``: the least-squares slope of
    ``aov`` per month over the months with orders (NaN with fewer than two)."""

    months: tuple[str, ...]
    orders: I64
    revenue: F64
    aov: F64
    trend: float

    #: The unit of each field (see :mod:`custsuccess.units`); ``trend`` is money a month.
    units: ClassVar[Mapping[str, str]] = {
        "orders": "count", "revenue": "money", "aov": "money", "trend": "money",
    }

    def to_frame(self) -> Any:
        return to_frame({"orders": self.orders, "revenue": self.revenue, "aov": self.aov},
                        self.months, "month")


def average_order_value(dataset: Dataset, *, kind: str = "purchase") -> AverageOrderValue:
    """Average order value per calendar month (UTC) of the ``kind`` events' values, and
    its trend (founding text 4's "average sale per customer").

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = lambda m, d: datetime(2024, m, d, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("a", t(1, 1))], events=[
    ...     Event("a", "purchase", t(1, 5), value=10), Event("a", "purchase", t(1, 9), value=30),
    ...     Event("a", "purchase", t(3, 2), value=50)])
    >>> a = average_order_value(ds)
    >>> a.months, a.aov.tolist(), round(a.trend, 6)  # (50 - 20) / 2 months
    (('2024-01', '2024-02', '2024-03'), [20.0, nan, 50.0], 15.0)
    """
    ds = _dataset(dataset, "average_order_value")
    if not isinstance(kind, str) or not kind:
        raise ValidationError(f"kind must be an event kind, got {kind!r}")
    ev = ds.events_of(kind, properties=())
    v = ev.value
    bad = np.flatnonzero(np.isnan(v) | (v < 0))
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"{kind} of customer {str(ds.customer_ids[ev.customer[i]])!r} at {ev.time[i]}: "
            f"an order needs a value >= 0, got {float(v[i])!r}"
        )
    if not len(ev):
        return AverageOrderValue((), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.nan)
    month = ev.time.astype("datetime64[M]")
    first, last = month.min(), month.max()
    index = (month - first).astype(np.int64)
    k = int((last - first).astype(np.int64)) + 1
    orders = np.bincount(index, minlength=k).astype(np.int64)
    revenue = np.bincount(index, weights=v, minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        aov = np.where(orders > 0, revenue / np.maximum(orders, 1), np.nan)
    has = np.flatnonzero(orders > 0)
    trend = float(np.polyfit(has.astype(np.float64), aov[has], 1)[0]) if has.size >= 2 else np.nan
    labels = tuple(str(m) for m in np.arange(first, last + 1))
    return AverageOrderValue(labels, orders, revenue, aov, trend)


# --------------------------------------------------------------------------- concentration


def revenue_concentration(
    dataset: Dataset, *, at: Moment | None = None, top: float = 0.2
) -> float:
    """Share of MRR from the top ``top`` share (default 20 %) of paying customers by MRR
    at ``at`` (default: the dataset's latest change): ``ceil(top x paying)`` customers.
    NaN with no paying customer.

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Subscription
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> mrr = [500, 100, 100, 100, 100, 50, 50, 0, 0, 0]
    >>> ds = Dataset.from_records(
    ...     [Customer(f"c{i}", t) for i in range(10)],
    ...     [Subscription(f"s{i}", f"c{i}", "p", float(m), "USD", t) for i, m in enumerate(mrr)])
    >>> revenue_concentration(ds)  # 7 paying: the top ceil(1.4) = 2 give 600 of 1000
    0.6
    """
    from custsuccess.metrics.revenue import customer_mrr

    ds = _dataset(dataset, "revenue_concentration")
    share = as_fraction(top, "top", open_low=True)
    mrr = customer_mrr(ds, at)
    paying = np.sort(mrr[mrr > 0])[::-1]
    if not paying.size:
        return float("nan")
    k = int(np.ceil(share * paying.size - 1e-9))
    return float(paying[:k].sum() / paying.sum())


# --------------------------------------------------------------------------- unit economics


def cac_payback_months(cac: float, arpa: float, *, gross_margin: float = 1.0) -> float:
    """Months to earn back the cost of acquiring a customer: ``cac / (arpa x gross
    margin)`` with ``arpa`` the monthly revenue per account; inf when it earns nothing.

    >>> cac_payback_months(1200, 100, gross_margin=0.8)  # 1200 / 80
    15.0
    """
    c = as_money(cac, "cac")
    a = as_money(arpa, "arpa")
    m = as_fraction(gross_margin, "gross_margin")
    earned = a * m
    return c / earned if earned > 0 else float("inf")


def ltv_to_cac(ltv: float, cac: float) -> float:
    """``ltv / cac``: lifetime value per unit of acquisition cost (3 or more is the usual
    SaaS aim).

    >>> ltv_to_cac(3600, 1200)
    3.0
    """
    value = as_money(ltv, "ltv")
    cost = as_positive(cac, "cac")
    return value / cost


@attrs.frozen(slots=True)
class RetentionWhatIf:
    """Revenue and profit over ``years`` with the current and the changed retention.

    ``base`` / ``changed``: per year, customers at the year's start, revenue and profit;
    ``revenue_change`` / ``profit_change``: relative change of the totals (0.25 = +25 %).
    """

    years: int
    retention: float
    changed_retention: float
    base_customers: tuple[float, ...]
    changed_customers: tuple[float, ...]
    base_revenue: float
    changed_revenue: float
    base_profit: float
    changed_profit: float

    @property
    def revenue_change(self) -> float:
        return self.changed_revenue / self.base_revenue - 1 if self.base_revenue else np.nan

    @property
    def profit_change(self) -> float:
        if not self.base_profit:
            return float("nan")
        return (self.changed_profit - self.base_profit) / abs(self.base_profit)


def retention_what_if(
    customers: float,
    revenue_per_customer: float,
    retention: float,
    change: float,
    *,
    years: int = 5,
    margin: float = 1.0,
    fixed_costs: float = 0.0,
) -> RetentionWhatIf:
    """Revenue and profit of today's customers over ``years`` at yearly ``retention``,
    and with retention moved by ``change`` (e.g. +0.05 for five points).

    Year ``y`` (0-based) starts with ``customers x retention ** y``; revenue is that times
    ``revenue_per_customer`` (a year's); profit is revenue x ``margin`` (the contribution
    margin) minus ``fixed_costs`` a year. With fixed costs, profit moves by a larger share
    than revenue: the lever behind the texts' "+5 % retention, +25-95 % profit" (quoted by
    founding text 2; their figure, not computed here).

    >>> w = retention_what_if(1000, 1200, 0.80, 0.05, years=3, margin=0.5,
    ...                       fixed_costs=1_000_000)
    >>> [round(c, 1) for c in w.base_customers], [round(c, 1) for c in w.changed_customers]
    ([1000.0, 800.0, 640.0], [1000.0, 850.0, 722.5])

    Revenue 1.2M x (1 + 0.8 + 0.64) = 2.928M, then 3.087M (+5.4 %); profit after 3M of
    fixed costs: -1.536M, then -1.4565M:

    >>> round(w.revenue_change, 4), round(w.base_profit), round(w.changed_profit)
    (0.0543, -1536000, -1456500)
    """
    n = as_nonnegative(customers, "customers")
    arpc = as_money(revenue_per_customer, "revenue_per_customer")
    r = as_fraction(retention, "retention")
    if isinstance(change, bool) or not isinstance(change, (int, float)) or not np.isfinite(change):
        raise ValidationError(f"change must be a finite number, got {change!r}")
    r2 = r + float(change)
    if not 0 <= r2 <= 1:
        raise ValidationError(
            f"retention + change must stay in [0, 1], got {r!r} + {change!r} = {r2!r}"
        )
    if isinstance(years, bool) or not isinstance(years, int) or years < 1:
        raise ValidationError(f"years must be a whole number >= 1, got {years!r}")
    m = as_fraction(margin, "margin")
    fixed = as_nonnegative(fixed_costs, "fixed_costs")
    y = np.arange(years, dtype=np.float64)
    base = n * r**y
    changed = n * r2**y
    base_revenue = float(base.sum() * arpc)
    changed_revenue = float(changed.sum() * arpc)
    return RetentionWhatIf(
        years=years,
        retention=r,
        changed_retention=r2,
        base_customers=tuple(base.tolist()),
        changed_customers=tuple(changed.tolist()),
        base_revenue=base_revenue,
        changed_revenue=changed_revenue,
        base_profit=base_revenue * m - fixed * years,
        changed_profit=changed_revenue * m - fixed * years,
    )
