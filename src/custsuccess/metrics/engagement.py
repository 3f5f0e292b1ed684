"""Engagement metrics: stickiness (DAU/MAU), time on site, pages per visit, email open and
click-through rates, cart adds, repeat purchases and referrals.

The pure functions take per-customer numbers (lists, arrays or Series) and return a
float; with no observation to average over (an empty input, no buyer, no email sent)
they return NaN, as documented on each. The ``*_of`` functions and
:func:`stickiness_by_period` read a :class:`~custsuccess.dataset.Dataset`'s events with
whole-array code. Sources: "Making customers happy" (post-conversion activity: pages
viewed, time on site, email open and click-through rates, items added to cart;
referrals; repeat purchases) and eSputnik (repeat-purchase rate: customers with 2 or more
purchases).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import result_html, to_pandas_renamed
from custsuccess.dataset import require_dataset, to_datetime64
from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame
from custsuccess.metrics._validate import as_float_array
from custsuccess.metrics.periods import Freq, Moment, Periods, resolve_periods
from custsuccess.models import EventKind

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = [
    "ACTIVITY_KINDS",
    "EmailRates",
    "EngagementSummary",
    "Stickiness",
    "average_time_on_site",
    "cart_adds_per_customer",
    "email_rates",
    "email_rates_of",
    "engagement_counts",
    "engagement_of",
    "pages_per_visit",
    "referral_rate",
    "repeat_purchase_rate",
    "stickiness",
    "stickiness_by_period",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: The event kinds that make a customer "active" on a day by default.
ACTIVITY_KINDS: Final = (EventKind.LOGIN, EventKind.FEATURE_USED, EventKind.PAGE_VIEW)
_DAY: Final = np.timedelta64(1, "D")


def _counts(values: Any, name: str) -> FloatArray:
    out = as_float_array(values, name, minimum=0.0)
    frac = np.flatnonzero(out != np.floor(out))
    if frac.size:
        i = int(frac[0])
        raise ValidationError(
            f"{name} must hold whole counts, got {float(out[i])!r} at position {i}"
        )
    return out


def _total(value: Any, name: str) -> int:
    """A count, or a sequence of per-customer counts, summed."""
    if np.isscalar(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return int(_counts([value.item() if isinstance(value, np.generic) else value], name)[0])
    return int(_counts(value, name).sum())


def stickiness(daily_active: Any, monthly_active: int) -> float:
    """DAU/MAU stickiness: the mean of the daily active users over a month divided by the
    month's distinct active users; in [0, 1].

    ``daily_active`` holds one count per day of the month; each must be at most
    ``monthly_active``. NaN for an empty ``daily_active`` or when nobody was active
    (``monthly_active == 0``).

    >>> stickiness([30, 20, 10], 100)  # mean 20 / 100
    0.2
    """
    dau = _counts(daily_active, "daily_active")
    mau = _total(monthly_active, "monthly_active")
    if dau.size == 0:
        return float("nan")
    over = np.flatnonzero(dau > mau)
    if over.size:
        i = int(over[0])
        raise ValidationError(
            f"daily_active cannot exceed monthly_active ({mau}), got {dau[i]:g} at position {i}"
        )
    if mau == 0:
        return float("nan")
    return float(dau.mean() / mau)


def average_time_on_site(seconds: Any) -> float:
    """Mean visit duration in seconds (one duration per visit); NaN with no visit.

    >>> average_time_on_site([60, 120, 300])  # 480 / 3
    160.0
    """
    s = as_float_array(seconds, "seconds", minimum=0.0)
    return float(s.mean()) if s.size else float("nan")


def pages_per_visit(page_views: Any, visits: Any) -> float:
    """``sum(page_views) / sum(visits)``: pages viewed per visit; NaN with no visit.

    Both are counts (per customer, aligned, or totals).

    >>> pages_per_visit([10, 2], [4, 1])  # 12 / 5
    2.4
    """
    pv = _total(page_views, "page_views")
    v = _total(visits, "visits")
    if v == 0:
        if pv:
            raise ValidationError(f"page_views is {pv} but there are no visits")
        return float("nan")
    return pv / v


def cart_adds_per_customer(cart_adds: Any) -> float:
    """Mean number of items added to cart per customer (one count per customer, zeros
    included); NaN with no customer.

    >>> cart_adds_per_customer([3, 0, 1, 0])  # 4 / 4
    1.0
    """
    c = _counts(cart_adds, "cart_adds")
    return float(c.mean()) if c.size else float("nan")


def repeat_purchase_rate(purchases: Any) -> float:
    """Customers with 2 or more purchases / customers with 1 or more (eSputnik's "good
    result": every customer buying at least twice); in [0, 1]. NaN with no buyer.

    >>> repeat_purchase_rate([0, 1, 2, 5])  # 2 repeat buyers / 3 buyers
    0.6666666666666666
    """
    p = _counts(purchases, "purchases")
    buyers = int(np.count_nonzero(p >= 1))
    return int(np.count_nonzero(p >= 2)) / buyers if buyers else float("nan")


def referral_rate(referrals: Any) -> float:
    """Share of customers who referred at least one other customer (one count per
    customer, zeros included); in [0, 1]. NaN with no customer.

    >>> referral_rate([0, 2, 0, 1])  # 2 referrers / 4 customers
    0.5
    """
    r = _counts(referrals, "referrals")
    return int(np.count_nonzero(r >= 1)) / r.size if r.size else float("nan")


@attrs.frozen(slots=True)
class EmailRates:
    """Email engagement with its denominator stated.

    ``open_rate = opened / base`` and ``click_through_rate = clicked / base`` where
    ``base`` is ``delivered`` when known, else ``sent`` (``denominator`` says which);
    ``click_to_open_rate = clicked / opened`` (clicks per open). NaN when the base is 0.
    """

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "open_rate": "fraction",
        "click_through_rate": "fraction",
        "click_to_open_rate": "fraction",
        "sent": "count",
        "delivered": "count",
        "opened": "count",
        "clicked": "count",
    }

    open_rate: float
    click_through_rate: float
    click_to_open_rate: float
    denominator: str
    sent: int
    delivered: int | None
    opened: int
    clicked: int


def email_rates(sent: Any, opened: Any, clicked: Any, *, delivered: Any = None) -> EmailRates:
    """Email open rate, click-through rate and click-to-open rate.

    Parameters
    ----------
    sent, opened, clicked
        Counts of emails sent, opened and clicked (unique per email: an email opened
        twice counts once), as totals or per-customer sequences (summed).
    delivered
        Emails delivered (sent minus bounces). When given it is the denominator, as
        email platforms report; otherwise ``sent`` is, and ``denominator`` says so.

    Examples
    --------
    200 sent, 190 delivered, 57 opened, 19 clicked: open rate 57 / 190 = 30 %, CTR
    19 / 190 = 10 %, click-to-open 19 / 57 = 33 %.

    >>> r = email_rates(200, 57, 19, delivered=190)
    >>> r.open_rate, r.click_through_rate, round(r.click_to_open_rate, 4), r.denominator
    (0.3, 0.1, 0.3333, 'delivered')
    >>> email_rates(200, 57, 19).open_rate  # per sent: 57 / 200
    0.285
    """
    n_sent = _total(sent, "sent")
    n_open = _total(opened, "opened")
    n_click = _total(clicked, "clicked")
    n_delivered = None if delivered is None else _total(delivered, "delivered")
    if n_delivered is not None and n_delivered > n_sent:
        raise ValidationError(f"delivered ({n_delivered}) cannot exceed sent ({n_sent})")
    base = n_sent if n_delivered is None else n_delivered
    label = "sent" if n_delivered is None else "delivered"
    for name, count in (("opened", n_open), ("clicked", n_click)):
        if count > base:
            raise ValidationError(
                f"{name} ({count}) cannot exceed {label} ({base}): count unique opens and "
                "clicks, one per email"
            )
    nan = float("nan")
    return EmailRates(
        n_open / base if base else nan,
        n_click / base if base else nan,
        n_click / n_open if n_open else nan,
        label,
        n_sent,
        n_delivered,
        n_open,
        n_click,
    )


# --------------------------------------------------------------------------- dataset level


def _customer_mask(dataset: Dataset) -> npt.NDArray[np.bool_]:
    """Customers that exist in the dataset's window (created by its end)."""
    created = dataset.customers.created_at
    hi = dataset.window[1]
    return np.ones(created.shape, bool) if hi is None else created < hi


def engagement_counts(dataset: Dataset, kind: EventKind | str) -> IntArray:
    """Events of ``kind`` per customer within the dataset's window (customer-index order).

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("a", t), Customer("b", t)],
    ...     events=[Event("b", "referral", t), Event("b", "referral", t)])
    >>> engagement_counts(ds, "referral").tolist()
    [0, 2]
    """
    require_dataset(dataset, "dataset", "engagement_counts()")
    ev = dataset.events_of(kind, properties=())
    return np.bincount(ev.customer, minlength=dataset.n_customers).astype(np.int64)


def email_rates_of(dataset: Dataset, *, unique_by: str | None = None) -> EmailRates:
    """:func:`email_rates` of a dataset's ``email_sent`` / ``email_open`` /
    ``email_click`` events (denominator: sent; the events record no bounces).

    Opens and clicks are made unique per email: with ``unique_by`` naming an event
    property that identifies the email (e.g. ``"message"``), by distinct (customer,
    value) pairs; otherwise each customer's opens and clicks are capped at the number of
    emails sent to it.
    """
    require_dataset(dataset, "dataset", "email_rates_of()")
    n = dataset.n_customers
    sent = engagement_counts(dataset, EventKind.EMAIL_SENT)
    per: list[IntArray] = []
    for kind in (EventKind.EMAIL_OPEN, EventKind.EMAIL_CLICK):
        if unique_by is None:
            per.append(np.minimum(engagement_counts(dataset, kind), sent))
            continue
        ev = dataset.events_of(kind, properties=(unique_by,))
        codes = ev.property(unique_by).codes.astype(np.int64)
        if np.any(codes < 0):
            raise ValidationError(
                f"unique_by={unique_by!r}: {int(np.count_nonzero(codes < 0))} {kind.value} "
                "event(s) lack that property"
            )
        pairs = np.unique(ev.customer.astype(np.int64) * (int(codes.max(initial=0)) + 1) + codes)
        per.append(
            np.bincount(pairs // (int(codes.max(initial=0)) + 1), minlength=n).astype(np.int64)
        )
    return email_rates(int(sent.sum()), int(per[0].sum()), int(per[1].sum()))


@attrs.frozen(slots=True, eq=False)
class Stickiness:
    """DAU/MAU per period: ``dau`` (mean distinct active customers per day over the
    period's observed days), ``mau`` (distinct active customers in the period) and
    ``stickiness = dau / mau`` (NaN when nobody was active)."""

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "dau": "number",
        "mau": "count",
        "stickiness": "fraction",
        "days": "days",
    }

    periods: Periods
    dau: FloatArray
    mau: IntArray
    stickiness: FloatArray
    days: FloatArray

    def __len__(self) -> int:
        return len(self.periods)

    _repr_html_ = result_html
    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by period label."""
        return to_frame(
            {"dau": self.dau, "mau": self.mau, "stickiness": self.stickiness, "days": self.days},
            self.periods.labels,
            "period",
        )


def stickiness_by_period(
    dataset: Dataset,
    *,
    freq: Freq = "month",
    kinds: Sequence[EventKind | str] = ACTIVITY_KINDS,
    start: Moment | None = None,
    end: Moment | None = None,
    periods: Periods | None = None,
    tz: str | None = None,
) -> Stickiness:
    """DAU/MAU stickiness per period from the dataset's activity events.

    A customer is active on a (UTC) day when it has at least one event of ``kinds``
    (default: login, feature_used, page_view) that day. DAU is averaged over the
    period's days up to the end of the data (the dataset's ``as_of``, else ``end`` when
    given, else the last activity; whole explicit ``periods`` otherwise), so a month in
    progress is not diluted by days still to come.

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = lambda d, h=9: datetime(2024, 1, d, h, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("a", t(1)), Customer("b", t(1))], events=[
    ...     Event("a", "login", t(1)), Event("a", "login", t(1, 15)), Event("a", "login", t(2)),
    ...     Event("b", "login", t(2)), Event("a", "login", t(3))])
    >>> s = stickiness_by_period(ds)
    >>> s.days.tolist(), s.dau.tolist(), s.mau.tolist()  # days 1-3: (1 + 2 + 1) / 3
    ([3.0], [1.3333333333333333], [2])
    >>> round(float(s.stickiness[0]), 4)
    0.6667
    """
    require_dataset(dataset, "dataset", "stickiness_by_period()")
    if isinstance(kinds, (str, EventKind)):
        kinds = (kinds,)
    ev = dataset.events_of(*kinds, properties=())
    times = ev.time
    last = times.max() if len(times) else None
    per = resolve_periods(
        freq=freq,
        start=start,
        end=end,
        periods=periods,
        default_start=times.min() if len(times) else None,
        default_end=dataset.as_of if dataset.as_of is not None else last,
        tz=tz,
    )
    # the data are taken to cover up to as_of, else up to an explicit end, else up to
    # the last activity
    if dataset.as_of is not None:
        data_end: np.datetime64 | None = dataset.as_of
    elif end is not None:
        data_end = to_datetime64(end, "end")
    elif periods is not None:
        data_end = None
    else:
        data_end = last
    k = len(per)
    day = times.astype("datetime64[D]").astype(np.int64)
    cust = ev.customer.astype(np.int64)
    # distinct (customer, day): events are sorted by (customer, time), so are these keys
    first = np.ones(day.size, dtype=bool)
    first[1:] = (cust[1:] != cust[:-1]) | (day[1:] != day[:-1])
    p_day = per.assign(times[first]) if k else np.empty(0, np.intp)
    active_days = np.bincount(p_day[p_day >= 0], minlength=k).astype(np.float64)
    p_all = per.assign(times) if k else np.empty(0, np.intp)
    key = cust * max(k, 1) + p_all
    keep = p_all >= 0
    mau = np.bincount(p_all[keep][_distinct_sorted(key[keep])], minlength=k).astype(np.int64)
    if k:
        stop = per.ends
        if data_end is not None:
            day_after = (data_end.astype("datetime64[D]") + 1).astype("datetime64[us]")
            stop = np.minimum(stop, np.maximum(day_after, per.starts))
        span = (stop - per.starts) / _DAY
        days = np.ceil(span)
    else:
        days = np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dau = np.where(days > 0, active_days / np.maximum(days, 1), 0.0)
        ratio = np.where(mau > 0, dau / np.maximum(mau, 1), np.nan)
    return Stickiness(per, dau, mau, ratio, days)


def _distinct_sorted(key: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Mask of the first row of each run of equal keys, for keys whose equal values are
    adjacent (grouped)."""
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return first


@attrs.frozen(slots=True)
class EngagementSummary:
    """Engagement of a dataset's customers over its window (see :func:`engagement_of`)."""

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "customers": "count",
        "average_time_on_site": "seconds",
        "pages_per_visit": "number",
        "cart_adds_per_customer": "number",
        "repeat_purchase_rate": "fraction",
        "referral_rate": "fraction",
    }

    customers: int
    average_time_on_site: float
    pages_per_visit: float
    cart_adds_per_customer: float
    repeat_purchase_rate: float
    referral_rate: float
    email: EmailRates


def engagement_of(dataset: Dataset) -> EngagementSummary:
    """The engagement metrics of a dataset's events within its window.

    Customers are those created before the window's end. A visit is a ``time_on_site``
    event (its value: the visit's seconds); pages are ``page_view`` events; cart adds,
    purchases and referrals are counted per customer.

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("a", t), Customer("b", t)], events=[
    ...     Event("a", "purchase", t, 10), Event("a", "purchase", t, 5),
    ...     Event("b", "purchase", t, 8), Event("b", "referral", t),
    ...     Event("a", "time_on_site", t, 100), Event("a", "page_view", t)])
    >>> e = engagement_of(ds)
    >>> e.repeat_purchase_rate, e.referral_rate, e.average_time_on_site, e.pages_per_visit
    (0.5, 0.5, 100.0, 1.0)
    """
    require_dataset(dataset, "dataset", "engagement_of()")
    mask = _customer_mask(dataset)
    visits = dataset.events_of(EventKind.TIME_ON_SITE, properties=())

    def per_customer(kind: EventKind) -> IntArray:
        return engagement_counts(dataset, kind)[mask]

    return EngagementSummary(
        int(np.count_nonzero(mask)),
        average_time_on_site(visits.value[mask[visits.customer]]),
        pages_per_visit(
            int(per_customer(EventKind.PAGE_VIEW).sum()),
            int(np.count_nonzero(mask[visits.customer])),
        ),
        cart_adds_per_customer(per_customer(EventKind.CART_ADD)),
        repeat_purchase_rate(per_customer(EventKind.PURCHASE)),
        referral_rate(per_customer(EventKind.REFERRAL)),
        email_rates_of(dataset),
    )
