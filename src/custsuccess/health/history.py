"""Health over time: snapshots of health reports, trends, and tier hysteresis.

A :class:`HealthHistory` holds one row per (account, snapshot date): the score, the tier
and the thresholds in force. It comes from a store
(:meth:`custsuccess.store.SQLiteStore.history`, snapshots saved with
:meth:`~custsuccess.store.SQLiteStore.save_report`) or straight from reports
(:meth:`HealthHistory.from_reports`). Per account it gives the score trend (change over
30 and 90 days), the days in the current tier and the date it turned poor.

**Tier hysteresis.** A score near a threshold flips the tier back and forth and floods a
team with alerts. :class:`TierHysteresis` confirms a move only when the new tier holds
for ``hold_days`` (from the first snapshot in it) or the score crosses the threshold by
at least ``margin`` points; until then the account keeps its confirmed tier.
:meth:`TierHysteresis.changes` gives the confirmed moves of a new report and sends only
those to the ``health_tier_changed`` hook. Real deterioration is not held back: a drop
deep into poor (by ``margin``) is confirmed on the day it happens.

Formulas are on the documentation page ``docs/history.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import to_pandas_renamed
from custsuccess.errors import ValidationError
from custsuccess.health.report import TIERS, HealthReport, tier_names
from custsuccess.typing import TierChange

if TYPE_CHECKING:
    from custsuccess.health.scorecards import ScorecardReport
    from custsuccess.plugins import Registry

__all__ = ["HealthHistory", "HistorySummary", "TierHysteresis"]

DAY_US: Final = 86_400_000_000
_NAT: Final = np.datetime64("NaT", "us")
F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
Times = npt.NDArray[np.datetime64]
_TIER_NAMES: Final = (*TIERS, "unscored")


def _days(value: Any, label: str, *, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValidationError(f"{label} must be a finite number of days, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValidationError(f"{label} must be {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


@attrs.frozen(slots=True, eq=False)
class HistorySummary:
    """Per account (``customer_ids``, sorted), at its latest snapshot ``as_of``:
    ``score``, ``tier``, ``change_30`` / ``change_90`` (score now minus the score of the
    latest snapshot at least 30 / 90 days older; NaN without one), ``days_in_tier``
    (days since the first snapshot of the current run of the same tier) and
    ``turned_poor_at`` (first snapshot of the current poor run; NaT when not poor)."""

    customer_ids: npt.NDArray[np.str_]
    as_of: Times
    score: F64
    tier: npt.NDArray[np.str_]
    change_30: F64
    change_90: F64
    days_in_tier: F64
    turned_poor_at: Times

    def __len__(self) -> int:
        return len(self.customer_ids)

    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        from custsuccess.metrics._frame import to_frame

        names = ("as_of", "score", "tier", "change_30", "change_90", "days_in_tier",
                 "turned_poor_at")
        return to_frame({n: getattr(self, n) for n in names}, self.customer_ids.tolist(),
                        "customer_id")


@attrs.frozen(slots=True, eq=False)
class HealthHistory:
    """Snapshots sorted by (customer id, date): ``customer_ids``, ``as_of``, ``score``,
    ``tier_code`` (0 good, 1 average, 2 poor, 3 unscored) and the ``good`` / ``poor``
    thresholds each was tiered with."""

    customer_ids: npt.NDArray[np.str_]
    as_of: Times
    score: F64
    tier_code: I8
    good: F64
    poor: F64

    def __attrs_post_init__(self) -> None:
        n = len(self.customer_ids)
        for name in ("as_of", "score", "tier_code", "good", "poor"):
            if len(getattr(self, name)) != n:
                raise ValidationError(f"HealthHistory: {name} has {len(getattr(self, name))} "
                                      f"rows, customer_ids {n}")
        if n > 1:
            ids, at = self.customer_ids, self.as_of
            ordered = (ids[1:] > ids[:-1]) | ((ids[1:] == ids[:-1]) & (at[1:] > at[:-1]))
            if not ordered.all():
                raise ValidationError(
                    "HealthHistory rows must be sorted by (customer id, date), one per pair"
                )

    def __len__(self) -> int:
        return len(self.customer_ids)

    @property
    def tier(self) -> npt.NDArray[np.str_]:
        return tier_names(self.tier_code)

    @property
    def dates(self) -> Times:
        """The distinct snapshot dates, oldest first."""
        dates: Times = np.unique(self.as_of)
        return dates

    @classmethod
    def from_reports(cls, reports: Iterable[HealthReport | ScorecardReport]) -> HealthHistory:
        """The history of a sequence of reports (one snapshot per report date; a later
        report of the same date replaces an earlier one)."""
        by_date: dict[Any, Any] = {}
        for i, report in enumerate(reports):
            if not hasattr(report, "tier_code") or not hasattr(report, "as_of"):
                raise ValidationError(
                    f"reports[{i}] must be a HealthReport, got {type(report).__name__}"
                )
            by_date[report.as_of] = report
        parts = list(by_date.values())
        if not parts:
            return cls(np.empty(0, "U1"), np.empty(0, "datetime64[us]"), np.empty(0),
                       np.empty(0, np.int8), np.empty(0), np.empty(0))
        ids = np.concatenate([r.customer_ids for r in parts])
        at = np.concatenate([np.full(len(r), r.as_of, dtype="datetime64[us]") for r in parts])
        score = np.concatenate([r.score for r in parts])
        tier = np.concatenate([r.tier_code for r in parts]).astype(np.int8)
        good = np.concatenate([np.broadcast_to(np.asarray(r.good, float), (len(r),))
                               for r in parts])
        poor = np.concatenate([np.broadcast_to(np.asarray(r.poor, float), (len(r),))
                               for r in parts])
        order = np.lexsort((at, ids))
        return cls(ids[order], at[order], score[order], tier[order], good[order], poor[order])

    def for_customers(self, customer_ids: Sequence[str]) -> HealthHistory:
        """The rows of the given accounts."""
        keep = np.isin(self.customer_ids, np.asarray(list(customer_ids), dtype=str))
        return self._take(keep)

    def _take(self, rows: Any) -> HealthHistory:
        return HealthHistory(self.customer_ids[rows], self.as_of[rows], self.score[rows],
                             self.tier_code[rows], self.good[rows], self.poor[rows])

    def _groups(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Start and end (exclusive) row of each account."""
        ids = self.customer_ids
        if not ids.size:
            return np.empty(0, np.intp), np.empty(0, np.intp)
        change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        starts = np.concatenate([[0], change]).astype(np.intp)
        ends = np.concatenate([change, [ids.size]]).astype(np.intp)
        return starts, ends

    def summary(self) -> HistorySummary:
        """Per account: trend over 30 and 90 days, days in tier, turned-poor date.

        >>> import numpy as np
        >>> h = HealthHistory(
        ...     np.array(["a", "a", "a", "a"]),
        ...     np.array(["2024-01-01", "2024-02-15", "2024-03-20", "2024-04-01"],
        ...              dtype="datetime64[us]"),
        ...     np.array([80.0, 60.0, 35.0, 30.0]), np.array([0, 1, 2, 2], dtype=np.int8),
        ...     np.full(4, 70.0), np.full(4, 40.0))
        >>> s = h.summary()

        30 days before April 1 the latest snapshot is Feb 15 (60): change -30; 90 days
        before, Jan 1 (80): -50; poor since March 20, 12 days:

        >>> s.change_30.tolist(), s.change_90.tolist(), s.days_in_tier.tolist()
        ([-30.0], [-50.0], [12.0])
        >>> str(s.turned_poor_at[0])
        '2024-03-20T00:00:00.000000'
        """
        starts, ends = self._groups()
        last = ends - 1
        at_us = self.as_of.astype("datetime64[us]").view(np.int64)
        # global key ordering (customer rank, time) lets one searchsorted find, for each
        # account, its latest snapshot at or before a moment
        rank = np.repeat(np.arange(starts.size, dtype=np.int64), ends - starts)
        lo, hi = int(at_us.min()) if at_us.size else 0, int(at_us.max()) if at_us.size else 0
        span = hi - lo + 1
        key = rank * span + (at_us - lo)

        def change(days: int) -> F64:
            target = at_us[last] - days * DAY_US
            want = rank[last] * span + (target - lo)
            pos = np.searchsorted(key, want, side="right") - 1
            ok = (target >= lo) & (pos >= starts)
            safe = np.where(ok, pos, 0)
            out: F64 = np.where(ok, self.score[last] - self.score[safe], np.nan)
            return out

        # the start of the run of the current tier: the last row whose tier differs, + 1
        code = self.tier_code
        differs = np.ones(code.size, dtype=bool)
        if code.size > 1:
            differs[1:] = (code[1:] != code[:-1]) | (rank[1:] != rank[:-1])
        run_start = np.maximum.accumulate(np.where(differs, np.arange(code.size), 0))
        first_of_run = run_start[last] if last.size else np.empty(0, np.intp)
        days_in_tier = (at_us[last] - at_us[first_of_run]) / DAY_US if last.size else np.empty(0)
        poor_now = code[last] == 2
        turned = np.where(poor_now, self.as_of[first_of_run], _NAT) if last.size else (
            np.empty(0, "datetime64[us]")
        )
        return HistorySummary(
            customer_ids=self.customer_ids[starts],
            as_of=self.as_of[last],
            score=self.score[last],
            tier=tier_names(code[last]),
            change_30=change(30),
            change_90=change(90),
            days_in_tier=days_in_tier.astype(np.float64),
            turned_poor_at=turned.astype("datetime64[us]"),
        )

    def tier_changes(self) -> int:
        """How many times an account's tier differs from its previous snapshot."""
        ids, code = self.customer_ids, self.tier_code
        if ids.size < 2:
            return 0
        return int(((ids[1:] == ids[:-1]) & (code[1:] != code[:-1])).sum())


@attrs.frozen(slots=True)
class TierHysteresis:
    """Confirm a tier move only when it holds ``hold_days`` or crosses by ``margin``.

    With the thresholds ``good`` and ``poor`` of each snapshot, a move from the
    confirmed tier to a new raw tier is confirmed when

    * the raw tier has been the same for at least ``hold_days`` (from its first
      snapshot in that run to this one; ``hold_days = 0`` confirms at once), or
    * the score is at least ``margin`` points past the threshold crossed: below
      ``poor - margin`` for poor, ``good + margin`` and over for good, and for average
      ``good - margin`` and under (from good) or ``poor + margin`` and over (from poor).

    The first snapshot of an account confirms its tier as it is.

    >>> import numpy as np
    >>> h = HealthHistory(
    ...     np.array(["a"] * 5),
    ...     np.arange(5).astype("timedelta64[D]") * 7 + np.datetime64("2024-01-01", "us"),
    ...     np.array([72.0, 68.0, 71.0, 66.0, 30.0]), np.array([0, 1, 0, 1, 2], np.int8),
    ...     np.full(5, 70.0), np.full(5, 40.0))
    >>> TierHysteresis(hold_days=14, margin=5).confirm(h).tolist()
    ['good', 'good', 'good', 'good', 'poor']

    The dips to 68 and 66 neither hold 14 days nor cross 70 by 5 points; the fall to 30
    is 10 points under 40: confirmed the same week.
    """

    hold_days: float = attrs.field(default=14.0)
    margin: float = attrs.field(default=5.0)

    def __attrs_post_init__(self) -> None:
        _days(self.hold_days, "TierHysteresis.hold_days")
        if (
            isinstance(self.margin, bool)
            or not isinstance(self.margin, (int, float))
            or not np.isfinite(self.margin)
            or self.margin < 0
        ):
            raise ValidationError(
                f"TierHysteresis.margin must be a number of points >= 0, got {self.margin!r}"
            )

    def confirm_codes(self, history: HealthHistory) -> I8:
        """The confirmed tier code of every snapshot row of ``history``."""
        if not isinstance(history, HealthHistory):
            raise ValidationError(
                f"TierHysteresis needs a HealthHistory, got {type(history).__name__}"
            )
        n = len(history)
        out = np.empty(n, dtype=np.int8)
        if not n:
            return out
        starts, ends = history._groups()
        length = ends - starts
        at_us = history.as_of.astype("datetime64[us]").view(np.int64)
        raw, score = history.tier_code, history.score
        good, poor = history.good, history.poor
        confirmed = raw[starts].copy()
        run_tier = raw[starts].copy()
        run_start = at_us[starts].copy()
        out[starts] = confirmed
        hold_us = self.hold_days * DAY_US
        d = float(self.margin)
        # one step per snapshot position, vectorised over the accounts
        for step in range(1, int(length.max())):
            alive = np.flatnonzero(length > step)
            row = starts[alive] + step
            r, s, g, p = raw[row], score[row], good[row], poor[row]
            new_run = r != run_tier[alive]
            run_tier[alive] = r
            run_start[alive] = np.where(new_run, at_us[row], run_start[alive])
            c = confirmed[alive]
            held = at_us[row] - run_start[alive] >= hold_us
            with np.errstate(invalid="ignore"):
                deep = np.select(
                    [r == 2, r == 0, (r == 1) & (c == 0), (r == 1) & (c == 2)],
                    [s < p - d, s >= g + d, s < g - d, s >= p + d],
                    default=True,  # unscored: nothing to hold against
                )
            move = (r != c) & (held | deep)
            c = np.where(move, r, c).astype(np.int8)
            confirmed[alive] = c
            out[row] = c
        return out

    def confirm(self, history: HealthHistory) -> npt.NDArray[np.str_]:
        """The confirmed tier names of every snapshot row of ``history``."""
        return tier_names(self.confirm_codes(history))

    def changes(
        self,
        history: HealthHistory,
        report: HealthReport | ScorecardReport,
        *,
        notify: bool = True,
        registry: Registry | None = None,
    ) -> tuple[TierChange, ...]:
        """The confirmed tier moves of ``report`` given the earlier snapshots in
        ``history`` (rows at or after the report's date are ignored), ordered by customer
        id. With ``notify``, only these are sent to the ``health_tier_changed`` hook of
        ``registry`` (default: the report's)."""
        if not hasattr(report, "tier_code") or not hasattr(report, "as_of"):
            raise ValidationError(
                f"changes(history, report) needs a HealthReport, got {type(report).__name__}"
            )
        if not isinstance(history, HealthHistory):
            raise ValidationError(
                f"changes(history, report) needs a HealthHistory, got {type(history).__name__}"
            )
        earlier = history._take(history.as_of < report.as_of)
        combined = _append(earlier, report)
        codes = self.confirm_codes(combined)
        # each account's last row is the report's; the one before, the previous confirmed
        starts, ends = combined._groups()
        last = ends - 1
        has_previous = (ends - starts) >= 2
        now = codes[last]
        before = np.where(has_previous, codes[np.maximum(last - 1, 0)], now)
        moved = np.flatnonzero(has_previous & (now != before))
        ids = combined.customer_ids
        in_report = np.isin(ids[last[moved]], report.customer_ids)
        moved = moved[in_report]
        prev_rows = last[moved] - 1
        changes = tuple(
            TierChange(
                customer_id=str(ids[last[k]]),
                previous_tier=_TIER_NAMES[int(before[k])],
                tier=_TIER_NAMES[int(now[k])],
                previous_score=float(combined.score[prev_rows[j]]),
                score=float(combined.score[last[k]]),
            )
            for j, k in enumerate(moved.tolist())
        )
        target = registry if registry is not None else getattr(report, "registry", None)
        if notify and changes and target is not None:
            target.notify_tier_changed(changes)
        return changes


def _append(history: HealthHistory, report: HealthReport | ScorecardReport) -> HealthHistory:
    m = len(report)
    ids = np.concatenate([history.customer_ids, report.customer_ids])
    at = np.concatenate([history.as_of.astype("datetime64[us]"),
                         np.full(m, report.as_of, dtype="datetime64[us]")])
    score = np.concatenate([history.score, report.score])
    tier = np.concatenate([history.tier_code, report.tier_code]).astype(np.int8)
    good = np.concatenate([history.good, np.broadcast_to(np.asarray(report.good, float), (m,))])
    poor = np.concatenate([history.poor, np.broadcast_to(np.asarray(report.poor, float), (m,))])
    order = np.lexsort((at, ids))
    return HealthHistory(ids[order], at[order], score[order], tier[order], good[order],
                         poor[order])

