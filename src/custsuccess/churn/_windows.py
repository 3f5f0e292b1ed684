"""Whole-array helpers shared by churn records, classifiers and analysis.

Times are handled as int64 microseconds since the epoch (the representation of
``datetime64[us]``). A per-customer window ``[lo[c], hi[c])`` is applied to an event
table sorted by (customer, time) with one pass over the events: no per-customer loop.
"""

from __future__ import annotations

from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import Categorical, Dataset, EventTable, SubscriptionTable
from custsuccess.models import EventKind

__all__ = [
    "DEFAULT_ACTIVITY_KINDS",
    "US_PER_DAY",
    "ChurnState",
    "churn_state",
    "count_in_windows",
    "last_before",
    "last_per_group",
    "scatter",
    "us",
    "weighted_sum",
]

US_PER_DAY: Final = 86_400_000_000
#: The "no moment" sentinel of int64 microsecond arrays (NaT's bit pattern).
NO_TIME: Final = np.iinfo(np.int64).min

#: The event kinds that count as using the product, unless a caller says otherwise.
DEFAULT_ACTIVITY_KINDS: Final[tuple[str, ...]] = (
    EventKind.LOGIN.value,
    EventKind.FEATURE_USED.value,
    EventKind.PAGE_VIEW.value,
    EventKind.TIME_ON_SITE.value,
    EventKind.PURCHASE.value,
    EventKind.CART_ADD.value,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def us(times: npt.NDArray[Any]) -> I64:
    """``datetime64`` values as int64 microseconds (NaT becomes ``NO_TIME``)."""
    return np.asarray(times).astype("datetime64[us]").view(np.int64)


def scatter(n: int, index: npt.NDArray[Any], values: npt.NDArray[Any], fill: Any) -> Any:
    """An array of length ``n`` holding ``values`` at ``index`` and ``fill`` elsewhere."""
    out = np.full(n, fill, dtype=np.asarray(values).dtype)
    out[index] = values
    return out


def weighted_sum(groups: npt.NDArray[Any], weights: npt.NDArray[Any], n: int) -> F64:
    """Per group ``0..n-1``, the sum of ``weights`` (``numpy.bincount`` with weights)."""
    return np.asarray(np.bincount(groups, weights=weights, minlength=n), dtype=np.float64)


def window_mask(events: EventTable, lo: I64, hi: I64) -> npt.NDArray[np.bool_]:
    """Mask of events with ``lo[c] <= time < hi[c]`` for their customer ``c``."""
    t = us(events.time)
    c = events.customer
    return (t >= lo[c]) & (t < hi[c])


def count_in_windows(events: EventTable, lo: I64, hi: I64) -> I64:
    """Events per customer inside its window ``[lo[c], hi[c])``."""
    mask = window_mask(events, lo, hi)
    return np.bincount(events.customer[mask], minlength=len(lo)).astype(np.int64)


def last_per_group(groups: npt.NDArray[Any], rows: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """Of ``rows`` (ascending, ``groups[rows]`` non-decreasing), the last row of each group."""
    if rows.size == 0:
        return rows
    g = groups[rows]
    return rows[np.r_[g[1:] != g[:-1], True]]


def last_before(events: EventTable, hi: I64) -> I64:
    """Per customer, the time of its last event strictly before ``hi[c]`` (``NO_TIME``: none)."""
    t = us(events.time)
    rows = np.flatnonzero(t < hi[events.customer])
    last = last_per_group(events.customer, rows)
    out = np.full(len(hi), NO_TIME, dtype=np.int64)
    out[events.customer[last]] = t[last]
    return out


@attrs.frozen(slots=True, eq=False)
class ChurnState:
    """Every customer's subscription state at ``as_of``, as per-customer arrays.

    ``subscribed``: had at least one subscription started at or before ``as_of``;
    ``churned``: subscribed and none active at ``as_of``; ``started_at``: first
    subscription start (``NO_TIME`` when none); ``churned_at``: end of the last
    subscription (``NO_TIME`` unless churned); ``mrr_lost``: MRR of the subscriptions
    ending at ``churned_at``; ``last_row``: the subscription row giving the plan and
    currency (the latest-started of those ending at ``churned_at`` for churners, of the
    active ones for everyone else; -1 when none); ``cancel_row``: the latest-started
    subscription ending at ``churned_at`` with a cancel reason (-1 when none).
    """

    as_of: int
    subscriptions: SubscriptionTable
    subscribed: npt.NDArray[np.bool_]
    churned: npt.NDArray[np.bool_]
    started_at: I64
    churned_at: I64
    mrr: F64  # MRR at as_of (active subscriptions)
    mrr_lost: F64
    last_row: npt.NDArray[np.intp]
    cancel_row: npt.NDArray[np.intp]

    def plan(self) -> Categorical:
        """Per customer, the plan of ``last_row`` (missing when none)."""
        return _pick(self.subscriptions.plan, self.last_row)

    def currency(self) -> Categorical:
        """Per customer, the currency of ``last_row`` (missing when none)."""
        return _pick(self.subscriptions.currency, self.last_row)

    def cancel_reason(self) -> Categorical:
        """Per customer, the cancel reason given at churn (missing when none)."""
        return _pick(self.subscriptions.cancel_reason, self.cancel_row)


def _pick(column: Categorical, rows: npt.NDArray[np.intp]) -> Categorical:
    codes = np.where(rows >= 0, column.codes[np.maximum(rows, 0)] if len(column) else -1, -1)
    return Categorical(codes.astype(np.int32), column.categories)


def churn_state(view: Dataset, as_of: np.datetime64) -> ChurnState:
    """The churn state of every customer of ``view`` (already cut at ``as_of``)."""
    subs = view.subscriptions
    n = view.n_customers
    at = int(us(np.asarray([as_of]))[0])
    cust = subs.customer.astype(np.intp)
    start = us(subs.started_at)
    end = us(subs.ended_at)
    active = subs.active_at(as_of)
    subscribed = np.bincount(cust, minlength=n) > 0
    any_active = np.bincount(cust[active], minlength=n) > 0
    churned = subscribed & ~any_active
    offsets = subs.offsets()
    started_at = np.full(n, NO_TIME, dtype=np.int64)
    started_at[subscribed] = start[offsets[:-1][subscribed]]
    churned_at = np.full(n, NO_TIME, dtype=np.int64)
    if subscribed.any():
        # NaT (NO_TIME) ends only occur on active subscriptions; churners have none.
        latest_end = np.maximum.reduceat(end, offsets[:-1][subscribed])
        churned_at[np.flatnonzero(subscribed)] = latest_end
        churned_at[~churned] = NO_TIME
    ending = churned[cust] & (end == churned_at[cust])
    mrr_lost = weighted_sum(cust[ending], subs.mrr[ending], n)
    mrr = weighted_sum(cust[active], subs.mrr[active], n)
    last_row = np.full(n, -1, dtype=np.intp)
    for mask in (active, ending):
        rows = last_per_group(cust, np.flatnonzero(mask))
        last_row[cust[rows]] = rows
    cancel_row = np.full(n, -1, dtype=np.intp)
    rows = last_per_group(cust, np.flatnonzero(ending & (subs.cancel_reason.codes >= 0)))
    cancel_row[cust[rows]] = rows
    return ChurnState(
        at, subs, subscribed, churned, started_at, churned_at, mrr, mrr_lost, last_row, cancel_row
    )
