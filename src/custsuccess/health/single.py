"""A lean builder of a one-customer :class:`~custsuccess.dataset.Dataset` from records.

:meth:`HealthModel.score_one <custsuccess.health.HealthModel.score_one>` scores one
account in about a millisecond. :meth:`Dataset.from_records` is general (any number of
customers, any input) and re-validates everything; here the input is already-validated
model objects of one customer, so the tables are encoded directly, in one pass over the
events, giving a dataset equal to ``Dataset.from_records([customer], subscriptions,
events)`` (tested).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from itertools import compress, count, repeat
from typing import Any, Final, cast

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import (
    BUILTIN_KINDS,
    Categorical,
    CustomerTable,
    Dataset,
    EventTable,
    SubscriptionTable,
)
from custsuccess.errors import ValidationError
from custsuccess.models import Customer, Event, EventKind, Subscription

__all__ = ["one_customer_dataset"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US: Final = timedelta(microseconds=1)
# An Event's kind is an EventKind member (built-in kinds are converted) or a custom str;
# members hash by name, not by value, so key the codes by both.
_KIND_CODE: Final[dict[object, int]] = {
    **{k: i for i, k in enumerate(BUILTIN_KINDS)},
    **{EventKind(k): i for i, k in enumerate(BUILTIN_KINDS)},
}
_DT64: Final = "datetime64[us]"
_EXACT_SECONDS: Final = 2.0**52 / 1e6
_NAN: Final = float("nan")


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def _categorical(values: list[str | None]) -> Categorical:
    """``values`` as codes into their sorted distinct values; None is missing (-1)."""
    cats: list[str] = sorted(cast("set[str]", set(values) - {None}))
    where: dict[str | None, int] = dict(zip(cats, count()))
    where[None] = -1
    codes = np.fromiter(map(where.__getitem__, values), dtype=np.int32, count=len(values))
    return Categorical(codes, tuple(cats))


def _properties(n: int, mappings: list[Mapping[str, str]]) -> dict[str, Categorical]:
    """The property columns of ``n`` events, one per name, from their mappings."""
    rows = list(compress(count(), mappings))  # most events carry no properties
    if not rows:
        return {}
    present = list(filter(None, mappings))
    columns = {}
    for name in sorted(set().union(*present)):
        column = _categorical([p.get(name) for p in present])
        codes = np.full(n, -1, dtype=np.int32)
        codes[rows] = column.codes
        columns[name] = Categorical(codes, column.categories)
    return columns


def one_customer_dataset(
    customer: Customer,
    subscriptions: Iterable[Subscription] = (),
    events: Iterable[Event] = (),
    *,
    as_of: np.datetime64 | None = None,
) -> Dataset:
    """The dataset of one customer, its subscriptions and its events.

    Every subscription and event must belong to ``customer`` (a ValidationError names
    the first that does not). With ``as_of`` (``datetime64[us]``), the dataset holds only
    what ``dataset.until(as_of)`` would show: no later events, no subscription started
    later, and a subscription ending later shows as running, without a cancel reason.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> ds = one_customer_dataset(Customer("a", t), events=[Event("a", "login", t)])
    >>> ds.equals(Dataset.from_records([Customer("a", t)], events=[Event("a", "login", t)]))
    True
    """
    if not isinstance(customer, Customer):
        raise ValidationError(f"customer must be a Customer, got {type(customer).__name__}")
    cid = customer.id
    customers = CustomerTable(
        np.array([cid]),
        np.array([_us(customer.created_at)], dtype=np.int64).view(_DT64),
        np.array([customer.name], dtype=object),
        _categorical([customer.segment]),
        _categorical([customer.plan]),
        {k: _attribute(v) for k, v in sorted(customer.attributes.items())},
    )
    subs = _subscriptions(cid, subscriptions)
    evs = _events(cid, events)
    if as_of is not None:
        subs, evs = _cut(subs, evs, as_of.astype("datetime64[us]"))
    return Dataset(customers, subs, evs, validate=False)


def _cut(
    subs: SubscriptionTable, events: EventTable, as_of: np.datetime64
) -> tuple[SubscriptionTable, EventTable]:
    """The tables as ``Dataset.until(as_of)`` shows them."""
    if len(events) and events.time[-1] > as_of:
        events = events.take(slice(0, int(np.searchsorted(events.time, as_of, side="right"))))
    if len(subs):
        if (subs.started_at > as_of).any():
            subs = subs.take(np.flatnonzero(subs.started_at <= as_of))
        later = ~np.isnat(subs.ended_at) & (subs.ended_at > as_of)
        if later.any():
            ended = subs.ended_at.copy()
            ended[later] = np.datetime64("NaT", "us")
            codes = subs.cancel_reason.codes.copy()
            codes[later] = -1
            subs = attrs.evolve(
                subs,
                ended_at=ended,
                cancel_reason=Categorical(codes, subs.cancel_reason.categories),
            )
    return subs, events


def _attribute(value: Any) -> Any:
    return np.array([value], dtype=object) if value is None else np.asarray([value])


def _subscriptions(cid: str, subscriptions: Iterable[Subscription]) -> SubscriptionTable:
    subs = list(subscriptions)
    for i, s in enumerate(subs):
        if not isinstance(s, Subscription):  # pragma: no branch
            raise ValidationError(
                f"subscriptions[{i}] must be a Subscription, got {type(s).__name__}"
            )
        if s.customer_id != cid:
            raise ValidationError(
                f"subscriptions[{i}] (id {s.id!r}) belongs to customer {s.customer_id!r}, "
                f"not {cid!r}"
            )
    ids = [s.id for s in subs]
    if len(set(ids)) != len(ids):
        dup = sorted({x for x in ids if ids.count(x) > 1})
        raise ValidationError(f"subscriptions.id has duplicates, e.g. {dup[0]!r}")
    subs.sort(key=lambda s: (_us(s.started_at), s.id))
    n = len(subs)
    started = np.array([_us(s.started_at) for s in subs], dtype=np.int64).view(_DT64)
    ended = np.array(
        [np.iinfo(np.int64).min if s.ended_at is None else _us(s.ended_at) for s in subs],
        dtype=np.int64,
    ).view(_DT64)
    return SubscriptionTable(
        np.array([s.id for s in subs]) if n else np.empty(0, dtype="U1"),
        np.zeros(n, dtype=np.int32),
        _categorical([s.plan for s in subs]),
        np.array([s.mrr for s in subs], dtype=np.float64),
        _categorical([s.currency for s in subs]),
        started,
        ended,
        _categorical([s.cancel_reason for s in subs]),
        1,
    )


def _times_us(moments: Sequence[datetime]) -> npt.NDArray[np.int64]:
    """Aware datetimes as int64 microseconds since the epoch, exactly.

    ``datetime.timestamp()`` is fast and, rounded to microseconds, exact while
    ``|t| < 2**52`` microseconds (until the year 2112); beyond that the slow exact path.
    """
    seconds = np.fromiter(map(datetime.timestamp, moments), dtype=np.float64, count=len(moments))
    if seconds.size and np.abs(seconds).max() >= _EXACT_SECONDS:
        return np.array([(m - _EPOCH) // _US for m in moments], dtype=np.int64)
    return np.rint(seconds * 1e6).astype(np.int64)


def _events(cid: str, events: Iterable[Event]) -> EventTable:
    evs = events if isinstance(events, list) else list(events)
    n = len(evs)
    if not set(map(type, evs)) <= {Event}:
        for i, e in enumerate(evs):
            if not isinstance(e, Event):
                raise ValidationError(f"events[{i}] must be an Event, got {type(e).__name__}")
    owners = {e.customer_id for e in evs}
    if owners - {cid}:
        i, e = next((i, e) for i, e in enumerate(evs) if e.customer_id != cid)
        raise ValidationError(
            f"events[{i}] (kind {str(e.kind)!r}) belongs to customer {e.customer_id!r}, "
            f"not {cid!r}"
        )
    # one attribute per pass; the per-item work in map() runs in C
    raw = list(map(_KIND_CODE.get, [e.kind for e in evs], repeat(-1)))
    time = _times_us([e.occurred_at for e in evs])
    values = [e.value for e in evs]
    value = np.array(
        [_NAN if v is None else v for v in values] if None in values else values,
        dtype=np.float64,
    )
    custom: list[str] = []
    if -1 in raw:
        custom = sorted({str(e.kind) for e, c in zip(evs, raw, strict=True) if c < 0})
        code_of = {k: len(BUILTIN_KINDS) + j for j, k in enumerate(custom)}
        raw = [c if c >= 0 else code_of[str(e.kind)] for e, c in zip(evs, raw, strict=True)]
    kind = np.array(raw, dtype=np.int16)
    properties = _properties(n, [e.properties for e in evs])
    order = _time_order(time)
    if order is None:
        # break exact ties as Dataset.from_columns does
        keys: list[npt.NDArray[Any]] = [
            p.codes for _, p in sorted(properties.items(), reverse=True)
        ]
        order = np.lexsort((*keys, value, kind, time))
    if order is not _AS_GIVEN:
        # a reversed slice gives views: make them contiguous, as the other builders do
        kind = np.ascontiguousarray(kind[order])
        time = np.ascontiguousarray(time[order])
        value = np.ascontiguousarray(value[order])
        properties = {
            k: Categorical(np.ascontiguousarray(v.codes[order]), v.categories)
            for k, v in properties.items()
        }
    return EventTable(
        np.zeros(n, dtype=np.int32),
        kind,
        time.view(_DT64),
        value,
        properties,
        BUILTIN_KINDS + tuple(custom),
        1,
    )


_AS_GIVEN: Final = slice(None)
_REVERSED: Final = slice(None, None, -1)


def _time_order(time: npt.NDArray[np.int64]) -> slice | npt.NDArray[np.intp] | None:
    """How to put events in time order: as given or reversed when the times already run
    strictly one way (events usually arrive sorted), else a stable sort; None when two
    events have the same time (the caller breaks the ties)."""
    if time.size < 2:
        return _AS_GIVEN
    step = time[1:] - time[:-1]
    if step.min() > 0:
        return _AS_GIVEN
    if step.max() < 0:
        return _REVERSED
    order = np.argsort(time, kind="stable")
    ordered = time[order]
    return None if (ordered[1:] == ordered[:-1]).any() else order
