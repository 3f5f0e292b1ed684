"""Health over time: report snapshots in the store, trends, days in tier, the date an
account turned poor, and tier hysteresis (confirmed moves only reach the hook)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Event, ValidationError
from custsuccess.health import HealthModel
from custsuccess.health.history import HealthHistory, TierHysteresis
from custsuccess.health.rules import RecencyRule
from custsuccess.hookspecs import hookimpl
from custsuccess.plugins import Registry
from custsuccess.store import SQLiteStore
from custsuccess.typing import TierChange

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def history(scores: Sequence[float], *, every: int = 1, good: float = 70, poor: float = 40,
            customer: str = "a") -> HealthHistory:
    s = np.asarray(scores, dtype=np.float64)
    codes = np.where(s >= good, 0, np.where(s < poor, 2, 1)).astype(np.int8)
    at = np.datetime64("2024-01-01", "us") + np.arange(s.size) * np.timedelta64(every, "D")
    return HealthHistory(np.full(s.size, customer), at.astype("datetime64[us]"), s, codes,
                         np.full(s.size, float(good)), np.full(s.size, float(poor)))


# --------------------------------------------------------------------------- summary


def test_summary_by_hand() -> None:
    # daily snapshots: 80 for 60 days, then 60 for 30 days, then 30 for 10 days
    h = history([80.0] * 60 + [60.0] * 30 + [30.0] * 10)
    s = h.summary()
    # last snapshot day 99 (30); 30 days earlier, day 69 (60); 90 days earlier day 9 (80)
    assert s.change_30.tolist() == [-30.0]
    assert s.change_90.tolist() == [-50.0]
    assert s.days_in_tier.tolist() == [9.0]  # poor since day 90
    assert str(s.turned_poor_at[0])[:10] == "2024-03-31"  # day 90
    assert s.tier.tolist() == ["poor"]
    assert h.tier_changes() == 2


def test_summary_for_several_accounts_and_no_old_enough_snapshot() -> None:
    a = history([50.0, 55.0, 75.0], every=20, customer="a")
    b = history([30.0, 35.0], every=40, customer="b")
    h = HealthHistory(*(np.concatenate([getattr(a, f), getattr(b, f)])
                        for f in ("customer_ids", "as_of", "score", "tier_code", "good", "poor")))
    s = h.summary()
    assert s.customer_ids.tolist() == ["a", "b"]
    # a: day 40 vs day 0 (the latest at or before day 10): +25; nothing 90 days old
    assert s.change_30[0] == 25.0
    assert np.isnan(s.change_90[0])
    # b: day 40 vs day 0 (at or before day 10): +5; poor since day 0
    assert s.change_30[1] == 5.0
    assert s.days_in_tier.tolist() == [0.0, 40.0]
    assert np.isnat(s.turned_poor_at[0])
    assert str(s.turned_poor_at[1])[:10] == "2024-01-01"


def test_rows_must_be_sorted() -> None:
    with pytest.raises(ValidationError, match=r"sorted by \(customer id, date\)"):
        HealthHistory(np.array(["b", "a"]), np.array(["2024-01-01"] * 2, dtype="datetime64[us]"),
                      np.zeros(2), np.zeros(2, np.int8), np.zeros(2), np.zeros(2))
    with pytest.raises(ValidationError, match=r"score has 1 rows, customer_ids 2"):
        HealthHistory(np.array(["a", "b"]), np.array(["2024-01-01"] * 2, dtype="datetime64[us]"),
                      np.zeros(1), np.zeros(2, np.int8), np.zeros(2), np.zeros(2))


# --------------------------------------------------------------------------- hysteresis


def test_flapping_near_a_threshold_is_not_confirmed() -> None:
    # daily: 72, 68, 71, 69, 72, 67, ... around good = 70, never 5 points under it
    h = history([72.0, 68.0, 71.0, 69.0, 72.0, 67.0, 71.0, 68.0])
    assert h.tier_changes() == 7
    confirmed = TierHysteresis(hold_days=3, margin=5).confirm(h)
    assert confirmed.tolist() == ["good"] * 8


def test_a_move_that_holds_is_confirmed_after_hold_days() -> None:
    # average from day 1 on (68): confirmed on day 1 + 3 = day 4
    h = history([72.0] + [68.0] * 6)
    confirmed = TierHysteresis(hold_days=3, margin=5).confirm(h).tolist()
    assert confirmed == ["good", "good", "good", "good", "average", "average", "average"]


def test_a_deep_drop_is_confirmed_at_once() -> None:
    # 80 -> 30: 10 points under poor = 40 (margin 5): confirmed the same day
    h = history([80.0, 30.0, 30.0])
    assert TierHysteresis(hold_days=14, margin=5).confirm(h).tolist() == ["good", "poor", "poor"]
    # 80 -> 38 is poor but within the margin: held until 14 days pass
    h = history([80.0] + [38.0] * 16)
    confirmed = TierHysteresis(hold_days=14, margin=5).confirm(h).tolist()
    assert confirmed.index("poor") == 15  # day 1 + 14


def test_recovery_from_poor_needs_the_margin_too() -> None:
    h = history([30.0, 30.0, 42.0, 46.0])  # 42 < 40 + 5; 46 >= 45
    assert TierHysteresis(hold_days=30, margin=5).confirm(h).tolist() == [
        "poor", "poor", "poor", "average"]


def test_hold_zero_and_margin_zero_confirm_every_move() -> None:
    h = history([72.0, 68.0, 71.0, 30.0])
    assert TierHysteresis(hold_days=0, margin=0).confirm(h).tolist() == h.tier.tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hold_days": -1}, r"hold_days must be >= 0, got -1"),
        ({"margin": float("nan")}, r"margin must be a number of points >= 0"),
        ({"margin": True}, r"margin must be a number of points >= 0, got True"),
    ],
)
def test_bad_hysteresis_settings_are_named(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TierHysteresis(**kwargs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40),
       st.integers(0, 10), st.floats(0, 20, allow_nan=False))
def test_confirmed_tiers_change_no_more_often_than_raw_ones(
    scores: list[float], hold: int, margin: float
) -> None:
    h = history(scores)
    confirmed = TierHysteresis(hold_days=hold, margin=margin).confirm_codes(h)
    raw_changes = int((h.tier_code[1:] != h.tier_code[:-1]).sum())
    confirmed_changes = int((confirmed[1:] != confirmed[:-1]).sum())
    assert confirmed_changes <= raw_changes
    assert confirmed[0] == h.tier_code[0]
    # a confirmed tier was the raw tier at the moment it was confirmed
    moved = np.flatnonzero(confirmed[1:] != confirmed[:-1]) + 1
    assert (confirmed[moved] == h.tier_code[moved]).all()


# --------------------------------------------------------------------------- store


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[TierChange, ...]] = []

    @hookimpl
    def health_tier_changed(self, changes: Sequence[TierChange]) -> None:
        self.calls.append(tuple(changes))


def flapping_dataset() -> Dataset:
    """'a' logs in after gaps of 9 and 11 days alternately: recency (100 x (30 - k) / 29
    on day k after a login) dips to 69.0 on the tenth day of every other gap, just under
    good = 70; 'b' stops on day 20 and decays to poor."""
    logins = [Event("a", "login", day(d)) for d in range(0, 120, 20)]
    logins += [Event("a", "login", day(d)) for d in range(9, 120, 20)]
    logins += [Event("b", "login", day(d)) for d in range(0, 21)]
    return Dataset.from_records([Customer("a", day(0)), Customer("b", day(0))], events=logins)


def test_save_report_and_history_round_trip(tmp_path: Path) -> None:
    ds = flapping_dataset()
    model = HealthModel([RecencyRule()])
    reports = [model.score(ds, day(d)) for d in range(30, 60)]
    with SQLiteStore(tmp_path / "cs.db") as store:
        for report in reports:
            store.save_report(report)
        store.save_report(reports[-1])  # the same date again replaces it
        stored = store.history()
        assert len(store.report_snapshots()) == 30
        only_b = store.history(["b"], since=day(50))
        with pytest.raises(ValidationError, match=r"save_report\(\) needs a HealthReport"):
            store.save_report("report")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match=r"customer_ids\[0\] must be a customer id"):
            store.history([3])  # type: ignore[list-item]
    direct = HealthHistory.from_reports(reports)
    assert stored.customer_ids.tolist() == direct.customer_ids.tolist()
    assert np.array_equal(stored.as_of, direct.as_of)
    assert np.array_equal(stored.score, direct.score)
    assert stored.tier_code.tolist() == direct.tier_code.tolist()
    assert set(only_b.customer_ids.tolist()) == {"b"}
    assert len(only_b) == 10  # days 50..59
    # b: last login day 20; on day 59 recency 0 since day 50 (30 days): poor since the
    # first day its score fell under 40: 100 x (30 - d) / 29 < 40 at d > 18.4, day 39
    summary = stored.summary()
    b = summary.customer_ids.tolist().index("b")
    assert str(summary.turned_poor_at[b])[:10] == str(np.datetime64(day(39).replace(
        tzinfo=None), "D"))


def test_only_confirmed_moves_reach_the_hook(tmp_path: Path) -> None:
    ds = flapping_dataset()
    recorder = Recorder()
    registry = Registry(plugins=[recorder], entry_points=False)
    model = HealthModel([RecencyRule()], registry=registry)
    hysteresis = TierHysteresis(hold_days=7, margin=5)
    raw_moves = confirmed_moves = 0
    with SQLiteStore(tmp_path / "cs.db") as store:
        previous = None
        for d in range(10, 80):
            report = model.score(ds, day(d))
            if previous is not None:
                raw_moves += len(report.changes_since(previous, notify=False))
            confirmed_moves += len(hysteresis.changes(store.history(), report))
            store.save_report(report)
            previous = report
    sent = [c for call in recorder.calls for c in call]
    assert len(sent) == confirmed_moves
    # a dips to average on days 19 (10 days after its login on day 9), 39, 59 and 79 and
    # is back to good the next day (day 80 is not scored): 7 raw moves; b moves twice;
    # only b's two are confirmed
    assert raw_moves == 9
    assert confirmed_moves == 2
    # b's fall to poor is confirmed within the margin rule: once recency < 35, i.e. more
    # than 19.85 days after day 20, on day 40 (its raw tier turned poor on day 39)
    b_moves = [(c.previous_tier, c.tier) for c in sent if c.customer_id == "b"]
    assert ("average", "poor") in b_moves


def test_changes_validate_their_input() -> None:
    h = history([50.0])
    with pytest.raises(ValidationError, match=r"needs a HealthHistory, got list"):
        TierHysteresis().changes([], HealthModel([RecencyRule()]).score(  # type: ignore[arg-type]
            flapping_dataset(), day(30)))
    with pytest.raises(ValidationError, match=r"needs a HealthReport, got str"):
        TierHysteresis().changes(h, "report")  # type: ignore[arg-type]
