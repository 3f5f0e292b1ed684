"""Reporting periods: calendar months, quarters and years, or explicit half-open windows.

A :class:`Periods` is an ordered list of half-open windows ``[start, end)`` in UTC
(``datetime64[us]``), each with a label. Calendar periods are UTC by default; pass
``tz="Europe/Paris"`` to cut them at local midnight (the boundaries are still stored as
UTC instants). Every dataset-level metric takes its periods from here, and so can any
other code: :meth:`Periods.assign` maps a million timestamps to period numbers with one
``searchsorted``.

>>> p = calendar_periods("2024-01-15T00:00:00Z", "2024-03-01T00:00:00Z", freq="month")
>>> p.labels
('2024-01', '2024-02', '2024-03')
>>> p.assign(np.array(["2023-12-31T23:59", "2024-02-29T12:00"], dtype="datetime64[us]")).tolist()
[-1, 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, Final, Literal

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import result_html
from custsuccess.dataset import to_datetime64
from custsuccess.errors import ValidationError

__all__ = [
    "FREQUENCIES",
    "Freq",
    "PeriodSeries",
    "Periods",
    "calendar_periods",
    "resolve_periods",
    "windows",
]

Freq = Literal["month", "quarter", "year"]
#: The calendar frequencies :func:`calendar_periods` understands, with their length in months.
FREQUENCIES: Final[dict[str, int]] = {"month": 1, "quarter": 3, "year": 12}
_MAX_PERIODS: Final = 100_000
TimeArray = npt.NDArray[np.datetime64]
Moment = datetime | np.datetime64 | str


@attrs.frozen(slots=True, eq=False)
class Periods:
    """Ordered, non-overlapping half-open windows ``[starts[i], ends[i])`` in UTC.

    ``freq`` is the calendar frequency they were cut with, or None for explicit windows.
    """

    starts: TimeArray
    ends: TimeArray
    labels: tuple[str, ...]
    freq: str | None = None

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def contiguous(self) -> bool:
        """True when each period ends where the next one starts."""
        return bool(np.all(self.ends[:-1] == self.starts[1:]))

    def boundaries(self) -> TimeArray:
        """``starts`` followed by the last end: ``len(self) + 1`` instants.

        Only for contiguous periods (calendar periods always are).
        """
        if not self.contiguous:
            raise ValidationError(
                "these periods have gaps between them; this metric needs contiguous periods "
                "(each window ending where the next one starts)"
            )
        return np.concatenate([self.starts, self.ends[-1:]])

    def assign(self, times: Any) -> npt.NDArray[np.intp]:
        """The period number of each moment in ``times`` (``-1``: in no period)."""
        t = np.asarray(times).astype("datetime64[us]")
        i = np.searchsorted(self.starts, t, side="right") - 1
        inside = (
            (i >= 0) & (t < self.ends[np.maximum(i, 0)]) if len(self) else np.zeros(t.shape, bool)
        )
        return np.where(inside, i, -1).astype(np.intp)

    def days(self) -> npt.NDArray[np.float64]:
        """Length of each period in days (fractional for explicit windows)."""
        return (self.ends - self.starts) / np.timedelta64(1, "D")


def _utc(value: Moment, field: str) -> np.datetime64:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValidationError(
            f"{field} must be timezone-aware (naive datetimes are ambiguous), got {value!r}"
        )
    return to_datetime64(value, field)


def _local(t: np.datetime64, tz: Any) -> datetime:
    utc = datetime.fromisoformat(str(t.astype("datetime64[us]"))).replace(tzinfo=timezone.utc)
    return utc.astimezone(tz)


def _zone(tz: str | None) -> Any:
    if tz is None or tz == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"tz must be an IANA time zone such as 'Europe/Paris', got {tz!r}"
        ) from None


def _label(year: int, month: int, freq: str) -> str:
    if freq == "month":
        return f"{year:04d}-{month:02d}"
    if freq == "quarter":
        return f"{year:04d}Q{(month - 1) // 3 + 1}"
    return f"{year:04d}"


def calendar_periods(
    start: Moment, end: Moment, *, freq: Freq = "month", tz: str | None = None
) -> Periods:
    """The calendar periods from the one containing ``start`` to the one containing ``end``.

    Parameters
    ----------
    start, end
        Moments (timezone-aware datetimes, ISO strings with an offset, or ``datetime64``
        read as UTC); ``end`` may equal ``start``.
    freq
        ``"month"``, ``"quarter"`` (calendar quarters starting January, April, July,
        October) or ``"year"``.
    tz
        Cut periods at local midnight of this IANA zone; UTC when None.

    Examples
    --------
    >>> p = calendar_periods("2024-02-10T00:00:00Z", "2024-07-01T00:00:00Z", freq="quarter")
    >>> p.labels, str(p.starts[1]), str(p.ends[1])
    (('2024Q1', '2024Q2', '2024Q3'), '2024-04-01T00:00:00.000000', '2024-07-01T00:00:00.000000')
    """
    if not isinstance(freq, str) or freq not in FREQUENCIES:
        raise ValidationError(f"freq must be one of {tuple(FREQUENCIES)}, got {freq!r}")
    lo = _utc(start, "start")
    hi = _utc(end, "end")
    if hi < lo:
        raise ValidationError(f"end {hi} is before start {lo}")
    zone = _zone(tz)
    step = FREQUENCIES[freq]
    first = _local(lo, zone)
    year, month = first.year, (first.month - 1) // step * step + 1
    if freq == "year":
        month = 1
    edges: list[np.datetime64] = []
    labels: list[str] = []
    while True:
        edge = to_datetime64(datetime(year, month, 1, tzinfo=zone), "period start")
        edges.append(edge)
        labels.append(_label(year, month, freq))
        if edge > hi:
            break
        month += step
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        if len(edges) > _MAX_PERIODS:
            raise ValidationError(f"more than {_MAX_PERIODS} periods between {lo} and {hi}")
    # edges[-1] is the first period start after ``hi``: it closes the last period
    bounds = np.array(edges, dtype="datetime64[us]")
    return Periods(bounds[:-1], bounds[1:], tuple(labels[:-1]), freq)


def windows(spans: Iterable[tuple[Moment, Moment]] | Sequence[Sequence[Moment]]) -> Periods:
    """Explicit half-open windows ``[start, end)``, given in time order, not overlapping.

    Labels are ISO 8601 intervals ``start/end``.

    >>> w = windows([("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z"),
    ...              ("2024-01-15T00:00:00Z", "2024-02-01T00:00:00Z")])
    >>> w.labels[0], w.contiguous
    ('2024-01-01T00:00:00/2024-01-15T00:00:00', True)
    """
    starts: list[np.datetime64] = []
    ends: list[np.datetime64] = []
    for i, span in enumerate(spans):
        if isinstance(span, (str, bytes)) or len(span) != 2:
            raise ValidationError(f"windows[{i}] must be a (start, end) pair, got {span!r}")
        s = _utc(span[0], f"windows[{i}] start")
        e = _utc(span[1], f"windows[{i}] end")
        if e <= s:
            raise ValidationError(f"windows[{i}]: end {e} must be after start {s}")
        if ends and s < ends[-1]:
            raise ValidationError(
                f"windows[{i}] starts at {s}, before the previous window ends ({ends[-1]}): "
                "windows must be in time order and must not overlap"
            )
        starts.append(s)
        ends.append(e)
    if not starts:
        raise ValidationError("windows must hold at least one (start, end) pair")
    s_arr = np.array(starts, dtype="datetime64[us]")
    e_arr = np.array(ends, dtype="datetime64[us]")

    def iso(t: np.datetime64) -> str:
        return str(t.astype("datetime64[s]"))

    labels = tuple(f"{iso(a)}/{iso(b)}" for a, b in zip(s_arr, e_arr, strict=True))
    return Periods(s_arr, e_arr, labels, None)


def resolve_periods(
    *,
    freq: Freq,
    start: Moment | None,
    end: Moment | None,
    periods: Periods | None,
    default_start: np.datetime64 | None,
    default_end: np.datetime64 | None,
    tz: str | None = None,
    max_periods: int | None = None,
    metric: str = "this metric",
) -> Periods:
    """The periods a dataset-level metric reports on.

    Explicit ``periods`` win; otherwise calendar periods of ``freq`` from ``start`` (default:
    the dataset's first moment) to ``end`` (default: its last moment). With no dated
    records and neither ``start`` nor ``end``, the result has no periods. ``freq`` and
    ``tz`` are checked whatever the data (a bad option fails on an empty dataset too).
    More than ``max_periods`` calendar periods raise a ValidationError before any is
    built (a far-future ``end`` costs nothing).
    """
    if periods is None:
        if not isinstance(freq, str) or freq not in FREQUENCIES:
            raise ValidationError(f"freq must be one of {tuple(FREQUENCIES)}, got {freq!r}")
        if tz is not None and not isinstance(tz, str):
            raise ValidationError(f"tz must be an IANA time zone name or None, got {tz!r}")
        _zone(tz)
    if periods is not None:
        if not isinstance(periods, Periods):
            raise ValidationError(f"periods must be a Periods (see windows()), got {periods!r}")
        if start is not None or end is not None:
            raise ValidationError("pass either periods or start/end, not both")
        return periods
    lo = _utc(start, "start") if start is not None else default_start
    hi = _utc(end, "end") if end is not None else default_end
    if lo is None or hi is None:
        if start is None and end is None:
            empty = np.empty(0, dtype="datetime64[us]")
            return Periods(empty, empty.copy(), (), freq)
        raise ValidationError(
            "the dataset holds no dated records to take periods from: pass start and end"
        )
    if hi < lo:
        if end is None:
            hi = lo
        else:
            raise ValidationError(f"end {hi} is before start {lo}")
    if max_periods is not None:
        months = int((hi.astype("datetime64[M]") - lo.astype("datetime64[M]")).astype(np.int64))
        count = months // FREQUENCIES[freq] + 1
        if count > max_periods:
            span = (
                f"{str(default_start)[:10]} to {str(default_end)[:10]}"
                if default_start is not None and default_end is not None
                else "no dated records"
            )
            raise ValidationError(
                f"{metric} over about {count} {freq} periods ({str(lo)[:10]} to "
                f"{str(hi)[:10]}): at most {max_periods} periods are allowed; pass a start "
                f"and end near the data (which spans {span})"
            )
    return calendar_periods(lo, hi, freq=freq, tz=tz)


@attrs.frozen(slots=True, eq=False)
class PeriodSeries:
    """One number per period: ``values[i]`` belongs to ``periods[i]`` (NaN: undefined
    there, as the metric documents), in ``unit`` (one of :data:`custsuccess.units.UNITS`)."""

    name: str
    periods: Periods
    values: npt.NDArray[np.float64]
    unit: str = "number"

    _repr_html_ = result_html

    def __len__(self) -> int:
        return len(self.periods)

    @property
    def units(self) -> dict[str, str]:
        """The unit of ``values`` (see :mod:`custsuccess.units`)."""
        return {"values": self.unit}

    def to_series(self) -> Any:
        """A pandas Series indexed by period label (needs pandas)."""
        from custsuccess.metrics._frame import to_frame

        return to_frame({self.name: self.values}, self.periods.labels, "period")[self.name]
