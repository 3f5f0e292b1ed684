"""Contracts and renewals: the subscriptions that come up for renewal in a window, with
the account's health, its churn probability (when the scoring model gives one) and the
revenue at risk.

Revenue at risk of a renewal is ``mrr x churn probability``: the monthly revenue the
renewal is expected to lose. Without a churn probability it is NaN (unknown), never 0;
:attr:`Renewals.mrr_poor` gives the blunter figure that needs no model, the MRR renewing
in accounts of the poor tier. Formulas are on the documentation page
``docs/renewals.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import to_pandas_renamed
from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame
from custsuccess.metrics.accounts import report_dataset

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset
    from custsuccess.health.report import HealthReport

__all__ = ["RenewalGroups", "Renewals", "churn_probability_of", "upcoming_renewals"]

DAY_US = 86_400_000_000
F64 = npt.NDArray[np.float64]


def churn_probability_of(report: HealthReport, given: Any = None) -> F64:
    """Per report row, the churn probability: ``given`` (one value in [0, 1] per row, NaN
    for unknown) when passed, else the report's ``churn_probability`` when its model
    gives one, else NaN everywhere."""
    m = len(report)
    source = given if given is not None else getattr(report, "churn_probability", None)
    if source is None:
        return np.full(m, np.nan)
    if callable(source):  # a method rather than an array
        source = source()
        if source is None:
            return np.full(m, np.nan)
    try:
        p = np.asarray(source, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            f"churn_probability must hold numbers, got {type(source).__name__}"
        ) from None
    if p.shape != (m,):
        raise ValidationError(
            f"churn_probability must hold one value per report row ({m}), got shape {p.shape}"
        )
    bad = np.flatnonzero(~np.isnan(p) & ((p < 0) | (p > 1)))
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"churn_probability of customer {str(report.customer_ids[i])!r} must be in "
            f"[0, 1], got {float(p[i])!r}"
        )
    out: F64 = p.copy()
    return out


@attrs.frozen(slots=True, eq=False)
class RenewalGroups:
    """Upcoming renewals summed per group (owner or segment; key None: no value)."""

    by: str
    keys: npt.NDArray[np.object_]
    renewals: npt.NDArray[np.int64]
    mrr: F64
    mrr_poor: F64
    revenue_at_risk: F64

    def __len__(self) -> int:
        return len(self.keys)

    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by the group key."""
        return to_frame(
            {"renewals": self.renewals, "mrr": self.mrr, "mrr_poor": self.mrr_poor,
             "revenue_at_risk": self.revenue_at_risk},
            ["(none)" if k is None else str(k) for k in self.keys.tolist()],
            self.by,
        )


@attrs.frozen(slots=True, eq=False)
class Renewals:
    """One row per subscription renewing in ``(as_of, as_of + within_days]``, soonest
    first (ties by subscription id).

    ``mrr`` is the subscription's MRR, ``amount`` what it invoices per billing interval;
    ``score``, ``tier``, ``owner``, ``segment`` are its account's; ``churn_probability``
    NaN where unknown; ``revenue_at_risk = mrr * churn_probability``.
    """

    as_of: np.datetime64
    within_days: int
    customer_ids: npt.NDArray[np.str_]
    subscription_ids: npt.NDArray[np.str_]
    renews_at: npt.NDArray[np.datetime64]
    days_to_renewal: F64
    auto_renew: npt.NDArray[np.bool_]
    mrr: F64
    amount: F64
    score: F64
    tier: npt.NDArray[np.str_]
    owner: npt.NDArray[np.object_]
    segment: npt.NDArray[np.object_]
    churn_probability: F64
    revenue_at_risk: F64

    def __len__(self) -> int:
        return len(self.subscription_ids)

    @property
    def mrr_poor(self) -> float:
        """MRR renewing in accounts of the poor tier."""
        return float(self.mrr[self.tier == "poor"].sum())

    def total_revenue_at_risk(self) -> float:
        """Sum of ``revenue_at_risk`` (NaN when any renewal lacks a churn probability)."""
        return float(self.revenue_at_risk.sum()) if len(self) else 0.0

    def by_owner(self) -> RenewalGroups:
        """The renewals summed per owner."""
        return self._group("owner", self.owner)

    def by_segment(self) -> RenewalGroups:
        """The renewals summed per segment."""
        return self._group("segment", self.segment)

    def _group(self, by: str, column: npt.NDArray[np.object_]) -> RenewalGroups:
        # owners and segments are non-empty names: "" stands for "none" (it sorts first)
        labels = ["" if v is None else str(v) for v in column.tolist()]
        present, groups = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
        groups = groups.reshape(-1)
        keys = np.array([None if k == "" else str(k) for k in present.tolist()], dtype=object)
        if keys.size and keys[0] is None:  # the group without a value last
            keys = np.concatenate([keys[1:], keys[:1]])
            groups = np.where(groups == 0, keys.size - 1, groups - 1)
        g = keys.size

        def total(values: F64) -> F64:
            summed: F64 = np.bincount(groups, weights=values, minlength=g).astype(np.float64)
            return summed

        return RenewalGroups(
            by=by,
            keys=keys,
            renewals=np.bincount(groups, minlength=g).astype(np.int64),
            mrr=total(self.mrr),
            mrr_poor=total(np.where(self.tier == "poor", self.mrr, 0.0)),
            revenue_at_risk=total(self.revenue_at_risk),
        )

    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """A pandas DataFrame, one row per renewal, indexed by subscription id."""
        names = ("customer_ids", "renews_at", "days_to_renewal", "auto_renew", "mrr",
                 "amount", "score", "tier", "owner", "segment", "churn_probability",
                 "revenue_at_risk")
        columns = {("customer_id" if n == "customer_ids" else n): getattr(self, n)
                   for n in names}
        return to_frame(columns, self.subscription_ids.tolist(), "subscription_id")


def upcoming_renewals(
    report: HealthReport,
    dataset: Dataset | None = None,
    *,
    within_days: int = 90,
    churn_probability: Any = None,
) -> Renewals:
    """The subscriptions of the report's accounts that renew in the ``within_days`` after
    the report's ``as_of``, with health, churn probability and revenue at risk.

    ``churn_probability``: one value per report row (NaN: unknown); default the report's
    own ``churn_probability`` when its model gives one, else unknown.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> from custsuccess import Customer, Dataset, Event, Subscription
    >>> from custsuccess.health import HealthModel
    >>> from custsuccess.health.rules import RecencyRule
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records(
    ...     [Customer("a", t, owner="ann"), Customer("b", t, owner="bob")],
    ...     [Subscription.from_amount("sa", "a", "pro", 12_000, "USD", t,
    ...                               billing_interval="year", renews_at=t + timedelta(days=365)),
    ...      Subscription("sb", "b", "pro", 500.0, "USD", t, renews_at=t + timedelta(days=400))],
    ...     [Event("a", "login", t + timedelta(days=320)),
    ...      Event("b", "login", t + timedelta(days=335))])
    >>> report = HealthModel([RecencyRule()]).score(ds, t + timedelta(days=335))
    >>> r = upcoming_renewals(report, within_days=60, churn_probability=[0.25, 0.1])
    >>> r.subscription_ids.tolist(), r.days_to_renewal.tolist(), r.mrr.tolist()
    (['sa'], [30.0], [1000.0])

    ``a`` last logged in 15 days ago (score 51.7); revenue at risk 1000 x 0.25:

    >>> r.score.round(1).tolist(), r.revenue_at_risk.tolist(), r.by_owner().keys.tolist()
    ([51.7], [250.0], ['ann'])
    """
    from custsuccess.health.report import tier_names

    ds = report_dataset(report, dataset, "upcoming_renewals")
    if isinstance(within_days, bool) or not isinstance(within_days, int) or within_days <= 0:
        raise ValidationError(
            f"upcoming_renewals: within_days must be a whole number > 0, got {within_days!r}"
        )
    p = churn_probability_of(report, churn_probability)
    t = report.as_of
    subs = ds.until(t).subscriptions
    n = ds.n_customers
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[report.index] = np.arange(len(report), dtype=np.int64)
    horizon = t + np.timedelta64(within_days * DAY_US, "us")
    renews = subs.renews_at
    pick = np.flatnonzero(
        subs.active_at(t)
        & ~np.isnat(renews)
        & (renews > t)
        & (renews <= horizon)
        & (row_of[subs.customer] >= 0)
    )
    pick = pick[np.lexsort((subs.ids[pick], renews[pick]))]
    rows = row_of[subs.customer[pick]]
    mrr = subs.mrr[pick].astype(np.float64)
    prob = p[rows]
    customers = ds.customers
    who = subs.customer[pick]
    return Renewals(
        as_of=t,
        within_days=within_days,
        customer_ids=report.customer_ids[rows],
        subscription_ids=subs.ids[pick],
        renews_at=renews[pick],
        days_to_renewal=(renews[pick] - t).astype("timedelta64[us]").astype(np.int64) / DAY_US,
        auto_renew=subs.auto_renew[pick],
        mrr=mrr,
        amount=mrr * subs.interval_months[pick],
        score=report.score[rows],
        tier=tier_names(report.tier_code[rows]),
        owner=customers.owner.take(who).decode(),
        segment=customers.segment.take(who).decode(),
        churn_probability=prob,
        revenue_at_risk=mrr * prob,
    )
