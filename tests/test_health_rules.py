"""The built-in health rules against hand-worked accounts.

Every expected number is worked out by hand from the rule's documented formula (see the
comments), never copied from the code's output.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event, Subscription, ValidationError
from custsuccess.dataset import to_datetime64
from custsuccess.health.rules import (
    BUILTIN_RULES,
    BreadthRule,
    FrequencyRule,
    NpsRule,
    OnboardingRule,
    PaymentFailuresRule,
    RecencyRule,
    ReferralsRule,
    SupportResponsivenessRule,
    TrendRule,
)
from custsuccess.typing import HealthRule, RuleResult

UTC = timezone.utc
# 2024-07-01 is a Monday
AS_OF = datetime(2024, 7, 1, 12, tzinfo=UTC)
OLD = AS_OF - timedelta(days=400)  # created long ago


def ago(days: float = 0, minutes: float = 0) -> datetime:
    return AS_OF - timedelta(days=days, minutes=minutes)


def run(
    rule: Any,
    customers: list[Customer],
    events: list[Event] = (),  # type: ignore[assignment]
    subscriptions: list[Subscription] = (),  # type: ignore[assignment]
    as_of: datetime = AS_OF,
) -> tuple[dict[str, float], dict[str, str | None]]:
    ds = Dataset.from_records(customers, subscriptions, events)
    t = to_datetime64(as_of)
    result = rule.evaluate(ds.until(t), t)
    assert isinstance(result, RuleResult)
    assert result.score.dtype == np.float64
    assert result.score.shape == (len(customers),)
    ids = ds.customer_ids.tolist()
    scores = {cid: float(result.score[i]) for i, cid in enumerate(ids)}
    reasons = {cid: result.reasons.format(i) for i, cid in enumerate(ids)}
    return scores, reasons


def cust(cid: str, created: datetime = OLD) -> Customer:
    return Customer(cid, created)


def test_every_builtin_satisfies_the_protocol() -> None:
    for cls in BUILTIN_RULES:
        rule = cls()
        assert isinstance(rule, HealthRule)
        assert rule.name.count(".") == 1
        assert rule.description
        assert "\n" not in rule.description
        assert cls.DEFAULT_WEIGHT > 0
        assert cls.__doc__
        assert "Source" in cls.__doc__
        assert "::" in cls.__doc__


# --------------------------------------------------------------------------- recency


def test_recency_hand_worked() -> None:
    scores, reasons = run(
        RecencyRule(),
        [
            cust("a"),
            cust("b", ago(25)),
            cust("c"),
            cust("d"),
            cust("e", ago(-1)),  # created after as_of
            cust("f"),
        ],
        [
            Event("a", "login", ago(15)),
            Event("a", "email_open", ago(1)),  # not activity
            Event("c", "page_view", ago(0.5)),
            Event("d", "feature_used", ago(40), properties={"feature": "x"}),
            Event("f", "time_on_site", ago(41), value=30.0),
            Event("f", "login", ago(60)),
        ],
    )
    # a: d = 15 -> 100 * (30 - 15) / (30 - 1) = 51.724...
    assert scores["a"] == pytest.approx(100 * 15 / 29)
    assert reasons["a"] == "last activity 15 days ago"
    # b: never active, created 25 days ago -> 100 * 5 / 29
    assert scores["b"] == pytest.approx(100 * 5 / 29)
    assert reasons["b"] == "no activity since signup 25 days ago"
    # c: 0.5 days <= full_score_days (1) -> 100
    assert scores["c"] == 100.0
    assert reasons["c"] == "active in the last day"
    # d: 40 days >= 30 -> 0
    assert scores["d"] == 0.0
    assert reasons["d"] == "no activity for 40 days"
    assert math.isnan(scores["e"])
    assert reasons["e"] is None
    # f: the latest activity counts (41 days), the issue's own example reason
    assert reasons["f"] == "no activity for 41 days"


def test_recency_parameters_and_activity_kinds() -> None:
    rule = RecencyRule(full_score_days=5, zero_score_days=15, activity_kinds=["login"])
    scores, _ = run(
        rule,
        [cust("a"), cust("b")],
        [
            Event("a", "login", ago(10)),
            Event("b", "page_view", ago(1)),
            Event("b", "login", ago(12)),
        ],
    )
    # a: (15 - 10) / (15 - 5) = 0.5; b: page_view does not count: 12 days -> 3 / 10
    assert scores["a"] == pytest.approx(50.0)
    assert scores["b"] == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"full_score_days": 30, "zero_score_days": 10}, "full_score_days (30) must be less than"),
        ({"zero_score_days": -1}, "zero_score_days must be > 0, got -1"),
        ({"zero_score_days": "x"}, "zero_score_days must be a finite number, got 'x'"),
        ({"activity_kinds": []}, "activity_kinds must be a non-empty list"),
    ],
)
def test_recency_bad_parameters(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RecencyRule(**kwargs)


# --------------------------------------------------------------------------- frequency


def test_frequency_bands_hand_worked() -> None:
    daily = [Event("b", "login", ago(d + 0.5)) for d in range(22)]
    scores, reasons = run(
        FrequencyRule(),
        [cust("a"), cust("b"), cust("c"), cust("d", ago(5.5)), cust("e")],
        [
            # a: slots 0, 1, 2, 10, 20 (two events in slot 0) and one outside the window
            *[Event("a", "login", ago(d)) for d in (0.2, 0.5, 1.5, 2.5, 10.5, 20.5, 31)],
            *daily,
            # d: 5.5 days old, active in 2 slots
            Event("d", "login", ago(0.5)),
            Event("d", "page_view", ago(3.5)),
            # e: one slot
            Event("e", "feature_used", ago(29.5), properties={"feature": "x"}),
        ],
    )
    # a: 5 active days >= 4 -> weekly, 70
    assert scores["a"] == 70.0
    assert reasons["a"] == "active 5 of the last 30 days (weekly)"
    # b: 22 slots in the window, of which 0..21 -> 22 >= 20 -> daily, 100
    assert scores["b"] == 100.0
    # c: no activity -> dormant
    assert scores["c"] == 0.0
    assert reasons["c"] == "active 0 of the last 30 days (dormant)"
    # d: observed min(30, ceil(5.5)) = 6 days; equivalent 2 * 30 / 6 = 10 -> weekly
    assert scores["d"] == 70.0
    # e: one day -> monthly
    assert scores["e"] == 35.0


def test_frequency_custom_bands_and_errors() -> None:
    rule = FrequencyRule(window_days=10, bands=[[2, 90, "regular"], [0, 10, "rare"]])
    scores, reasons = run(
        rule, [cust("a")], [Event("a", "login", ago(1.5)), Event("a", "login", ago(8.5))]
    )
    assert scores["a"] == 90.0
    assert reasons["a"] == "active 2 of the last 10 days (regular)"
    with pytest.raises(ValidationError, match="last band must start at 0"):
        FrequencyRule(bands=[[5, 100, "x"], [1, 0, "y"]])
    with pytest.raises(ValidationError, match="from high to low"):
        FrequencyRule(bands=[[1, 100, "x"], [5, 50, "y"], [0, 0, "z"]])
    with pytest.raises(ValidationError, match="must be a list of"):
        FrequencyRule(bands=[[1]])
    with pytest.raises(ValidationError, match="score of band 'x' must be 0-100"):
        FrequencyRule(bands=[[0, 120, "x"]])


# --------------------------------------------------------------------------- trend


def test_trend_hand_worked() -> None:
    scores, reasons = run(
        TrendRule(),
        [cust("a"), cust("b"), cust("c"), cust("d", ago(60))],
        [
            # a: 3 recent active days, 12 previous
            *[Event("a", "login", ago(d + 0.5)) for d in (1, 5, 9)],
            *[Event("a", "login", ago(d + 0.5)) for d in range(30, 90, 5)],
            # b: 10 recent, 10 previous
            *[Event("b", "login", ago(d + 0.5)) for d in range(0, 30, 3)],
            *[Event("b", "login", ago(d + 0.5)) for d in range(30, 90, 6)],
            # c: recent only: no baseline
            Event("c", "login", ago(2)),
            # d: too young (60 days < 90)
            *[Event("d", "login", ago(d + 0.5)) for d in (1, 40)],
        ],
    )
    # a: ratio = (3 / 30) / (12 / 60) = 0.5 -> 50
    assert scores["a"] == pytest.approx(50.0)
    assert reasons["a"] == "activity down 50% on the previous period"
    # b: ratio = (10 / 30) / (10 / 60) = 2 -> capped at 100
    assert scores["b"] == 100.0
    assert reasons["b"] == "activity steady or up (+100% on the previous period)"
    assert math.isnan(scores["c"])
    assert math.isnan(scores["d"])


def test_trend_parameters() -> None:
    rule = TrendRule(recent_days=10, previous_days=20, full_score_ratio=0.8, zero_score_ratio=0.2)
    scores, _ = run(
        rule,
        [cust("a")],
        [*[Event("a", "login", ago(d + 0.5)) for d in (1, 3)],
         *[Event("a", "login", ago(d + 0.5)) for d in (10, 12, 14, 16, 18, 20, 22, 24)]],
    )
    # ratio = (2 / 10) / (8 / 20) = 0.5 -> (0.5 - 0.2) / (0.8 - 0.2) = 0.5 -> 50
    assert scores["a"] == pytest.approx(50.0)
    with pytest.raises(ValidationError, match="zero_score_ratio"):
        TrendRule(zero_score_ratio=1.0, full_score_ratio=0.5)


# --------------------------------------------------------------------------- onboarding


def test_onboarding_hand_worked() -> None:
    scores, reasons = run(
        OnboardingRule(),
        [cust("a", ago(16.5)), cust("b", ago(2)), cust("c", ago(40)), cust("d", ago(100)),
         cust("e", ago(30))],
        [
            Event("a", "login", ago(16)),
            Event("c", "login", ago(39)),
            Event("c", "page_view", ago(39)),
            Event("c", "feature_used", ago(38), properties={"feature": "reports"}),
            Event("d", "login", ago(99)),
        ],
    )
    # a: expected = 3 * (16.5 - 3) / (30 - 3) = 1.5; reached 1; shortfall 0.5
    #    -> 100 * (1 - 0.5 / 3) = 83.33
    assert scores["a"] == pytest.approx(100 * (1 - 0.5 / 3))
    assert reasons["a"] == (
        "1 of 3 activation milestones reached on day 16, behind (1.5 expected)"
    )
    # b: day 2 < grace (3): nothing due yet -> 100
    assert scores["b"] == 100.0
    assert reasons["b"] == "0 of 3 activation milestones reached on day 2"
    assert scores["c"] == 100.0
    # d: past 90 days -> not applicable
    assert math.isnan(scores["d"])
    assert reasons["d"] is None
    # e: day 30, nothing reached: expected 3 -> 0
    assert scores["e"] == 0.0


def test_onboarding_feature_milestones() -> None:
    rule = OnboardingRule(milestones=["login", "feature_used:reports"], activation_days=10,
                          grace_days=0)
    scores, _ = run(
        rule,
        [cust("a", ago(20)), cust("b", ago(20))],
        [
            Event("a", "login", ago(19)),
            Event("a", "feature_used", ago(18), properties={"feature": "dashboards"}),
            Event("b", "feature_used", ago(18), properties={"feature": "reports"}),
            Event("b", "login", ago(18)),
        ],
    )
    # a: day 20 >= 10: both due; only login reached -> 100 * (1 - 1 / 2) = 50
    assert scores["a"] == 50.0
    assert scores["b"] == 100.0
    # a feature nobody used is simply not reached
    scores, _ = run(OnboardingRule(milestones=["feature_used:sso"], grace_days=0,
                                   activation_days=10), [cust("a", ago(20))])
    assert scores["a"] == 0.0


# --------------------------------------------------------------------------- NPS


def test_nps_hand_worked() -> None:
    scores, reasons = run(
        NpsRule(),
        [cust(c) for c in "abcdef"],
        [
            Event("a", "nps_response", ago(90), value=9),
            Event("b", "nps_response", ago(10), value=7),
            Event("c", "nps_response", ago(180), value=0),
            Event("d", "nps_response", ago(200), value=10),
            Event("d", "nps_response", ago(0), value=3),
            Event("e", "nps_response", ago(400), value=10),
        ],
    )
    # a: promoter, 90 days = one half-life: 50 + (100 - 50) * 0.5 = 75
    assert scores["a"] == pytest.approx(75.0)
    assert reasons["a"] == "promoter (answered 9) 90 days ago"
    # b: passive scores the neutral 50 whatever its age
    assert scores["b"] == pytest.approx(50.0)
    # c: detractor, two half-lives: 50 - 50 * 0.25 = 37.5
    assert scores["c"] == pytest.approx(37.5)
    assert reasons["c"] == "detractor (answered 0) 180 days ago"
    # d: the latest answer counts: a detractor today -> 0
    assert scores["d"] == pytest.approx(0.0)
    # e: older than max_age_days (365); f: never answered
    assert math.isnan(scores["e"])
    assert math.isnan(scores["f"])


# --------------------------------------------------------------------------- support


def req(c: str, when: datetime, channel: str, ticket: str) -> Event:
    return Event(c, "support_request", when, properties={"channel": channel, "ticket": ticket})


def rep(c: str, when: datetime, channel: str, ticket: str) -> Event:
    return Event(c, "support_reply", when, properties={"channel": channel, "ticket": ticket})


def test_support_hand_worked() -> None:
    friday = datetime(2024, 6, 28, 17, tzinfo=UTC)
    monday = datetime(2024, 6, 24, 9, tzinfo=UTC)
    scores, reasons = run(
        SupportResponsivenessRule(),
        [cust(c) for c in "abcdefg"],
        [
            # a: phone answered in 3 min (on target: 100); chat in 5.5 min:
            #    (10 - 5.5) / (10 - 1) = 0.5 -> 50; mean 75
            req("a", ago(5, 10), "phone", "t1"),
            rep("a", ago(5, 7), "phone", "t1"),
            req("a", ago(3, 10), "chat", "t2"),
            rep("a", ago(3, 4.5), "chat", "t2"),
            # b: email Monday -> Wednesday: 2 business days: (5 - 2) / (5 - 1) = 0.75
            req("b", monday, "email", "t3"),
            rep("b", monday + timedelta(days=2), "email", "t3"),
            # c: phone request 2 minutes ago, unanswered: pending, not counted
            req("c", ago(0, 2), "phone", "t4"),
            # d: chat request 20 minutes ago, unanswered: past its limit -> 0
            req("d", ago(0, 20), "chat", "t5"),
            # e: request older than the 90-day window
            req("e", ago(100), "phone", "t6"),
            rep("e", ago(99), "phone", "t6"),
            # f: email Friday evening answered Monday: 1 business day -> 100
            req("f", friday, "email", "t7"),
            rep("f", friday + timedelta(days=2, hours=16), "email", "t7"),
            # g: a reply before the request does not answer it; the later one does
            #    (phone 12 minutes: (30 - 12) / (30 - 3) = 2/3)
            rep("g", ago(2, 30), "phone", "t8"),
            req("g", ago(2, 20), "phone", "t8"),
            rep("g", ago(2, 8), "phone", "t8"),
        ],
    )
    assert scores["a"] == pytest.approx(75.0)
    assert reasons["a"] == "1 of 2 support requests answered late"
    assert scores["b"] == pytest.approx(75.0)
    assert math.isnan(scores["c"])
    assert reasons["c"] is None
    assert scores["d"] == 0.0
    assert reasons["d"] == (
        "1 of 1 support requests unanswered past target, 1 late or unanswered in all"
    )
    assert math.isnan(scores["e"])
    assert scores["f"] == 100.0
    assert reasons["f"] == "all 1 support requests answered within target"
    assert scores["g"] == pytest.approx(100 * 18 / 27)


def test_support_targets_are_parameters() -> None:
    rule = SupportResponsivenessRule(phone_target_minutes=10, phone_limit_minutes=20)
    scores, _ = run(
        rule, [cust("a")], [req("a", ago(1, 15), "phone", "t"), rep("a", ago(1), "phone", "t")]
    )
    # 15 minutes: (20 - 15) / (20 - 10) = 0.5
    assert scores["a"] == pytest.approx(50.0)
    with pytest.raises(ValidationError, match="phone_target_minutes"):
        SupportResponsivenessRule(phone_target_minutes=40)


# --------------------------------------------------------------------------- billing


def test_payment_failures_hand_worked() -> None:
    def sub(c: str) -> Subscription:
        return Subscription(f"s-{c}", c, "pro", 50.0, "USD", OLD)

    scores, reasons = run(
        PaymentFailuresRule(),
        [cust(c) for c in "abcde"],
        [
            Event("e", "payment_failed", ago(89)),
            Event("a", "payment_failed", ago(10)),
            Event("a", "payment_failed", ago(50)),
            Event("a", "payment_failed", ago(120)),  # outside the window
            *[Event("d", "payment_failed", ago(d)) for d in (1, 2, 3, 4, 5)],
        ],
        [sub("a"), sub("b"), sub("d"), sub("e")],
    )
    # a: 2 failures: 100 * (1 - 2 / 3)
    assert scores["a"] == pytest.approx(100 / 3)
    assert reasons["a"] == "2 failed payments in the last 90 days"
    assert scores["b"] == 100.0
    assert reasons["b"] == "no failed payments in the last 90 days"
    # c: nothing billed -> not applicable
    assert math.isnan(scores["c"])
    assert scores["d"] == 0.0
    assert reasons["d"] == "5 failed payments in the last 90 days"
    # e: 1 failure: 100 * (1 - 1 / 3)
    assert scores["e"] == pytest.approx(200 / 3)
    assert reasons["e"] == "1 failed payment in the last 90 days"


# --------------------------------------------------------------------------- advocacy


def test_referrals_hand_worked() -> None:
    scores, reasons = run(
        ReferralsRule(),
        [cust(c) for c in "abcd"],
        [
            Event("a", "referral", ago(10)),
            *[Event("b", "referral", ago(d)) for d in (1, 2, 3)],
            Event("d", "referral", ago(400)),
        ],
    )
    # a: 100 * min(1, 0.5 + 0.5 * 1 / 2) = 75; b: 3 referrals -> 100
    assert scores["a"] == 75.0
    assert reasons["a"] == "1 referral in the last 365 days"
    assert reasons["b"] == "3 referrals in the last 365 days"
    assert scores["b"] == 100.0
    # c: none; d: only outside the window -> not applicable
    assert math.isnan(scores["c"])
    assert math.isnan(scores["d"])


# --------------------------------------------------------------------------- adoption


def feat(c: str, name: str, days: float) -> Event:
    return Event(c, "feature_used", ago(days), properties={"feature": name})


def test_breadth_hand_worked() -> None:
    events = [
        feat("a", "dashboards", 1), feat("a", "reports", 2), feat("a", "reports", 3),
        feat("a", "alerts", 4), feat("a", "api", 100),  # api is outside the window
        feat("b", "dashboards", 5),
    ]
    customers = [cust("a"), cust("b"), cust("c", ago(10))]
    scores, reasons = run(BreadthRule(), customers, events)
    # a: 3 distinct of target 5 -> 60
    assert scores["a"] == pytest.approx(60.0)
    assert reasons["a"] == "used 3 of 5 features in the last 90 days"
    assert scores["b"] == pytest.approx(20.0)
    # c: younger than 14 days
    assert math.isnan(scores["c"])
    # listed features: only they count, the target is their number
    scores, reasons = run(BreadthRule(features=["reports", "alerts"]), customers, events)
    assert scores["a"] == 100.0
    assert scores["b"] == 0.0
    assert reasons["b"] == "used 0 of 2 features in the last 90 days"
    scores, _ = run(BreadthRule(features=["reports", "alerts", "sso"], target=2), customers, events)
    assert scores["a"] == 100.0


def test_breadth_many_features() -> None:
    # more than 64 features takes the unique-pairs path: same counting
    events = [feat("a", f"f{i:03d}", 1 + i / 100) for i in range(70)]
    events += [feat("b", "f000", 1), feat("b", "f001", 2), feat("b", "f001", 3)]
    scores, _ = run(BreadthRule(target=100), [cust("a"), cust("b")], events)
    assert scores["a"] == pytest.approx(70.0)
    assert scores["b"] == pytest.approx(2.0)


# --------------------------------------------------------------------------- point in time


@pytest.mark.parametrize("cls", BUILTIN_RULES)
def test_rules_ignore_later_events(cls: type[Any]) -> None:
    customers = [cust("a"), cust("b", ago(20))]
    base = [
        Event("a", "login", ago(3)),
        Event("a", "nps_response", ago(30), value=6),
        req("a", ago(2, 30), "chat", "t1"),
        feat("b", "reports", 2),
        Event("b", "payment_failed", ago(1)),
        Event("b", "referral", ago(5)),
    ]
    later = [
        Event("a", "login", AS_OF + timedelta(hours=1)),
        Event("a", "nps_response", AS_OF + timedelta(days=1), value=10),
        rep("a", AS_OF + timedelta(minutes=5), "chat", "t1"),
        feat("b", "alerts", -1),
        Event("b", "payment_failed", AS_OF + timedelta(days=2)),
        Event("b", "referral", AS_OF + timedelta(days=2)),
    ]
    rule = cls()
    first, _ = run(rule, customers, base)
    second, _ = run(rule, customers, base + later)
    np.testing.assert_array_equal(list(first.values()), list(second.values()))


def test_day_counts_must_be_whole() -> None:
    assert FrequencyRule(window_days=14.0).window_days == 14
    with pytest.raises(ValidationError, match=r"window_days must be a whole number, got 7\.5"):
        FrequencyRule(window_days=7.5)
    with pytest.raises(ValidationError, match="recent_days must be a finite number, got 'x'"):
        TrendRule(recent_days="x")
