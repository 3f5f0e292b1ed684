"""Dataset-level metrics on a :class:`~custsuccess.distributed.dataset.PartitionedDataset`.

Each function has the signature and result type of its single-machine namesake in
:mod:`custsuccess.metrics`. The recipe is the same for all of them:

1. a first pass asks every partition for its span (first and last dates, currencies)
   and the client resolves the periods exactly as the single-machine default would, so
   every partition reports on one common period grid;
2. every partition runs the single-machine function with those explicit periods;
3. the client merges: counts are summed, money is summed in integer millionths of the
   currency unit (as :mod:`custsuccess.metrics.revenue` does) and converted to float
   once, and rates are recomputed from the merged counts with the same formulas.

Counts are therefore equal to the single-machine figures, money and rates bit for bit;
means over merged samples agree to rounding (1e-12 relative).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.distributed._dask import compute
from custsuccess.distributed.dataset import PartitionedDataset
from custsuccess.errors import ValidationError
from custsuccess.metrics import cohorts as _cohorts
from custsuccess.metrics import revenue as _revenue
from custsuccess.metrics import support as _support
from custsuccess.metrics._validate import choice
from custsuccess.metrics.nps import nps_by_period as _single_nps_by_period
from custsuccess.metrics.periods import Freq, Moment, Periods, resolve_periods
from custsuccess.metrics.retention import CHURN_METHODS, CustomerFlow
from custsuccess.metrics.revenue import (
    CHURN,
    NEW,
    REACTIVATION,
    SCALE,
    MrrMovements,
    MrrSeries,
)

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset
    from custsuccess.metrics.cohorts import CohortRetention
    from custsuccess.metrics.nps import NpsByPeriod
    from custsuccess.metrics.support import BusinessCalendar, SupportResponseTimes, Target

__all__ = [
    "cohort_retention",
    "customer_flow",
    "mrr_movements",
    "mrr_series",
    "nps_by_period",
    "support_response_times",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _ticks(money: Any) -> IntArray:
    """Money that was made as ``ticks / SCALE`` back to its exact integer ticks."""
    return np.rint(np.asarray(money, dtype=np.float64) * SCALE).astype(np.int64)


def _money(ticks: IntArray) -> FloatArray:
    out: FloatArray = np.asarray(ticks, dtype=np.int64) / SCALE
    return out


def _check(dataset: Any, name: str) -> PartitionedDataset:
    if not isinstance(dataset, PartitionedDataset):
        raise ValidationError(
            f"{name}(dataset, ...) needs a PartitionedDataset, got {type(dataset).__name__}"
        )
    return dataset


# --------------------------------------------------------------------------- spans


@attrs.frozen(slots=True)
class _Span:
    """What the default periods of the metrics depend on, for one partition."""

    as_of: np.datetime64 | None
    currencies: frozenset[str]
    sub_first: np.datetime64 | None
    sub_last: np.datetime64 | None  # latest start or end
    created_first: np.datetime64 | None
    created_last: np.datetime64 | None
    nps_first: np.datetime64 | None
    nps_last: np.datetime64 | None


def _span(ds: Dataset) -> _Span:
    from custsuccess.models import EventKind

    subs = ds.subscriptions
    codes = np.unique(subs.currency.codes[subs.currency.codes >= 0])
    currencies = frozenset(subs.currency.categories[int(c)] for c in codes)
    sub_first = sub_last = None
    if len(subs):
        sub_first = subs.started_at.min()
        ended = subs.ended_at[~np.isnat(subs.ended_at)]
        sub_last = max(subs.started_at.max(), ended.max()) if ended.size else subs.started_at.max()
    created = ds.customers.created_at
    nps = ds.events_of(EventKind.NPS_RESPONSE, properties=()).time
    return _Span(
        ds.as_of,
        currencies,
        sub_first,
        sub_last,
        created.min() if created.size else None,
        created.max() if created.size else None,
        nps.min() if nps.size else None,
        nps.max() if nps.size else None,
    )


def _lo(values: Sequence[np.datetime64 | None]) -> np.datetime64 | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _hi(values: Sequence[np.datetime64 | None]) -> np.datetime64 | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


@attrs.frozen(slots=True)
class _Spans:
    parts: tuple[_Span, ...]

    @property
    def as_of(self) -> np.datetime64 | None:
        return self.parts[0].as_of

    def currency(self, currency: str | None) -> str | None:
        names = sorted(set().union(*(p.currencies for p in self.parts)))
        if currency is None:
            if len(names) > 1:
                raise ValidationError(
                    f"subscriptions are in several currencies ({', '.join(names)}); MRR cannot "
                    f"be summed across them: pass currency= one of {tuple(names)}"
                )
            return names[0] if names else None
        if names and currency not in names:
            raise ValidationError(
                f"currency {currency!r} does not occur in the subscriptions (found {tuple(names)})"
            )
        if len(names) > 1:
            raise ValidationError(
                "a PartitionedDataset with subscriptions in several currencies is not "
                "supported yet: filter it to one currency first"
            )
        return currency

    def subscription_span(self) -> tuple[np.datetime64 | None, np.datetime64 | None]:
        """The default span of the revenue metrics (``revenue._default_span``)."""
        first = _lo([p.sub_first for p in self.parts])
        if first is None:
            return None, self.as_of
        if self.as_of is not None:
            return first, self.as_of
        return first, _hi([p.sub_last for p in self.parts])


def spans(dataset: PartitionedDataset) -> _Spans:
    return _Spans(tuple(compute(*dataset.map(_span))))


# --------------------------------------------------------------------------- global index


def _ids(ds: Dataset) -> npt.NDArray[np.str_]:
    return ds.customer_ids


def global_maps(dataset: PartitionedDataset) -> list[npt.NDArray[np.int64]]:
    """Per partition, the whole-dataset customer index of each of its customers."""
    ids = compute(*dataset.map(_ids))
    everyone = np.sort(np.concatenate(ids)) if ids else np.empty(0, dtype=str)
    return [np.searchsorted(everyone, part).astype(np.int64) for part in ids]


# --------------------------------------------------------------------------- revenue


def _periods(
    sp: _Spans,
    freq: Freq,
    start: Moment | None,
    end: Moment | None,
    periods: Periods | None,
    tz: str | None,
) -> Periods:
    lo, hi = sp.subscription_span()
    return resolve_periods(
        freq=freq, start=start, end=end, periods=periods, default_start=lo, default_end=hi, tz=tz
    )


def _movements_part(
    ds: Dataset, per: Periods, currency: str | None, per_customer: bool
) -> MrrMovements:
    m = _revenue.mrr_movements(ds, periods=per, currency=currency)
    if per_customer:
        return m
    empty_i = np.empty(0, np.int64)
    empty_f = np.empty(0)
    opening = m.customer_opening[m.customer_opening > 0]
    return attrs.evolve(
        m,
        customer=empty_i,
        period=empty_i,
        kind=np.empty(0, np.int8),
        amount=empty_f,
        before=empty_f,
        after=empty_f,
        customer_opening=opening,  # only the paying ones: their count is what flows need
        customer_closing=empty_f,
    )


def _merge_movements(
    parts: Sequence[MrrMovements],
    per: Periods,
    currency: str | None,
    maps: list[npt.NDArray[np.int64]] | None,
) -> MrrMovements:
    def total(name: str) -> FloatArray:
        return _money(np.sum([_ticks(getattr(p, name)) for p in parts], axis=0))

    counts = np.sum([p.counts for p in parts], axis=0).astype(np.int64)
    e, ei = np.empty(0), np.empty(0, np.int64)
    if maps is None:
        customer, period, kind = ei, ei, np.empty(0, np.int8)
        amount, before, after = e, e, e
        opening_c = np.concatenate([p.customer_opening for p in parts])
        closing_c = e
    else:
        n = int(sum(m.size for m in maps))
        customer = np.concatenate([maps[i][p.customer] for i, p in enumerate(parts)])
        period = np.concatenate([p.period for p in parts])
        order = np.lexsort((period, customer))
        customer, period = customer[order], period[order]
        kind = np.concatenate([p.kind for p in parts])[order]
        amount = np.concatenate([p.amount for p in parts])[order]
        before = np.concatenate([p.before for p in parts])[order]
        after = np.concatenate([p.after for p in parts])[order]
        opening_c = np.zeros(n)
        closing_c = np.zeros(n)
        for i, p in enumerate(parts):
            opening_c[maps[i]] = p.customer_opening
            closing_c[maps[i]] = p.customer_closing
    return MrrMovements(
        periods=per,
        currency=currency,
        opening=total("opening"),
        new=total("new"),
        expansion=total("expansion"),
        contraction=total("contraction"),
        churn=total("churn"),
        reactivation=total("reactivation"),
        closing=total("closing"),
        counts=counts,
        customer=customer,
        period=period,
        kind=kind,
        amount=amount,
        before=before,
        after=after,
        customer_opening=opening_c,
        customer_closing=closing_c,
    )


def mrr_movements(
    dataset: PartitionedDataset,
    *,
    freq: Freq = "month",
    start: Moment | None = None,
    end: Moment | None = None,
    periods: Periods | None = None,
    tz: str | None = None,
    currency: str | None = None,
    per_customer: bool = True,
) -> MrrMovements:
    """:func:`custsuccess.metrics.mrr_movements` of the whole partitioned dataset.

    Totals are summed per period in integer millionths. ``per_customer`` also gathers
    the per-customer long table and opening/closing MRR (customer indexes of the whole
    dataset, in id order); without it only the totals and counts come back (and
    ``customer_opening`` holds just the paying customers' opening MRR).
    """
    pds = _check(dataset, "mrr_movements")
    sp = spans(pds)
    cur = sp.currency(currency)
    per = _periods(sp, freq, start, end, periods, tz)
    parts = compute(*pds.map(_movements_part, per, cur, bool(per_customer)))
    maps = global_maps(pds) if per_customer else None
    return _merge_movements(parts, per, cur, maps)


def _series_part(ds: Dataset, per: Periods, currency: str | None) -> MrrSeries:
    return _revenue.mrr_series(ds, periods=per, currency=currency)


def mrr_series(
    dataset: PartitionedDataset,
    *,
    freq: Freq = "month",
    start: Moment | None = None,
    end: Moment | None = None,
    periods: Periods | None = None,
    tz: str | None = None,
    currency: str | None = None,
) -> MrrSeries:
    """:func:`custsuccess.metrics.mrr_series` of the whole partitioned dataset."""
    pds = _check(dataset, "mrr_series")
    sp = spans(pds)
    cur = sp.currency(currency)
    per = _periods(sp, freq, start, end, periods, tz)
    parts = compute(*pds.map(_series_part, per, cur))
    opening = _money(np.sum([_ticks(p.opening) for p in parts], axis=0))
    total = np.sum([_ticks(p.closing) for p in parts], axis=0)
    closing = _money(total)
    paying = np.sum([p.customers for p in parts], axis=0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_account = np.where(paying > 0, closing / np.maximum(paying, 1), np.nan)
    return MrrSeries(per, cur, opening, closing, paying, per_account)


def customer_flow(
    dataset: PartitionedDataset,
    *,
    freq: Freq = "month",
    start: Moment | None = None,
    end: Moment | None = None,
    periods: Periods | None = None,
    tz: str | None = None,
    currency: str | None = None,
    method: str = "start",
) -> CustomerFlow:
    """:func:`custsuccess.metrics.customer_flow` from the merged movement counts."""
    choice(method, "method", CHURN_METHODS)
    m = mrr_movements(
        dataset, freq=freq, start=start, end=end, periods=periods, tz=tz, currency=currency,
        per_customer=False,
    )
    k = len(m.periods)
    paying_start = np.zeros(k, dtype=np.int64)
    if k:
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


# --------------------------------------------------------------------------- cohorts


def _cohort_part(
    ds: Dataset,
    freq: Freq,
    start: Moment | None,
    end: Moment | None,
    tz: str | None,
    currency: str | None,
    cohort_by: str,
) -> CohortRetention:
    return _cohorts.cohort_retention(
        ds, freq=freq, start=start, end=end, tz=tz, currency=currency, cohort_by=cohort_by
    )


def cohort_retention(
    dataset: PartitionedDataset,
    *,
    freq: Freq = "month",
    start: Moment | None = None,
    end: Moment | None = None,
    tz: str | None = None,
    currency: str | None = None,
    cohort_by: str = "signup",
    period: Freq | None = None,
) -> CohortRetention:
    """:func:`custsuccess.metrics.cohort_retention` of the whole partitioned dataset:
    cohort sizes and retained customers summed, MRR summed in millionths, rates
    recomputed."""
    from custsuccess.metrics.cohorts import CohortRetention

    pds = _check(dataset, "cohort_retention")
    choice(cohort_by, "cohort_by", ("signup", "first_payment"))
    if period is not None:
        if freq != "month" and freq != period:
            raise ValidationError(f"pass freq or period, not both (got {freq!r} and {period!r})")
        freq = period
    sp = spans(pds)
    cur = sp.currency(currency)
    lo = _lo([p.created_first for p in sp.parts])
    hi = sp.as_of
    if lo is not None and hi is None:
        hi = _hi([p.created_last for p in sp.parts] + [p.sub_last for p in sp.parts])
    per = resolve_periods(
        freq=freq, start=start, end=end, periods=None, default_start=lo, default_end=hi, tz=tz
    )
    if len(per) == 0:
        (first_part,) = compute(dataset.partitions[0])
        return _cohorts.cohort_retention(
            first_part, freq=freq, start=start, end=end, tz=tz,
            currency=cur, cohort_by=cohort_by,
        )
    first, last = per.starts[0], per.ends[-1] - np.timedelta64(1, "us")
    parts = compute(*pds.map(_cohort_part, freq, first, last, tz, cur, cohort_by))
    size = np.sum([p.size for p in parts], axis=0).astype(np.int64)
    customers = np.sum([p.customers for p in parts], axis=0).astype(np.int64)
    observed = parts[0].observed
    mrr = np.where(observed, _money(np.sum([_ticks(p.mrr) for p in parts], axis=0)), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        customer_rate = np.where(
            observed & (size[:, None] > 0), customers / np.maximum(size, 1)[:, None], np.nan
        )
        base = mrr[:, :1]
        mrr_rate = np.where(observed & (base > 0), mrr / np.where(base > 0, base, 1.0), np.nan)
    return CohortRetention(
        per, cohort_by, size, customers, customer_rate, mrr, mrr_rate, observed
    )


# --------------------------------------------------------------------------- NPS


def _nps_part(ds: Dataset, per: Periods, per_customer: str) -> NpsByPeriod:
    return _single_nps_by_period(ds, periods=per, per_customer=per_customer)  # type: ignore[arg-type]


def nps_by_period(
    dataset: PartitionedDataset,
    *,
    freq: Freq = "quarter",
    start: Moment | None = None,
    end: Moment | None = None,
    periods: Periods | None = None,
    tz: str | None = None,
    per_customer: str = "all",
) -> NpsByPeriod:
    """:func:`custsuccess.metrics.nps_by_period` from summed promoter, passive and
    detractor counts."""
    from custsuccess.metrics.nps import NpsByPeriod

    pds = _check(dataset, "nps_by_period")
    choice(per_customer, "per_customer", ("all", "last"))
    sp = spans(pds)
    default_start = _lo([p.nps_first for p in sp.parts])
    default_end = sp.as_of if sp.as_of is not None else _hi([p.nps_last for p in sp.parts])
    per = resolve_periods(
        freq=freq, start=start, end=end, periods=periods, default_start=default_start,
        default_end=default_end, tz=tz,
    )
    parts = compute(*pds.map(_nps_part, per, per_customer))
    promoters = np.sum([p.promoters for p in parts], axis=0).astype(np.int64)
    passives = np.sum([p.passives for p in parts], axis=0).astype(np.int64)
    detractors = np.sum([p.detractors for p in parts], axis=0).astype(np.int64)
    n = promoters + passives + detractors
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n > 0, 100.0 * (promoters - detractors) / np.maximum(n, 1), np.nan)
    return NpsByPeriod(per, score, promoters, passives, detractors, n)


# --------------------------------------------------------------------------- support


def _last_event(ds: Dataset) -> np.datetime64 | None:
    time = ds.events.time  # no window here (the dataset's as_of is None)
    return time.max() if time.size else None


def _support_part(
    ds: Dataset,
    end: np.datetime64 | None,
    targets: Mapping[str, Target | None] | None,
    calendar: BusinessCalendar | None,
) -> SupportResponseTimes:
    view = ds if end is None else ds.until(end)
    return _support.support_response_times(view, targets=targets, calendar=calendar)


def support_response_times(
    dataset: PartitionedDataset,
    *,
    targets: Mapping[str, Target | None] | None = None,
    calendar: BusinessCalendar | None = None,
) -> SupportResponseTimes:
    """:func:`custsuccess.metrics.support_response_times` of the whole partitioned
    dataset: counts summed; the per-request rows gathered (customer indexes of the whole
    dataset) so that the mean, median and 90th percentile are those of all requests.

    Every partition judges pending requests against the same end of data (the dataset's
    ``as_of``, else the last event of any partition).
    """
    from custsuccess.metrics.support import SupportResponseTimes

    pds = _check(dataset, "support_response_times")
    sp = spans(pds)
    end = None if sp.as_of is not None else _hi(list(compute(*pds.map(_last_event))))
    parts = compute(*pds.map(_support_part, end, targets, calendar))
    maps = global_maps(pds)
    customer = np.concatenate([maps[i][p.customer] for i, p in enumerate(parts)])
    requested = np.concatenate([p.requested_at for p in parts])
    order = np.lexsort((requested, customer))
    chan = np.concatenate([p.channel for p in parts])[order]
    seconds = np.concatenate([p.seconds for p in parts])[order]
    met = np.concatenate([p.met for p in parts])[order]
    first = parts[0]
    k = len(first.channels)
    n_requests = np.sum([p.n_requests for p in parts], axis=0).astype(np.int64)
    n_answered = np.sum([p.n_answered for p in parts], axis=0).astype(np.int64)
    n_pending = np.sum([p.n_pending for p in parts], axis=0).astype(np.int64)
    answered = ~np.isnan(seconds)
    mean = np.full(k, np.nan)
    median = np.full(k, np.nan)
    p90 = np.full(k, np.nan)
    for c_index in range(k):  # a loop over the 4 channels
        s = seconds[(chan == c_index) & answered]
        if s.size:
            mean[c_index] = s.mean()
            median[c_index], p90[c_index] = np.quantile(s, [0.5, 0.9])
    valid = chan >= 0
    n_met = np.bincount(chan[valid & met], minlength=k).astype(np.int64)
    judged = n_requests - n_pending
    has_target = np.array([bool(t) for t in first.targets])
    with np.errstate(invalid="ignore", divide="ignore"):
        within = np.where(has_target & (judged > 0), n_met / np.maximum(judged, 1), np.nan)
    return SupportResponseTimes(
        first.channels,
        first.targets,
        n_requests,
        n_answered,
        n_requests - n_answered,
        n_pending,
        mean,
        median,
        p90,
        within,
        first.business_time,
        customer[order].astype(np.int32),
        requested[order],
        chan,
        seconds,
        met,
    )
