"""Whole-array building blocks shared by the built-in health rules and playbooks.

Everything here works on a :class:`~custsuccess.dataset.Dataset` view (already cut at
``as_of``) and returns one entry per customer. Times are handled as int64 microseconds.

Several rules read the same activity (last activity, active days per day slot). While a
:class:`~custsuccess.health.HealthModel` scores, it opens :func:`shared_cache`, so that
work is done once per scoring call and dropped when the call ends; a rule evaluated on
its own simply computes what it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset, EventTable

__all__ = [
    "CUSTOM_KINDS",
    "DAY_US",
    "NONE_US",
    "Activity",
    "Named",
    "activity",
    "age_days",
    "as_us",
    "clip",
    "const",
    "custom_kinds",
    "distinct_per_customer",
    "ends_of",
    "expand_kinds",
    "in_last_days",
    "kind_events",
    "last_index",
    "last_of_kind",
    "recent_counts",
    "shared_cache",
    "starts_of",
    "subscriptions",
]

DAY_US: Final = 86_400_000_000
#: Marks "no such moment" in int64 microsecond arrays.
NONE_US: Final = np.iinfo(np.int64).min

T = TypeVar("T")
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]

_CACHE: ContextVar[dict[tuple[Any, ...], tuple[object, Any]] | None] = ContextVar(
    "custsuccess_health_cache", default=None
)


@contextmanager
def shared_cache(*, reuse: bool = False) -> Iterator[None]:
    """Share intermediate arrays between the rules of one scoring call (with ``reuse``,
    join the cache already open, if any: the learned model's features then read the
    per-kind events the rules have gathered)."""
    if reuse and _CACHE.get() is not None:
        yield
        return
    token = _CACHE.set({})
    try:
        yield
    finally:
        _CACHE.reset(token)


def _cached(dataset: Dataset, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    cache = _CACHE.get()
    if cache is None:
        return compute()
    full = (id(dataset), *key)
    hit = cache.get(full)
    if hit is not None and hit[0] is dataset:
        result: T = hit[1]
        return result
    value = compute()
    cache[full] = (dataset, value)  # the reference keeps id(dataset) from being reused
    return value


def const(value: float, n: int) -> F64:
    """``n`` copies of ``value``: a read-only broadcast view (no memory) for big ``n``."""
    if n > 4096:
        view: F64 = np.broadcast_to(np.float64(value), (n,))
        return view
    return np.full(n, value, dtype=np.float64)


def subscriptions(dataset: Dataset) -> Any:
    """``dataset.subscriptions``, shared within :func:`shared_cache`."""
    return _cached(dataset, ("subscriptions",), lambda: dataset.subscriptions)


# These run several times per scoring call, so they are written for few numpy calls
# (``nonzero()[0]`` rather than the slower ``np.flatnonzero`` wrapper).


def ends_of(customer: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.intp]:
    """Positions of the last row of each run of equal values in ``customer``."""
    if not customer.size:
        return np.empty(0, dtype=np.intp)
    change = np.empty(customer.size, dtype=bool)
    np.not_equal(customer[1:], customer[:-1], out=change[:-1])
    change[-1] = True
    ends: npt.NDArray[np.intp] = change.nonzero()[0]
    return ends


def starts_of(customer: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.intp]:
    """Positions of the first row of each run of equal values in ``customer``."""
    if not customer.size:
        return np.empty(0, dtype=np.intp)
    change = np.empty(customer.size, dtype=bool)
    np.not_equal(customer[1:], customer[:-1], out=change[1:])
    change[0] = True
    starts: npt.NDArray[np.intp] = change.nonzero()[0]
    return starts


_DT64_US: Final = np.dtype("datetime64[us]")


def clip(x: F64, lo: float, hi: float) -> F64:
    """``np.clip`` for the rules: the same values (NaN stays NaN), fewer Python layers."""
    clipped: F64 = np.minimum(np.maximum(x, lo), hi)
    return clipped


def as_us(moment: np.datetime64) -> int:
    """A moment as int64 microseconds since the epoch."""
    if moment.dtype != _DT64_US:  # scoring passes datetime64[us]: no conversion
        moment = moment.astype(_DT64_US)
    return int(moment.view(np.int64))


def _us(times: npt.NDArray[np.datetime64]) -> I64:
    return times.astype("datetime64[us]", copy=False).view(np.int64)


def age_days(dataset: Dataset, as_of_us: int) -> F64:
    """Days from each customer's ``created_at`` to ``as_of`` (negative: not created yet).

    Shared within :func:`shared_cache`: do not modify the array.
    """

    def compute() -> F64:
        created = _us(dataset.customers.created_at)
        age: F64 = (as_of_us - created) / DAY_US
        return age

    return _cached(dataset, ("age", as_of_us), compute)


#: The property columns :func:`kind_events` carries for each kind (all others: none).
KIND_PROPERTIES: Final[dict[str, tuple[str, ...]]] = {
    "feature_used": ("feature",),
    "support_request": ("channel", "ticket"),
    "support_reply": ("channel", "ticket"),
}


def kind_events(dataset: Dataset, kind: str) -> EventTable:
    """The events of one kind (window applied), with the property columns of
    :data:`KIND_PROPERTIES` only; shared within :func:`shared_cache`."""
    props = KIND_PROPERTIES.get(kind, ())
    return _cached(
        dataset, ("kind", kind), lambda: dataset.events_of(kind, properties=props)
    )


def in_last_days(events: EventTable, now_us: int, days: float) -> npt.NDArray[np.bool_]:
    """Mask of ``events`` in the ``days`` before ``now_us``: ``now - days < time``."""
    mask: npt.NDArray[np.bool_] = events.time.view(np.int64) > now_us - days * DAY_US
    return mask


def recent_counts(dataset: Dataset, kind: str, now_us: int, days: float) -> F64:
    """Per customer, how many events of ``kind`` fall in the ``days`` before ``now_us``."""
    ev = kind_events(dataset, kind)
    recent = ev.customer[in_last_days(ev, now_us, days)]
    return np.bincount(recent, minlength=dataset.n_customers).astype(np.float64)


def last_index(customer: npt.NDArray[np.integer[Any]], n: int) -> npt.NDArray[np.intp]:
    """Per customer, the position of its last row in ``customer`` (sorted), or -1."""
    out = np.full(n, -1, dtype=np.intp)
    if customer.size:
        ends = ends_of(customer)
        out[customer[ends]] = ends
    return out


def last_of_kind(dataset: Dataset, kind: str) -> npt.NDArray[np.intp]:
    """Per customer, the row of its latest ``kind`` event in :func:`kind_events`, or -1;
    shared within :func:`shared_cache` (do not modify)."""
    return _cached(
        dataset,
        ("last", kind),
        lambda: last_index(kind_events(dataset, kind).customer, dataset.n_customers),
    )


@attrs.frozen(slots=True, eq=False)
class Activity:
    """A customer's activity as of a moment.

    ``last``: int64 microseconds of the latest activity event (:data:`NONE_US` when
    none). ``words``: the active day slots as bit sets, a ``(width / 64, customers)``
    uint64 array: bit ``d % 64`` of ``words[d // 64, c]`` says customer ``c`` was
    active in day slot ``d``, the 24 hours ``(as_of - (d + 1) days, as_of - d days]``.
    """

    last: I64
    words: npt.NDArray[np.uint64]

    @property
    def width(self) -> int:
        """Day slots covered."""
        return 64 * int(self.words.shape[0])

    def active_days(self, start: int, stop: int) -> I64:
        """Active day slots in ``[start, stop)`` per customer."""
        if stop > self.width:
            raise ValueError(f"day slots up to {stop} asked of an activity of {self.width}")
        first, end = start // 64, -(-stop // 64)  # the words that overlap the range
        if end <= first:
            return np.zeros(self.last.size, dtype=np.int64)
        masks = []
        for w in range(first, end):
            lo, hi = max(start - 64 * w, 0), min(stop - 64 * w, 64)
            masks.append(((1 << (hi - lo)) - 1) << lo)
        if len(masks) == 1:
            return _popcount(self.words[first] & np.uint64(masks[0]))
        bits = self.words[first:end] & np.array(masks, dtype=np.uint64)[:, None]
        counts: I64 = _popcount(bits).sum(axis=0, dtype=np.int64)
        return counts


#: Day slots of the activity shared within :func:`shared_cache`: enough for every
#: built-in rule and playbook (``personal.call`` looks back 365 days), so it is computed
#: once per scoring call. A wider request computes (and shares) a wider one.
SHARED_WIDTH: Final = 384


def activity(
    dataset: Dataset, as_of_us: int, kinds: Sequence[str], width_days: int
) -> Activity:
    """Last activity and the active day slots over the given event kinds.

    Within :func:`shared_cache` the result is computed once per dataset view and kind
    set (for at least :data:`SHARED_WIDTH` day slots) and shared.
    """
    key = ("activity", expand_kinds(dataset, kinds), as_of_us)
    cache = _CACHE.get()
    if cache is not None:
        hit = cache.get((id(dataset), key[0], key[1], key[2]))
        if hit is not None and hit[0] is dataset and hit[1].width >= width_days:
            found: Activity = hit[1]
            return found
    width = max(int(width_days), SHARED_WIDTH) if cache is not None else int(width_days)
    result = _activity(dataset, as_of_us, key[1], width)
    if cache is not None:
        cache[(id(dataset), key[0], key[1], key[2])] = (dataset, result)
    return result


#: In a list of event kinds, stands for every custom kind of the dataset (a kind that is
#: not a built-in :class:`~custsuccess.models.EventKind`).
CUSTOM_KINDS: Final = "*custom"


def expand_kinds(dataset: Dataset, kinds: Sequence[str]) -> tuple[str, ...]:
    """``kinds`` sorted and deduplicated, :data:`CUSTOM_KINDS` replaced by the dataset's
    custom kinds."""
    out = set(kinds)
    if CUSTOM_KINDS in out:
        out.discard(CUSTOM_KINDS)
        out.update(custom_kinds(dataset))
    return tuple(sorted(out))


def custom_kinds(dataset: Dataset) -> tuple[str, ...]:
    """The dataset's custom event kinds (its vocabulary after the built-in kinds)."""
    from custsuccess.dataset import BUILTIN_KINDS

    return tuple(dataset.kinds[len(BUILTIN_KINDS):])


#: Datasets of at most this many customers read all activity kinds in one table (fewer
#: calls: one account scores faster); bigger ones kind by kind (no merge of big index
#: arrays). Both give the same result (tested).
COMBINE_KINDS_UP_TO: Final = 1000


def _activity_tables(dataset: Dataset, kinds: Sequence[str]) -> list[EventTable]:
    if dataset.n_customers <= COMBINE_KINDS_UP_TO:
        return [dataset.events_of(*kinds, properties=())]
    return [kind_events(dataset, kind) for kind in kinds]


def _activity(dataset: Dataset, as_of_us: int, kinds: Sequence[str], width: int) -> Activity:
    n = dataset.n_customers
    n_words = max(1, -(-width // 64))
    last = np.full(n, NONE_US, dtype=np.int64)
    words = np.zeros((n_words, n), dtype=np.uint64)
    cells = words.reshape(-1)  # a view: cell word * n + c is words[word, c]
    one = np.uint64(1)
    for ev in _activity_tables(dataset, kinds):
        if not len(ev):
            continue
        cust = ev.customer
        t = _us(ev.time)
        ends = ends_of(cust)
        who = cust[ends]
        last[who] = np.maximum(last[who], t[ends])
        # the view ends at as_of: every t <= as_of_us
        recent = (t > as_of_us - 64 * n_words * DAY_US).nonzero()[0]
        if not recent.size:
            continue
        slot = (as_of_us - t[recent]) // DAY_US
        bit = np.left_shift(one, (slot & 63).astype(np.uint64))
        # Within a customer time ascends, so the word (slot // 64) descends: the events
        # of one (customer, word) cell are adjacent, and one reduceat ORs every cell.
        cell = (slot >> 6) * n + cust[recent]
        seg = starts_of(cell)
        cells[cell[seg]] |= np.bitwise_or.reduceat(bit, seg)
    return Activity(last, words)


_POP8: Final = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


_BITWISE_COUNT: Final = getattr(np, "bitwise_count", None)  # numpy >= 2


def _popcount(bits: npt.NDArray[np.uint64]) -> I64:
    if _BITWISE_COUNT is not None:
        counts: I64 = np.asarray(_BITWISE_COUNT(bits), dtype=np.int64)
        return counts
    as_bytes = bits.view(np.uint8).reshape((*bits.shape, 8))  # pragma: no cover (numpy < 2)
    summed: I64 = _POP8[as_bytes].sum(axis=-1, dtype=np.int64)  # pragma: no cover
    return summed  # pragma: no cover


def distinct_per_customer(
    customer: npt.NDArray[np.integer[Any]], code: npt.NDArray[np.integer[Any]], n: int,
    n_codes: int,
) -> I64:
    """How many distinct ``code`` values (0..n_codes-1) each customer has.

    ``customer`` must be sorted. Up to 64 codes this ORs bit masks per customer segment
    (one pass, no sort); beyond that it counts unique (customer, code) pairs.
    """
    out = np.zeros(n, dtype=np.int64)
    if customer.size == 0:
        return out
    if n_codes <= 64:
        bits = np.left_shift(np.uint64(1), code.astype(np.uint64))
        starts = starts_of(customer)
        merged = np.bitwise_or.reduceat(bits, starts)
        out[customer[starts]] = _popcount(merged)
        return out
    pairs = np.unique(customer.astype(np.int64) * n_codes + code)
    return np.bincount(pairs // n_codes, minlength=n).astype(np.int64)


class Named:
    """The ``name`` / ``description`` members of the plugin protocols, read from the
    ``NAME`` and ``DESCRIPTION`` class variables of built-in rules and playbooks."""

    __slots__ = ()
    NAME: ClassVar[str]
    DESCRIPTION: ClassVar[str]

    @property
    def name(self) -> str:
        return self.NAME

    @property
    def description(self) -> str:
        return self.DESCRIPTION
