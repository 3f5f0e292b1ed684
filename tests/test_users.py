"""Users inside accounts: active users, DAU/MAU, breadth, seat utilisation and the champion,
as metrics and as health rules, on hand-worked accounts."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Event, ValidationError
from custsuccess.health import HealthModel
from custsuccess.health.rules import RecencyRule
from custsuccess.health.user_rules import (
    BreadthOfUsersRule,
    ChampionRule,
    SeatUtilisationRule,
    StickinessRule,
)
from custsuccess.metrics import compute
from custsuccess.metrics.users import user_activity
from custsuccess.plugins import Registry

UTC = timezone.utc
AS_OF = datetime(2024, 6, 1, tzinfo=UTC)


def ago(days: float, hours: float = 1.0) -> datetime:
    return AS_OF - timedelta(days=days, hours=hours)


def book() -> Dataset:
    """Three accounts worked by hand below.

    * ``acme`` (10 seats): u1 active on days 0, 1, 2 and 40; u2 on days 5 and 6 (twice on
      day 5); u3 only 100 days ago; a page view by u4 today; an NPS answer by u5 (not an
      activity kind, but u5 is a known user).
    * ``bolt`` (no seats attribute): the champion cara was active 20 days in slots 31..50;
      dan logged in today.
    * ``calm`` (4 seats): events without a user id only.
    """
    customers = [
        Customer("acme", ago(400), attributes={"seats": 10}),
        Customer("bolt", ago(400)),
        Customer("calm", ago(400), attributes={"seats": 4}),
    ]
    acme = [Event("acme", "login", ago(d), user_id="u1") for d in (0, 1, 2, 40)]
    acme += [Event("acme", "login", ago(5), user_id="u2"),
             Event("acme", "feature_used", ago(5, 3), properties={"feature": "x"}, user_id="u2"),
             Event("acme", "login", ago(6), user_id="u2"),
             Event("acme", "login", ago(100), user_id="u3"),
             Event("acme", "page_view", ago(0, 2), user_id="u4"),
             Event("acme", "nps_response", ago(3), value=9, user_id="u5")]
    bolt = [Event("bolt", "login", ago(d), user_id="cara") for d in range(31, 51)]
    bolt += [Event("bolt", "login", ago(d), user_id="dan") for d in (0, 35)]
    calm = [Event("calm", "login", ago(d)) for d in (1, 2)]
    return Dataset.from_records(customers, events=acme + bolt + calm)


def test_active_users_by_hand() -> None:
    ua = user_activity(book(), as_of=AS_OF)
    assert ua.customer_ids.tolist() == ["acme", "bolt", "calm"]
    # acme: today u1 and u4; 7 days: u1, u2, u4; 30 days: the same three
    assert ua.daily_active.tolist() == [2, 1, 0]
    assert ua.weekly_active.tolist() == [3, 1, 0]
    assert ua.monthly_active.tolist() == [3, 1, 0]
    # known users: acme u1..u5 (u5 answered a survey), bolt cara and dan, calm none
    assert ua.known_users.tolist() == [5, 2, 0]


def test_dau_mau_breadth_and_seats_by_hand() -> None:
    ua = user_activity(book(), as_of=AS_OF)
    # acme user-days in 30 slots: u1 on 0, 1, 2; u2 on 5, 6; u4 on 0 = 6 -> 6 / 30 / 3
    assert ua.dau_mau[0] == pytest.approx(6 / 30 / 3)
    # bolt: dan on day 0 only -> 1 / 30 / 1
    assert ua.dau_mau[1] == pytest.approx(1 / 30)
    assert math.isnan(ua.dau_mau[2])
    assert ua.breadth[:2].tolist() == pytest.approx([3 / 5, 1 / 2])
    assert math.isnan(ua.breadth[2])
    # acme 3 of 10 seats; bolt has no seats attribute; calm 0 of 4 seats
    assert ua.seat_utilisation[0] == pytest.approx(0.3)
    assert math.isnan(ua.seat_utilisation[1])
    assert ua.seat_utilisation[2] == 0.0


def test_the_champion_gone_quiet_by_hand() -> None:
    ua = user_activity(book(), as_of=AS_OF)
    # acme: in slots 30..119, u1 was active 1 day (40), u3 1 day (100): a tie broken by
    # the later last activity, u1 (day 0), who is active: not quiet
    # bolt: cara (20 days in slots 31..50) beats dan (1 day, 35) and is quiet since 31 days
    assert ua.champion.tolist() == ["u1", "cara", None]
    assert ua.champion_quiet.tolist() == [False, True, False]
    assert ua.champion_quiet_days[1] == pytest.approx(31 + 1 / 24)


def test_the_user_rules_score_by_hand() -> None:
    ds = book()
    view = ds.until(AS_OF)
    t = np.datetime64(AS_OF.replace(tzinfo=None), "us")
    stick = StickinessRule().evaluate(view, t)  # full score at 0.2
    assert stick.score[0] == pytest.approx(100 * (6 / 90) / 0.2)
    assert stick.score[1] == pytest.approx(100 * (1 / 30) / 0.2)
    assert math.isnan(stick.score[2])
    breadth = BreadthOfUsersRule().evaluate(view, t)  # full score at 0.6 -> acme 0.6: 100
    assert breadth.score[:2].tolist() == pytest.approx([100.0, 100 * 0.5 / 0.6])
    seats = SeatUtilisationRule().evaluate(view, t)  # full at 0.8: 0.3 -> 37.5
    assert seats.score[0] == pytest.approx(37.5)
    assert seats.score[2] == 0.0
    assert seats.reasons.format(0) == "30% of seats used"
    champion = ChampionRule().evaluate(view, t)
    assert champion.score[:2].tolist() == [100.0, 0.0]
    assert math.isnan(champion.score[2])
    assert champion.reasons.format(1) == "champion cara quiet for 31 days"


def test_user_rules_are_builtin_plugins_switched_off_by_default() -> None:
    registry = Registry(entry_points=False)
    rules = registry.health_rules()
    for name in ("users.stickiness", "users.breadth", "users.seat_utilisation",
                 "users.champion"):
        assert name in rules
    default = HealthModel.default(registry)
    assert not any(name.startswith("users.") for name in default.rule_names)
    on = HealthModel.from_config({"rules": {"users.champion": {"weight": 1}}},
                                 registry=registry)
    assert "users.champion" in on.rule_names


def test_a_model_with_the_champion_rule_lowers_the_quiet_account_only() -> None:
    ds = book()
    model = HealthModel([RecencyRule(), ChampionRule()], {"usage.recency": 1,
                                                          "users.champion": 1})
    report = model.score(ds, AS_OF)
    recency = HealthModel([RecencyRule()]).score(ds, AS_OF)
    # acme: (recency + 100) / 2; bolt: (recency + 0) / 2; calm: no champion, recency alone
    assert report.score[0] == pytest.approx((recency.score[0] + 100) / 2)
    assert report.score[1] == pytest.approx(recency.score[1] / 2)
    assert report.score[2] == pytest.approx(recency.score[2])
    reasons = {r.rule: r.reason for r in report.explain("bolt").rules}
    assert reasons["users.champion"] == "champion cara quiet for 31 days"


def test_metrics_by_name() -> None:
    ds = book()
    assert compute("active_users", ds, as_of=AS_OF).tolist() == [3, 1, 0]  # type: ignore[attr-defined]
    quiet = compute("champion_gone_quiet", ds, as_of=AS_OF)
    assert quiet.tolist() == [False, True, False]  # type: ignore[attr-defined]


def test_as_of_defaults_to_the_view_and_later_events_are_not_seen() -> None:
    ds = book()
    late = Dataset.from_records(
        [Customer("acme", ago(400))],
        events=[Event("acme", "login", ago(1), user_id="u1"),
                Event("acme", "login", AS_OF + timedelta(days=3), user_id="u9")],
    )
    assert user_activity(late.until(AS_OF)).known_users.tolist() == [1]
    assert user_activity(ds.until(AS_OF)).monthly_active.tolist() == [3, 1, 0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"champion_window_days": 0}, r"champion_window_days must be a whole number > 0"),
        ({"quiet_days": 2.5}, r"quiet_days must be a whole number > 0, got 2.5"),
        ({"kinds": "login"}, r"kinds must be a non-empty list"),
        ({"seats_attribute": ""}, r"seats attribute must be a non-empty string"),
        ({"as_of": datetime(2024, 1, 1)}, r"as_of must be timezone-aware"),
    ],
)
def test_bad_options_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        user_activity(book(), **kwargs)  # type: ignore[arg-type]


def test_bad_seats_name_the_customer() -> None:
    ds = Dataset.from_records([Customer("a", AS_OF, attributes={"seats": 2.5})])
    with pytest.raises(ValidationError, match=r"customer 'a': attribute 'seats' must be a whole"):
        user_activity(ds, as_of=AS_OF)
    ds = Dataset.from_records([Customer("a", AS_OF, attributes={"seats": "ten"}),
                               Customer("b", AS_OF, attributes={"seats": 3})])
    with pytest.raises(ValidationError, match=r"customer 'a'.* got 'ten'"):
        user_activity(ds, as_of=AS_OF)
    with pytest.raises(ValidationError, match=r"must be a custsuccess Dataset, got a list"):
        user_activity([], as_of=AS_OF)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["u1", "u2", "u3"]),
                          st.integers(min_value=0, max_value=150)), max_size=40),
       st.randoms(use_true_random=False))
def test_batch_equals_single_and_order_does_not_matter(
    rows: list[tuple[str, str, int]], rnd: object
) -> None:
    customers = [Customer(c, ago(400), attributes={"seats": 3}) for c in ("a", "b", "c")]
    events = [Event(c, "login", ago(d), user_id=u) for c, u, d in rows]
    ds = Dataset.from_records(customers, events=events)
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    again = Dataset.from_records(list(reversed(customers)), events=shuffled)
    whole = user_activity(ds, as_of=AS_OF)
    other = user_activity(again, as_of=AS_OF)
    for name in ("daily_active", "weekly_active", "monthly_active", "known_users",
                 "champion_quiet"):
        assert getattr(whole, name).tolist() == getattr(other, name).tolist()
    for i, cid in enumerate(ds.customer_ids.tolist()):
        one = user_activity(ds.customer(cid), as_of=AS_OF)
        assert one.monthly_active[0] == whole.monthly_active[i]
        assert one.champion[0] == whole.champion[i]
        assert np.array_equal(one.dau_mau, whole.dau_mau[i : i + 1], equal_nan=True)
        # bounds: daily <= weekly <= monthly <= known; breadth and DAU/MAU in [0, 1]
        assert whole.daily_active[i] <= whole.weekly_active[i] <= whole.monthly_active[i]
        assert whole.monthly_active[i] <= whole.known_users[i]
    finite = whole.dau_mau[~np.isnan(whole.dau_mau)]
    assert ((finite > 0) & (finite <= 1)).all()
