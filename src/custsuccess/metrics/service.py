"""Service quality: ticket resolution time and reopen rate, CSAT and CES surveys, and NPS
migration after a support contact (service recovery).

Event kinds read here (any event kind is a string; these are this module's vocabulary):

* ``support_request`` (properties ``channel``, ``ticket``): a ticket is opened, or
  reopened when it comes after the ticket's resolution;
* ``support_resolved`` (property ``ticket``): the ticket is resolved;
* ``csat_response`` (value 1..5, "how satisfied were you", 5 = very satisfied);
* ``ces_response`` (value 1..7, "the company made it easy to handle my issue", 7 =
  strongly agree);
* ``nps_response`` (value 0..10).

Formulas and sources are on the documentation page ``docs/support.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import to_pandas_renamed
from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame
from custsuccess.models import SUPPORT_CHANNELS

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset, EventTable

__all__ = [
    "CES_RESPONSE",
    "CSAT_RESPONSE",
    "SUPPORT_RESOLVED",
    "NpsMigration",
    "Resolution",
    "SurveyScores",
    "ces",
    "csat",
    "latest_answers",
    "nps_migration",
    "resolution_times",
]

SUPPORT_RESOLVED: Final = "support_resolved"
CSAT_RESPONSE: Final = "csat_response"
CES_RESPONSE: Final = "ces_response"
_SCALES: Final = {CSAT_RESPONSE: (1, 5, 4), CES_RESPONSE: (1, 7, 5)}  # low, high, "good" from
_US_PER_S: Final = 1_000_000
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def _dataset(dataset: Any, what: str) -> Dataset:
    from custsuccess.dataset import Dataset

    if not isinstance(dataset, Dataset):
        raise ValidationError(f"{what} needs a custsuccess Dataset, got {type(dataset).__name__}")
    return dataset


# --------------------------------------------------------------------------- tickets


@attrs.frozen(slots=True, eq=False)
class Resolution:
    """Tickets, per channel (``channels``: the built-in ones, then any other, sorted):
    ``n_tickets`` (opened), ``n_resolved``, ``n_reopened`` (a request after a
    resolution), ``reopen_rate = n_reopened / n_resolved``, and ``mean`` / ``median`` /
    ``p90`` hours from a ticket's first request to its first resolution.

    Per ticket: ``customer``, ``channel`` (index into ``channels``: the channel of its
    first request), ``opened_at``, ``hours`` (NaN while unresolved), ``reopened``.
    """

    #: The unit of each field (see :mod:`custsuccess.units`; hours are plain numbers).
    units: ClassVar[Mapping[str, str]] = {
        "n_tickets": "count",
        "n_resolved": "count",
        "n_reopened": "count",
        "reopen_rate": "fraction",
        "mean": "number",
        "median": "number",
        "p90": "number",
        "hours": "number",
    }

    channels: tuple[str, ...]
    n_tickets: I64
    n_resolved: I64
    n_reopened: I64
    reopen_rate: F64
    mean: F64
    median: F64
    p90: F64
    customer: npt.NDArray[np.int32]
    channel: npt.NDArray[np.intp]
    opened_at: npt.NDArray[np.datetime64]
    hours: F64
    reopened: npt.NDArray[np.bool_]

    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """Per-channel figures as a pandas DataFrame indexed by channel."""
        return to_frame(
            {"tickets": self.n_tickets, "resolved": self.n_resolved,
             "reopened": self.n_reopened, "reopen_rate": self.reopen_rate,
             "mean_h": self.mean, "median_h": self.median, "p90_h": self.p90},
            self.channels,
            "channel",
        )


def resolution_times(dataset: Dataset) -> Resolution:
    """Resolution time and reopen rate of the support tickets, per channel.

    A ticket is a (customer, ``ticket``) pair. Its resolution time runs from its first
    ``support_request`` to its first ``support_resolved`` at or after it; it is
    *reopened* when a ``support_request`` comes after that resolution.

    >>> from datetime import datetime, timedelta, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
    >>> def ev(kind, hours, ticket, channel="sms"):
    ...     props = {"ticket": ticket} | ({"channel": channel} if kind != "support_resolved"
    ...                                   else {})
    ...     return Event("a", kind, t + timedelta(hours=hours), properties=props)
    >>> ds = Dataset.from_records([Customer("a", t)], events=[
    ...     ev("support_request", 0, "T1"), ev("support_resolved", 4, "T1"),
    ...     ev("support_request", 10, "T1"), ev("support_resolved", 12, "T1"),
    ...     ev("support_request", 1, "T2"), ev("support_resolved", 3, "T2")])
    >>> r = resolution_times(ds)
    >>> r.to_pandas().loc["sms", ["tickets", "resolved", "reopened", "reopen_rate", "mean_h"]]
    tickets        2.0
    resolved       2.0
    reopened       1.0
    reopen_rate    0.5
    mean_h         3.0
    Name: sms, dtype: float64
    """
    ds = _dataset(dataset, "resolution_times")
    ev = ds.events_of("support_request", SUPPORT_RESOLVED, properties=("ticket", "channel"))
    is_req = ev.kind == np.int16(ev.kind_code("support_request"))
    ticket = ev.property("ticket")
    has_ticket = ticket.codes >= 0
    bad = np.flatnonzero(~has_ticket)
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"{SUPPORT_RESOLVED} event of customer {str(ds.customer_ids[ev.customer[i]])!r} "
            f"at {ev.time[i]} has no properties['ticket']"
        )
    key = ev.customer.astype(np.int64) * (len(ticket.categories) + 1) + ticket.codes
    t_us = ev.time.astype("datetime64[us]").view(np.int64)
    order = np.lexsort((~is_req, t_us, key))  # requests before resolutions at one moment
    k, t, req = key[order], t_us[order], is_req[order]
    first = np.ones(k.size, dtype=bool)
    first[1:] = k[1:] != k[:-1]
    start = np.flatnonzero(first)
    # opening request: the first request of each ticket
    seg = np.cumsum(first) - 1  # ticket number of each row
    n_t = start.size
    big = np.iinfo(np.int64).max
    opened = np.full(n_t, big, dtype=np.int64)
    np.minimum.at(opened, seg[req], t[req])
    valid = opened < big  # tickets with a request (a lone resolution opens nothing)
    resolved_at = np.full(n_t, big, dtype=np.int64)
    res = ~req & (t >= opened[seg])
    np.minimum.at(resolved_at, seg[res], t[res])
    is_resolved = valid & (resolved_at < big)
    reopened = np.zeros(n_t, dtype=bool)
    again = req & (t > resolved_at[seg])
    reopened[seg[again]] = True
    reopened &= is_resolved
    # channel of the opening request
    channel = ev.property("channel")
    chan_codes = channel.codes[order]
    opening = req & (t == opened[seg])
    first_open = np.full(n_t, -1, dtype=np.int64)
    rows = np.flatnonzero(opening)
    first_open[seg[rows[::-1]]] = rows[::-1]  # the earliest row wins
    names = SUPPORT_CHANNELS + tuple(sorted(set(channel.categories) - set(SUPPORT_CHANNELS)))
    remap = np.array([names.index(c) for c in channel.categories] + [-1], dtype=np.intp)
    ticket_channel = np.where(
        first_open >= 0, remap[chan_codes[np.maximum(first_open, 0)]], -1
    ).astype(np.intp)
    hours = np.where(is_resolved, (resolved_at - opened) / (3600 * _US_PER_S), np.nan)
    keep = np.flatnonzero(valid)
    hours, ticket_channel, reopened_k = hours[keep], ticket_channel[keep], reopened[keep]
    c = len(names)
    ok = ticket_channel >= 0
    n_tickets = np.bincount(ticket_channel[ok], minlength=c).astype(np.int64)
    done = ok & ~np.isnan(hours)
    n_resolved = np.bincount(ticket_channel[done], minlength=c).astype(np.int64)
    n_reopened = np.bincount(ticket_channel[ok & reopened_k], minlength=c).astype(np.int64)
    mean, median, p90 = np.full(c, np.nan), np.full(c, np.nan), np.full(c, np.nan)
    for j in range(c):  # a loop over channels, not tickets
        h = hours[done & (ticket_channel == j)]
        if h.size:
            mean[j] = h.mean()
            median[j], p90[j] = np.quantile(h, [0.5, 0.9])
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n_resolved > 0, n_reopened / np.maximum(n_resolved, 1), np.nan)
    cust = (k[start[keep]] // (len(ticket.categories) + 1)).astype(np.int32)
    return Resolution(
        names, n_tickets, n_resolved, n_reopened, rate, mean, median, p90,
        cust, ticket_channel, opened[keep].view("datetime64[us]"), hours, reopened_k,
    )


# --------------------------------------------------------------------------- surveys


@attrs.frozen(slots=True, eq=False)
class SurveyScores:
    """Answers to a survey kind: ``n`` answers, ``mean`` answer, ``share_good`` (answers
    at or above ``good_from``: 4-5 of 5 for CSAT, 5-7 of 7 for CES), and the ``counts`` of
    each answer ``low..high``."""

    #: The unit of each field (see :mod:`custsuccess.units`; hours are plain numbers).
    units: ClassVar[Mapping[str, str]] = {
        "n": "count",
        "mean": "number",
        "share_good": "fraction",
        "good_from": "number",
        "counts": "count",
    }

    kind: str
    n: int
    mean: float
    share_good: float
    good_from: int
    counts: I64


def _answers(ds: Dataset, kind: str) -> EventTable:
    low, high, _ = _SCALES[kind]
    ev = ds.events_of(kind, properties=())
    v = ev.value
    bad = np.flatnonzero(np.isnan(v) | (v < low) | (v > high) | (v != np.round(v)))
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"{kind} of customer {str(ds.customer_ids[ev.customer[i]])!r} at {ev.time[i]}: "
            f"value must be a whole number from {low} to {high}, got {float(v[i])!r}"
        )
    return ev


def _scores(dataset: Dataset, kind: str, what: str) -> SurveyScores:
    ds = _dataset(dataset, what)
    low, high, good = _SCALES[kind]
    v = _answers(ds, kind).value
    counts = np.bincount((v - low).astype(np.int64), minlength=high - low + 1).astype(np.int64)
    n = int(v.size)
    return SurveyScores(
        kind, n, float(v.mean()) if n else float("nan"),
        float((v >= good).mean()) if n else float("nan"), good, counts,
    )


def csat(dataset: Dataset) -> SurveyScores:
    """Customer satisfaction: ``share_good`` is the CSAT score, the share of satisfied
    answers (4 or 5 on the 1-5 scale) among all answers.

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = datetime(2024, 3, 4, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("a", t)], events=[
    ...     Event("a", "csat_response", t, value=v) for v in (5, 4, 2, 5)])
    >>> s = csat(ds)
    >>> s.share_good, s.mean, s.counts.tolist()
    (0.75, 4.0, [0, 1, 0, 1, 2])
    """
    return _scores(dataset, CSAT_RESPONSE, "csat")


def ces(dataset: Dataset) -> SurveyScores:
    """Customer effort: ``mean`` is the CES, the mean answer on the 1-7 scale (7: the
    company made it very easy); ``share_good`` the share of easy answers (5-7)."""
    return _scores(dataset, CES_RESPONSE, "ces")


def latest_answers(dataset: Dataset, kind: str) -> tuple[F64, npt.NDArray[np.datetime64]]:
    """Per customer, the latest answer of a survey ``kind`` (``csat_response``,
    ``ces_response``) and its time (NaN / NaT without one)."""
    ds = _dataset(dataset, "latest_answers")
    if kind not in _SCALES:
        raise ValidationError(f"kind must be one of {tuple(_SCALES)}, got {kind!r}")
    ev = _answers(ds, kind)
    n = ds.n_customers
    value = np.full(n, np.nan)
    when = np.full(n, np.datetime64("NaT", "us"))
    if len(ev):
        last = np.r_[ev.customer[1:] != ev.customer[:-1], True]
        who = ev.customer[last]
        value[who] = ev.value[last]
        when[who] = ev.time[last]
    return value, when


# --------------------------------------------------------------------------- NPS migration

_NPS_GROUPS: Final = ("detractor", "passive", "promoter")


@attrs.frozen(slots=True, eq=False)
class NpsMigration:
    """How NPS answers moved across a support contact.

    ``matrix[i, j]``: contacts whose latest answer before the contact was in group ``i``
    and whose first answer in the ``within_days`` after it was in group ``j`` (groups:
    detractor 0-6, passive 7-8, promoter 9-10). ``recovery_rate``: detractors before who
    became passive or promoter after / detractors before (service recovery), NaN without
    one.
    """

    #: The unit of each field (see :mod:`custsuccess.units`; hours are plain numbers).
    units: ClassVar[Mapping[str, str]] = {
        "matrix": "count",
        "recovery_rate": "fraction",
        "n_contacts": "count",
    }

    groups: tuple[str, ...]
    matrix: I64
    recovery_rate: float
    n_contacts: int

    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """The matrix as a DataFrame: rows before, columns after."""
        return to_frame(
            {f"after_{g}": self.matrix[:, j] for j, g in enumerate(self.groups)},
            [f"before_{g}" for g in self.groups],
            "before",
        )


def nps_migration(dataset: Dataset, *, within_days: int = 180) -> NpsMigration:
    """NPS group before and after each support contact (a ticket's first request).

    For every ticket opened by a customer with an NPS answer before it and one in the
    ``within_days`` after it: the group of the latest answer before and of the first
    after. Only contacts with both answers count.

    >>> from datetime import datetime, timedelta, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
    >>> d = lambda n: t + timedelta(days=n)
    >>> req = lambda c, n: Event(c, "support_request", d(n),
    ...                          properties={"channel": "chat", "ticket": f"{c}{n}"})
    >>> nps = lambda c, n, v: Event(c, "nps_response", d(n), value=v)
    >>> ds = Dataset.from_records([Customer(c, t) for c in "abc"], events=[
    ...     nps("a", 0, 3), req("a", 10), nps("a", 40, 9),    # detractor -> promoter
    ...     nps("b", 0, 5), req("b", 10), nps("b", 40, 6),    # detractor -> detractor
    ...     nps("c", 0, 8), req("c", 10), nps("c", 300, 10)])  # no answer within 180 days
    >>> m = nps_migration(ds)
    >>> m.matrix.tolist(), m.recovery_rate, m.n_contacts
    ([[1, 0, 1], [0, 0, 0], [0, 0, 0]], 0.5, 2)
    """
    ds = _dataset(dataset, "nps_migration")
    if isinstance(within_days, bool) or not isinstance(within_days, int) or within_days <= 0:
        raise ValidationError(
            f"nps_migration: within_days must be a whole number > 0, got {within_days!r}"
        )
    res = resolution_times(ds)
    contact_c = res.customer.astype(np.int64)
    contact_t = res.opened_at.view(np.int64)
    nps = ds.events_of("nps_response", properties=())
    groups = np.digitize(nps.value, [7, 9])  # 0 detractor, 1 passive, 2 promoter
    t_nps = nps.time.astype("datetime64[us]").view(np.int64)
    offsets = np.searchsorted(nps.customer, np.arange(ds.n_customers + 1))
    matrix = np.zeros((3, 3), dtype=np.int64)
    if len(nps) and contact_c.size:
        lo, hi = offsets[contact_c], offsets[contact_c + 1]  # each customer's answers
        after = _positions(t_nps, nps.customer, contact_c, contact_t)
        before = after - 1
        limit = contact_t + within_days * 86_400 * _US_PER_S
        has_after = after < hi
        has_after[has_after] &= t_nps[after[has_after]] <= limit[has_after]
        both = (before >= lo) & has_after
        np.add.at(matrix, (groups[before[both]], groups[after[both]]), 1)
    detractors = int(matrix[0].sum())
    recovered = int(matrix[0, 1:].sum())
    return NpsMigration(
        _NPS_GROUPS, matrix, recovered / detractors if detractors else float("nan"),
        int(matrix.sum()),
    )


def _positions(
    t_nps: I64, nps_customer: npt.NDArray[np.int32], contact_c: I64, contact_t: I64
) -> I64:
    """For each contact, the index of the first NPS answer strictly after it in the
    answers' (customer, time) order: one lexsort of answers and contacts together, and a
    running count of the answers that sort before each contact."""
    m = t_nps.size
    c = np.concatenate([nps_customer.astype(np.int64), contact_c])
    t = np.concatenate([t_nps, contact_t])
    is_contact = np.arange(c.size) >= m  # at one moment, answers sort before contacts
    order = np.lexsort((is_contact, t, c))
    answers_before = np.cumsum(~is_contact[order])
    pos = np.empty(contact_c.size, dtype=np.int64)
    rows = np.flatnonzero(is_contact[order])
    pos[order[rows] - m] = answers_before[rows]
    return pos
