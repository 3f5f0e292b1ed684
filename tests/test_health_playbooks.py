"""The built-in playbooks, on hand-built accounts, and playbooks as plugins."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
import numpy as np
import numpy.typing as npt
import pytest

from custsuccess import Customer, Dataset, Event, PluginError, Registry, hookimpl
from custsuccess.health import HealthModel, HealthReport
from custsuccess.health.playbooks import (
    BUILTIN_PLAYBOOKS,
    OnboardingHelp,
    PersonalCall,
    ReferralAsk,
    SuccessStories,
    SurveyAsk,
)
from custsuccess.typing import Playbook, RegisterPlaybook

UTC = timezone.utc
AS_OF = datetime(2024, 7, 1, 12, tzinfo=UTC)
OLD = AS_OF - timedelta(days=400)


def ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def logins(c: str, days: list[float]) -> list[Event]:
    return [Event(c, "login", ago(d)) for d in days]


@pytest.fixture
def dataset() -> Dataset:
    customers = [
        Customer("new_behind", ago(25)),  # onboarding, nothing reached on day 25
        Customer("new_fine", ago(25)),
        Customer("vanished", OLD),  # active earlier in the window, silent for 40 days
        Customer("irregular", OLD),  # 3 active days in the last 30, last 2 days ago
        Customer("champion", OLD),  # active most days, no NPS or referral lately
        Customer("champion_surveyed", OLD),  # same, answered NPS 10 last week
        Customer("champion_detractor", OLD),  # same, but answered NPS 2 yesterday
    ]
    busy = [d + 0.5 for d in range(0, 28)]
    events = [
        *logins("new_fine", [24, 20, 10]),
        Event("new_fine", "page_view", ago(20)),
        Event("new_fine", "feature_used", ago(19), properties={"feature": "reports"}),
        *logins("vanished", [85, 70, 60, 50, 40]),
        *logins("irregular", [2, 9, 20]),
        *logins("champion", busy),
        *logins("champion_surveyed", busy),
        Event("champion_surveyed", "nps_response", ago(7), value=10),
        *logins("champion_detractor", busy),
        Event("champion_detractor", "nps_response", ago(1), value=2),
    ]
    for c in ("champion", "champion_surveyed", "champion_detractor"):
        events += [
            Event(c, "feature_used", ago(d), properties={"feature": f})
            for d, f in zip((1, 2, 3, 4, 5), ("a", "b", "c", "d", "e"), strict=True)
        ]
    return Dataset.from_records(customers, events=events)


@pytest.fixture
def report(dataset: Dataset, builtin_registry: Registry) -> HealthReport:
    return HealthModel.default(builtin_registry).score(dataset, AS_OF)


def recommended(report: HealthReport) -> dict[str, tuple[str, ...]]:
    return {cid: report.recommendations(cid) for cid in report.customer_ids.tolist()}


def test_builtin_playbooks_by_pattern(report: HealthReport) -> None:
    assert report.playbooks == (
        "onboarding.help", "personal.call", "reactivation.outreach", "success.stories",
        "survey.ask", "referral.ask",
    )
    got = recommended(report)
    tiers = dict(zip(report.customer_ids.tolist(), report.tier.tolist(), strict=True))
    assert tiers["champion"] == "good"
    assert tiers["vanished"] == "poor"
    assert got["new_behind"] == ("onboarding.help",)
    assert "onboarding.help" not in got["new_fine"]
    assert got["vanished"] == ("personal.call",)
    assert got["irregular"] == ("success.stories",)
    # no NPS answer in 90 days: the survey first (a referral ask waits for the answer)
    assert got["champion"] == ("survey.ask",)
    assert got["champion_surveyed"] == ("referral.ask",)
    # a detractor gets no referral ask (and answered the survey recently)
    assert got["champion_detractor"] == ()
    assert report.recommended.shape == (7, 6)
    assert report.explain("vanished").playbooks == ("personal.call",)
    assert report.to_records()[report.row("vanished")]["playbooks"] == ["personal.call"]


def test_playbooks_satisfy_the_protocol() -> None:
    priorities = []
    for cls in BUILTIN_PLAYBOOKS:
        pb = cls()
        assert isinstance(pb, Playbook)
        priorities.append(pb.priority)
    assert priorities == sorted(priorities)


def test_playbook_parameters(
    dataset: Dataset, builtin_registry: Registry, report: HealthReport
) -> None:
    # "vanished" has been silent for 40 days: not vanished enough for a 50-day threshold;
    # "irregular" (3 active days) is regular for a 3-day threshold
    rules = HealthModel.default(builtin_registry).rules
    strict = HealthModel(
        rules,
        playbooks=[OnboardingHelp(below=0), PersonalCall(silent_days=50),
                   SuccessStories(regular_days=3), SurveyAsk(), ReferralAsk()],
    )
    got = strict.score(dataset, AS_OF)
    assert got.recommendations("vanished") == ()
    assert got.recommendations("irregular") == ()
    assert got.recommendations("new_behind") == ()
    assert got.recommendations("champion") == report.recommendations("champion")


@attrs.frozen
class CallEveryone:
    name: str = "acme.call_everyone"
    description: str = "call every account"
    priority: int = 1

    def recommend(self, dataset: Dataset, report: HealthReport) -> npt.NDArray[np.bool_]:
        return np.ones(len(report), dtype=bool)


@attrs.frozen
class BadMask:
    name: str = "acme.bad"
    description: str = "returns the wrong shape"
    priority: int = 1

    def recommend(self, dataset: Dataset, report: HealthReport) -> npt.NDArray[np.bool_]:
        return np.ones(len(report) + 1, dtype=bool)


class PlaybookPlugin:
    @hookimpl
    def register_playbooks(self, register: RegisterPlaybook) -> None:
        register(CallEveryone())


def test_plugin_playbook_comes_first_by_priority() -> None:
    registry = Registry(plugins=[PlaybookPlugin()], entry_points=False)
    model = HealthModel.default(registry)
    assert model.playbooks[0].name == "acme.call_everyone"
    ds = Dataset.from_records([Customer("a", OLD)], events=logins("a", [1]))
    report = model.score(ds, AS_OF)
    assert report.recommendations("a")[0] == "acme.call_everyone"


def test_garbage_playbook_is_a_plugin_error() -> None:
    from custsuccess.health.rules import RecencyRule

    ds = Dataset.from_records([Customer("a", OLD)])
    with pytest.raises(PluginError, match="recommendation has shape \\(2,\\), expected \\(1,\\)"):
        HealthModel([RecencyRule()], playbooks=[BadMask()]).score(ds, AS_OF)


def test_to_pandas_lists_the_playbooks(report: HealthReport) -> None:
    frame = report.to_pandas()
    assert frame.loc["champion", "playbooks"] == "survey.ask"
    assert frame.loc["vanished", "playbooks"] == "personal.call"
    assert frame.loc["champion_detractor", "playbooks"] == ""


def test_personal_call_reaches_accounts_silent_for_months(builtin_registry: Registry) -> None:
    """"Call those who started and then vanished": the history window is a year, so an
    account silent for 120 days still gets its call; one that was active on a single day
    of the year, or only before it, did not really start."""
    customers = [
        Customer("long_gone", OLD),  # active on 3 days, the last 120 days ago
        Customer("tried_once", OLD),  # active on 1 day of the last 365
        Customer("before_the_year", OLD - timedelta(days=300)),  # active 380+ days ago only
    ]
    events = [
        *logins("long_gone", [300, 200, 120]),
        *logins("tried_once", [200]),
        *logins("before_the_year", [390, 380]),
    ]
    report = HealthModel.default(builtin_registry).score(
        Dataset.from_records(customers, events=events), AS_OF
    )
    got = recommended(report)
    assert "personal.call" in got["long_gone"]
    assert "personal.call" not in got["tried_once"]
    assert "personal.call" not in got["before_the_year"]
    assert PersonalCall().lookback_days == 365
    assert PersonalCall().min_active_days == 2
