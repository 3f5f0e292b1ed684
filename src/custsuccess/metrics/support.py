"""Support first-response times per channel, and the share answered within target.

Each ``support_request`` is paired with the first ``support_reply`` of the same customer
and ticket (property ``ticket``) at or after it; several requests on one ticket before a
reply are all answered by that reply. Pairing is vectorised: one sort by (ticket, time)
and a backward running minimum, no loop over tickets.

Targets default to the reference points of "Making customers happy": phone 3 minutes
(53 % of customers accept it), chat 1 minute (expected to be the fastest channel), email
1 business day (what most expect); ``social`` has no default target, nor has any other
channel a host names (``sms``, ``in_person``, ``web``, ...) unless given one. A request with no
reply is *unanswered*: it counts as missing the target, unless its deadline had not yet
passed when the data end (then it is *pending* and left out of the share). Nothing is
dropped silently: every request is in ``n_requests``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time as clock
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import result_html, to_pandas_renamed
from custsuccess.dataset import require_dataset
from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame
from custsuccess.models import SUPPORT_CHANNELS, EventKind

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = [
    "DEFAULT_TARGETS",
    "BusinessCalendar",
    "BusinessDays",
    "SupportResponseTimes",
    "first_response_times",
    "support_response_times",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TimeArray = npt.NDArray[np.datetime64]
_US_PER_S: Final = 1_000_000
_DAY_US: Final = 86_400 * _US_PER_S


@attrs.frozen(slots=True)
class BusinessDays:
    """A target of ``n`` business days: answered by the end of the ``n``-th business day
    after the day of the request (a request on Friday, target 1: by Monday's end)."""

    n: int = attrs.field()

    @n.validator
    def _check(self, attribute: attrs.Attribute[int], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(f"BusinessDays.n must be a whole number >= 1, got {value!r}")


Target = BusinessDays | timedelta | np.timedelta64

#: Default first-response targets per channel.
DEFAULT_TARGETS: Final[Mapping[str, Target]] = {
    "phone": timedelta(minutes=3),
    "chat": timedelta(minutes=1),
    "email": BusinessDays(1),
}


def _hhmm(value: Any, name: str) -> int:
    if isinstance(value, clock):
        return (value.hour * 3600 + value.minute * 60 + value.second) * _US_PER_S
    if isinstance(value, str):
        try:
            parsed = clock.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"{name} must be a time such as '09:00', got {value!r}") from None
        return _hhmm(parsed, name)
    raise ValidationError(f"{name} must be a time such as '09:00', got {value!r}")


@attrs.frozen(slots=True)
class BusinessCalendar:
    """Business hours for measuring response times in business time (UTC).

    ``opens``/``closes``: daily hours (``"09:00"``, ``"17:00"``); ``weekmask``: numpy's
    business-day mask (``"Mon Tue Wed Thu Fri"``); ``holidays``: dates that are closed.
    With a calendar, response times count only open hours, and a :class:`BusinessDays`
    target ``n`` means ``n`` business days of open hours.
    """

    opens: str = "09:00"
    closes: str = "17:00"
    weekmask: str = "1111100"
    holidays: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        if _hhmm(self.closes, "closes") <= _hhmm(self.opens, "opens"):
            raise ValidationError(f"closes ({self.closes}) must be after opens ({self.opens})")
        try:
            self._calendar()
        except ValueError as exc:
            raise ValidationError(f"invalid weekmask or holidays: {exc}") from None

    def _calendar(self) -> np.busdaycalendar:
        days = np.array(self.holidays, dtype="datetime64[D]")
        return np.busdaycalendar(weekmask=self.weekmask, holidays=days)

    @property
    def day_seconds(self) -> float:
        """Open seconds in one business day."""
        return (_hhmm(self.closes, "closes") - _hhmm(self.opens, "opens")) / _US_PER_S

    def business_seconds(self, times: TimeArray) -> FloatArray:
        """Open seconds from the epoch up to each moment: differences of two of these are
        the business time between them."""
        cal = self._calendar()
        t = times.astype("datetime64[us]")
        day = t.astype("datetime64[D]")
        full_days = np.busday_count(np.datetime64("1970-01-01", "D"), day, busdaycal=cal)
        of_day = (t - day.astype("datetime64[us]")).astype(np.int64)
        lo, hi = _hhmm(self.opens, "opens"), _hhmm(self.closes, "closes")
        today = np.where(np.is_busday(day, busdaycal=cal), np.clip(of_day, lo, hi) - lo, 0)
        return full_days * ((hi - lo) / _US_PER_S) + today / _US_PER_S


def _times(values: Any, name: str) -> TimeArray:
    from custsuccess.dataset import _time_column

    return _time_column(values, name, allow_missing=False)


def _pair(
    req_group: npt.NDArray[np.int64],
    req_time: TimeArray,
    rep_group: npt.NDArray[np.int64],
    rep_time: TimeArray,
) -> npt.NDArray[np.intp]:
    """For each request, the index of the first reply of its group at or after it (-1)."""
    n_req = req_group.size
    group = np.concatenate([req_group, rep_group])
    when = np.concatenate([req_time, rep_time]).astype(np.int64)
    is_reply = np.concatenate([np.zeros(n_req, np.int8), np.ones(rep_group.size, np.int8)])
    order = np.lexsort((is_reply, when, group))
    pos = np.arange(order.size)
    big = order.size
    marks = np.where(is_reply[order] == 1, pos, big)
    next_reply = np.minimum.accumulate(marks[::-1])[::-1]
    found = next_reply < big
    safe = np.where(found, next_reply, 0)
    same = found & (group[order][safe] == group[order])
    reply_of_sorted = np.where(same, order[safe] - n_req, -1)
    out = np.full(n_req, -1, dtype=np.intp)
    req_rows = is_reply[order] == 0
    out[order[req_rows]] = reply_of_sorted[req_rows]
    return out


def first_response_times(
    request_tickets: Any, request_times: Any, reply_tickets: Any, reply_times: Any
) -> FloatArray:
    """Seconds from each request to the first reply on the same ticket at or after it.

    Tickets are any comparable labels (strings, integers); times are ``datetime64`` or
    timezone-aware datetimes. NaN marks a request without such a reply (unanswered).

    >>> t = lambda m: np.datetime64("2024-01-01T10:00") + np.timedelta64(m, "m")
    >>> first_response_times(["A", "B", "A"], [t(0), t(5), t(30)],
    ...                      ["A", "A", "B"], [t(2), t(45), t(1)]).tolist()
    [120.0, nan, 900.0]
    """
    rq_t = _times(request_times, "request_times")
    rp_t = _times(reply_times, "reply_times")
    rq_k = np.asarray(request_tickets)
    rp_k = np.asarray(reply_tickets)
    if rq_k.shape != rq_t.shape:
        raise ValidationError(
            "request_tickets and request_times differ in length: "
            f"{rq_k.shape[0] if rq_k.ndim else 0} vs {rq_t.size}"
        )
    if rp_k.shape != rp_t.shape:
        raise ValidationError(
            "reply_tickets and reply_times differ in length: "
            f"{rp_k.shape[0] if rp_k.ndim else 0} vs {rp_t.size}"
        )
    both = np.concatenate([rq_k, rp_k]) if rq_k.size or rp_k.size else np.empty(0)
    try:
        _, codes = np.unique(both, return_inverse=True)
    except TypeError:
        raise ValidationError("tickets must be comparable labels of one type") from None
    codes = codes.astype(np.int64).ravel()
    match = _pair(codes[: rq_k.size], rq_t, codes[rq_k.size :], rp_t)
    ok = match >= 0
    out = np.full(rq_t.size, np.nan)
    out[ok] = (rp_t[match[ok]] - rq_t[ok]).astype("timedelta64[us]").astype(np.int64) / _US_PER_S
    return out


@attrs.frozen(slots=True, eq=False)
class SupportResponseTimes:
    """First-response times per channel (``channels``: :data:`SUPPORT_CHANNELS` in order,
    then any other channel of the data or the targets, sorted).

    Per channel: ``n_requests``; ``n_answered``; ``n_unanswered`` (no reply in the data,
    of which ``n_pending`` still within their target at the data's end); ``mean``,
    ``median``, ``p90`` in seconds over answered requests (NaN with none);
    ``within_target``: answered within target / (requests - pending), NaN without a
    target or with no request to judge. ``business_time``: times are open-hours seconds.

    Per request (rows in the dataset's event order): ``customer``, ``requested_at``,
    ``channel`` (index into ``channels``), ``seconds`` (NaN: unanswered), ``met``.
    """

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "n_requests": "count",
        "n_answered": "count",
        "n_unanswered": "count",
        "n_pending": "count",
        "mean": "seconds",
        "median": "seconds",
        "p90": "seconds",
        "within_target": "fraction",
        "seconds": "seconds",
    }

    channels: tuple[str, ...]
    targets: tuple[str, ...]
    n_requests: IntArray
    n_answered: IntArray
    n_unanswered: IntArray
    n_pending: IntArray
    mean: FloatArray
    median: FloatArray
    p90: FloatArray
    within_target: FloatArray
    business_time: bool
    customer: npt.NDArray[np.int32]
    requested_at: TimeArray
    channel: npt.NDArray[np.intp]
    seconds: FloatArray
    met: npt.NDArray[np.bool_]

    _repr_html_ = result_html
    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """Per-channel figures as a pandas DataFrame indexed by channel."""
        return to_frame(
            {
                "target": self.targets,
                "requests": self.n_requests,
                "answered": self.n_answered,
                "unanswered": self.n_unanswered,
                "pending": self.n_pending,
                "mean_s": self.mean,
                "median_s": self.median,
                "p90_s": self.p90,
                "within_target": self.within_target,
            },
            self.channels,
            "channel",
        )


Resolved = BusinessDays | np.timedelta64


def _resolve_targets(targets: Mapping[str, Target | None] | None) -> dict[str, Resolved]:
    merged: dict[str, Target | None] = dict(DEFAULT_TARGETS)
    if targets is not None:
        if not isinstance(targets, Mapping):
            raise ValidationError(
                f"targets must be a mapping of channel to target, got {targets!r}"
            )
        merged.update(targets)
    out: dict[str, Resolved] = {}
    for channel, target in merged.items():
        if not isinstance(channel, str) or not channel.strip():
            raise ValidationError(
                f"targets: a channel must be a non-empty name such as 'sms', got {channel!r}"
            )
        if target is None:
            continue
        if isinstance(target, timedelta):
            target = np.timedelta64(target, "us")
        if isinstance(target, np.timedelta64):
            if np.isnat(target) or target <= np.timedelta64(0, "us"):
                raise ValidationError(
                    f"targets[{channel!r}] must be a positive duration, got {target!r}"
                )
            out[channel] = target.astype("timedelta64[us]")
        elif isinstance(target, BusinessDays):
            out[channel] = target
        else:
            raise ValidationError(
                f"targets[{channel!r}] must be a timedelta, numpy timedelta64, BusinessDays or "
                f"None, got {target!r}"
            )
    return out


def _describe(target: Resolved | None) -> str:
    if target is None:
        return ""
    if isinstance(target, BusinessDays):
        return f"{target.n} business day" + ("s" if target.n > 1 else "")
    seconds = int(np.asarray(target).astype("timedelta64[s]").astype(np.int64))
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def support_response_times(
    dataset: Dataset,
    *,
    targets: Mapping[str, Target | None] | None = None,
    calendar: BusinessCalendar | None = None,
) -> SupportResponseTimes:
    """First-response time per channel of the dataset's support requests, with the share
    answered within target.

    Parameters
    ----------
    dataset
        Its ``support_request`` and ``support_reply`` events in the dataset's window;
        the channel is the request's.
    targets
        Per-channel targets merged over :data:`DEFAULT_TARGETS`: a ``timedelta`` (or
        ``numpy.timedelta64``), :class:`BusinessDays`, or None to drop a default.
    calendar
        A :class:`BusinessCalendar`: measure times in open hours. Without it, times are
        wall-clock and ``BusinessDays`` follow numpy's Mon-Fri business days (UTC dates).

    Examples
    --------
    A phone request answered in 2 minutes, one in 5; a chat request never answered
    and long past its 1-minute target:

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = lambda m: datetime(2024, 1, 2, 10, m, tzinfo=timezone.utc)
    >>> ev = lambda kind, m, ch, ticket: Event(
    ...     "a", kind, t(m), properties={"channel": ch, "ticket": ticket})
    >>> ds = Dataset.from_records([Customer("a", t(0))], events=[
    ...     ev("support_request", 0, "phone", "T1"), ev("support_reply", 2, "phone", "T1"),
    ...     ev("support_request", 10, "phone", "T2"), ev("support_reply", 15, "phone", "T2"),
    ...     ev("support_request", 20, "chat", "T3"), ev("login", 50, "chat", "x")])
    >>> r = support_response_times(ds)
    >>> r.to_pandas().loc[["phone", "chat"], ["requests", "unanswered", "mean_s", "within_target"]]
             requests  unanswered  mean_s  within_target
    channel
    phone           2           0   210.0            0.5
    chat            1           1     NaN            0.0
    """
    require_dataset(dataset, "dataset", "support_response_times()")
    goal = _resolve_targets(targets)
    ev = dataset.events_of(
        EventKind.SUPPORT_REQUEST, EventKind.SUPPORT_REPLY, properties=("ticket", "channel")
    )
    is_req = ev.kind == np.int16(ev.kind_code(EventKind.SUPPORT_REQUEST))
    ticket = ev.property("ticket")
    channel_col = ev.property("channel")
    group = ev.customer.astype(np.int64) * (len(ticket.categories) + 1) + ticket.codes
    req = np.flatnonzero(is_req)
    rep = np.flatnonzero(~is_req)
    match = _pair(group[req], ev.time[req], group[rep], ev.time[rep])
    answered = match >= 0
    req_time = ev.time[req]
    reply_times = ev.time[rep]
    reply_time = req_time.copy()
    reply_time[answered] = reply_times[match[answered]]
    if calendar is None:
        seconds = (reply_time - req_time).astype(np.int64) / _US_PER_S
    else:
        seconds = calendar.business_seconds(reply_time) - calendar.business_seconds(req_time)
    seconds = np.where(answered, seconds, np.nan)
    # channel of each request as an index into the channels: the built-in ones first, then
    # any other the data or the targets name
    used = set(channel_col.categories) | set(goal)
    channels = SUPPORT_CHANNELS + tuple(sorted(used - set(SUPPORT_CHANNELS)))
    remap = np.array([channels.index(c) for c in channel_col.categories] + [-1], np.intp)
    chan = remap[channel_col.codes[req]]
    if dataset.as_of is not None:
        data_end = dataset.as_of
    else:
        all_times = dataset.events.time
        data_end = all_times.max() if len(all_times) else np.datetime64(0, "us")
    met = np.zeros(req.size, dtype=bool)
    pending = np.zeros(req.size, dtype=bool)
    has_target = np.zeros(len(channels), dtype=bool)
    for c_index, name in enumerate(channels):  # a loop over the channels, not customers
        target = goal.get(name)
        if target is None:
            continue
        has_target[c_index] = True
        rows = np.flatnonzero(chan == c_index)
        t0 = req_time[rows]
        if isinstance(target, BusinessDays):
            if calendar is None:
                day0 = t0.astype("datetime64[D]")
                due_day = np.busday_offset(day0 + 1, target.n - 1, roll="forward")
                deadline = (due_day + 1).astype("datetime64[us]")
                ok = answered[rows] & (reply_time[rows] < deadline)
            else:
                limit = target.n * calendar.day_seconds
                ok = answered[rows] & (seconds[rows] <= limit)
                deadline = _business_deadline(calendar, t0, limit, data_end)
        else:
            limit_s = int(target.astype(np.int64)) / _US_PER_S
            ok = answered[rows] & (seconds[rows] <= limit_s)
            if calendar is None:
                deadline = t0 + target
            else:
                deadline = _business_deadline(calendar, t0, limit_s, data_end)
        met[rows] = ok
        pending[rows] = ~answered[rows] & (deadline > data_end)
    k = len(channels)
    valid = chan >= 0
    n_requests = np.bincount(chan[valid], minlength=k).astype(np.int64)
    n_answered = np.bincount(chan[valid & answered], minlength=k).astype(np.int64)
    n_pending = np.bincount(chan[valid & pending], minlength=k).astype(np.int64)
    n_met = np.bincount(chan[valid & met], minlength=k).astype(np.int64)
    mean = np.full(k, np.nan)
    median = np.full(k, np.nan)
    p90 = np.full(k, np.nan)
    for c_index in range(k):
        s = seconds[(chan == c_index) & answered]
        if s.size:
            mean[c_index] = s.mean()
            median[c_index], p90[c_index] = np.quantile(s, [0.5, 0.9])
    judged = n_requests - n_pending
    with np.errstate(invalid="ignore", divide="ignore"):
        within = np.where(has_target & (judged > 0), n_met / np.maximum(judged, 1), np.nan)
    return SupportResponseTimes(
        channels,
        tuple(_describe(goal.get(c)) for c in channels),
        n_requests,
        n_answered,
        n_requests - n_answered,
        n_pending,
        mean,
        median,
        p90,
        within,
        calendar is not None,
        ev.customer[req],
        req_time,
        chan,
        seconds,
        met,
    )


def _business_deadline(
    calendar: BusinessCalendar, t0: TimeArray, limit_s: float, data_end: np.datetime64
) -> TimeArray:
    """Whether the business-time deadline is after ``data_end``, as a moment array:
    ``data_end + 1us`` where it is still open, else ``data_end`` (only the comparison with
    ``data_end`` is used)."""
    elapsed = calendar.business_seconds(np.full(1, data_end))[0] - calendar.business_seconds(t0)
    still_open = elapsed < limit_s
    return np.where(still_open, data_end + np.timedelta64(1, "us"), data_end)
