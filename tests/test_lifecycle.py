"""Lifecycle stages at as_of and scorecards per stage and segment, by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event, Subscription, ValidationError
from custsuccess.health import HealthModel
from custsuccess.health.rules import NpsRule, OnboardingRule, RecencyRule
from custsuccess.health.scorecards import Scorecard, Scorecards
from custsuccess.metrics.lifecycle import STAGES, lifecycle_stages

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=360)


def d(n: float) -> datetime:
    return T0 + timedelta(days=n)


def book() -> Dataset:
    customers = [
        Customer("churned", d(0), segment="smb"),
        Customer("fresh", d(300), segment="smb"),       # 60 days old
        Customer("adopted", d(0), segment="enterprise"),
        Customer("renewing", d(0), segment="enterprise"),
        Customer("trying", d(330)),
        Customer("trial_plan", d(100)),
        Customer("no_subs", d(0)),
        Customer("future", d(400)),
        Customer("fresh_renewing", d(340)),  # onboarding, but renewal wins
    ]
    subs = [
        Subscription("s1", "churned", "pro", 50.0, "USD", d(0), d(200)),
        Subscription("s2", "fresh", "pro", 50.0, "USD", d(300)),
        Subscription("s3", "adopted", "pro", 50.0, "USD", d(0), renews_at=d(500)),
        Subscription("s4", "renewing", "pro", 50.0, "USD", d(0), renews_at=d(400)),
        Subscription("s5", "trying", "pro", 0.0, "USD", d(330)),
        Subscription("s6", "trial_plan", "eval", 10.0, "USD", d(100)),
        Subscription("s7", "fresh_renewing", "pro", 5.0, "USD", d(340), renews_at=d(370)),
    ]
    events = [Event(c, "login", AS_OF - timedelta(days=2))
              for c in ("adopted", "renewing", "fresh", "no_subs")]
    events.append(Event("renewing", "nps_response", AS_OF - timedelta(days=5), value=2))
    return Dataset.from_records(customers, subs, events)


def stages_of(**kwargs: object) -> dict[str, str | None]:
    s = lifecycle_stages(book(), as_of=AS_OF, **kwargs)  # type: ignore[arg-type]
    return dict(zip(s.customer_ids.tolist(), s.stage.tolist(), strict=True))


def test_each_stage_by_hand() -> None:
    assert stages_of(trial_plans=["eval"]) == {
        "adopted": "adoption",          # 360 days old, renews in 140 days
        "churned": "churned",           # its only subscription ended on day 200
        "fresh": "onboarding",          # 60 days old
        "fresh_renewing": "renewal",    # 20 days old, but renews in 10 days
        "future": None,                 # created after as_of
        "no_subs": "adoption",          # no subscription: staged by age
        "renewing": "renewal",          # renews in 40 days
        "trial_plan": "trial",          # a running plan named as a trial
        "trying": "trial",              # only a free subscription running
    }


def test_windows_are_configurable() -> None:
    stages = stages_of(onboarding_days=30, renewal_window_days=30)
    assert stages["fresh"] == "adoption"  # 60 days old > 30
    assert stages["renewing"] == "adoption"  # renews in 40 days > 30
    assert stages["fresh_renewing"] == "renewal"  # 10 days
    assert stages["trial_plan"] == "adoption"  # without trial_plans it pays 10
    counts = lifecycle_stages(book(), as_of=AS_OF).counts()
    assert list(counts) == list(STAGES)
    assert sum(counts.values()) == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"onboarding_days": -1}, r"onboarding_days must be a whole number >= 0, got -1"),
        ({"renewal_window_days": 1.5}, r"renewal_window_days must be a whole number"),
        ({"trial_plans": [3]}, r"trial_plans must be plan names"),
    ],
)
def test_bad_options_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        lifecycle_stages(book(), as_of=AS_OF, **kwargs)  # type: ignore[arg-type]


def test_the_stage_is_point_in_time() -> None:
    # before day 200 the churned account was still adopting; before day 300 'fresh' is absent
    early = lifecycle_stages(book(), as_of=d(150))
    got = dict(zip(early.customer_ids.tolist(), early.stage.tolist(), strict=True))
    assert got["churned"] == "adoption"
    assert got["fresh"] is None
    assert early.of("trying") is None
    with pytest.raises(ValidationError, match=r"unknown customer id 'nobody'"):
        early.of("nobody")


# --------------------------------------------------------------------------- scorecards


def cards(**kwargs: object) -> Scorecards:
    return Scorecards(
        HealthModel([RecencyRule()]),
        [
            Scorecard("onboarding", HealthModel([OnboardingRule()]), stage="onboarding"),
            Scorecard("renewal-enterprise", HealthModel([NpsRule()]), stage="renewal",
                      segment="enterprise"),
            Scorecard("enterprise", HealthModel([RecencyRule()], good=90, poor=60),
                      segment="enterprise"),
        ],
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_most_specific_scorecard_wins() -> None:
    sc = cards()
    assert sc.choose("renewal", "enterprise") == "renewal-enterprise"
    assert sc.choose("adoption", "enterprise") == "enterprise"
    assert sc.choose("onboarding", "enterprise") == "onboarding"  # stage beats segment
    assert sc.choose("onboarding", None) == "onboarding"
    assert sc.choose("adoption", "smb") == "default"
    report = sc.score(book(), AS_OF)
    by_id = dict(zip(report.customer_ids.tolist(), report.scorecard.tolist(), strict=True))
    assert by_id == {
        "adopted": "enterprise",
        "fresh": "onboarding",
        "fresh_renewing": "default",
        "no_subs": "default",
        "renewing": "renewal-enterprise",
        "trial_plan": "default",
        "trying": "default",
    }
    assert report.scorecard_of("renewing") == "renewal-enterprise"


def test_each_account_gets_its_scorecards_score_and_thresholds() -> None:
    report = cards().score(book(), AS_OF)
    i = report.row("renewing")
    # NPS 2 five days ago: a detractor; NpsRule scores it as its own report says
    alone = HealthModel([NpsRule()]).score(book(), AS_OF)
    assert report.score[i] == pytest.approx(alone.score[alone.row("renewing")])
    assert report.tier[i] == "poor"
    j = report.row("adopted")  # recency 2 days: 100 x 28 / 29 = 96.6; enterprise good >= 90
    assert report.score[j] == pytest.approx(100 * 28 / 29)
    assert (report.good[j], report.poor[j]) == (90.0, 60.0)
    assert report.tier[j] == "good"
    assert report.explain("adopted").rules[0].rule == "usage.recency"


def test_segment_thresholds_retier_whatever_scored_the_account() -> None:
    report = cards(segment_thresholds={"enterprise": (99, 97)}).score(book(), AS_OF)
    j = report.row("adopted")
    assert report.tier[j] == "poor"  # 96.6 < 97
    assert report.explain("adopted").tier == "poor"
    assert sum(report.tier_counts().values()) == len(report)


def test_the_report_rolls_up_like_a_health_report() -> None:
    report = cards().score(book(), AS_OF)
    books = report.by_owner()
    assert books.keys.tolist() == [None]
    assert books.accounts.tolist() == [len(report)]


def test_scorecards_are_validated() -> None:
    model = HealthModel([RecencyRule()])
    with pytest.raises(ValidationError, match=r"stage must be one of .* got 'growth'"):
        Scorecard("x", model, stage="growth")
    with pytest.raises(ValidationError, match=r"give a stage, a segment or both"):
        Scorecard("x", model)
    with pytest.raises(ValidationError, match=r"name must be a non-empty string other than"):
        Scorecard("default", model, stage="trial")
    with pytest.raises(ValidationError, match=r"model must be a HealthModel, got str"):
        Scorecard("x", "model", stage="trial")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"two scorecards for the same"):
        Scorecards(model, [Scorecard("a", model, stage="trial"),
                           Scorecard("b", model, stage="trial")])
    with pytest.raises(ValidationError, match=r"duplicate scorecard name"):
        Scorecards(model, [Scorecard("a", model, stage="trial"),
                           Scorecard("a", model, segment="smb")])
    with pytest.raises(ValidationError, match=r"poor \(80\) must not be above good \(70\)"):
        Scorecards(model, segment_thresholds={"smb": (70, 80)})
    with pytest.raises(ValidationError, match=r"must be \(good, poor\)"):
        Scorecards(model, segment_thresholds={"smb": 70})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match=r"must be a custsuccess Dataset"):
        Scorecards(model).score("data", AS_OF)  # type: ignore[arg-type]


def test_one_scorecard_equals_the_plain_model() -> None:
    model = HealthModel([RecencyRule(), NpsRule()])
    plain = model.score(book(), AS_OF)
    carded = Scorecards(model).score(book(), AS_OF)
    assert carded.customer_ids.tolist() == plain.customer_ids.tolist()
    assert np.array_equal(carded.score, plain.score, equal_nan=True)
    assert carded.tier.tolist() == plain.tier.tolist()
