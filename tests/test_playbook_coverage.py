"""Playbooks that cover the book: every poor account has an action or a reason, survey and
referral asks reach active healthy accounts under the defaults, and a contact budget."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event, Registry, ValidationError
from custsuccess.demo import DEFAULT_END, generate
from custsuccess.health import HealthModel, HealthReport
from custsuccess.health.contacts import ContactBudget, playbook_coverage
from custsuccess.health.playbooks import (
    PersonalCall,
    ReactivationOutreach,
    ReferralAsk,
    SurveyAsk,
)
from custsuccess.health.rules import NpsRule, RecencyRule

UTC = timezone.utc
AS_OF = datetime(2024, 7, 1, 12, tzinfo=UTC)
OLD = AS_OF - timedelta(days=800)


def ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def test_reactivation_covers_the_silent_poor_that_personal_call_leaves_out() -> None:
    customers = [
        Customer("never", OLD),                # never active
        Customer("long_gone", OLD),            # active on 2 days, 500 days ago
        Customer("vanished", OLD),             # active on 3 days, 40-60 days ago
        Customer("one_day", OLD),              # active on 1 day, 100 days ago
    ]
    events = [Event("long_gone", "login", ago(d)) for d in (500, 510)]
    events += [Event("vanished", "login", ago(d)) for d in (40, 50, 60)]
    events += [Event("one_day", "login", ago(100))]
    ds = Dataset.from_records(customers, events=events)
    model = HealthModel([RecencyRule()], playbooks=[PersonalCall(), ReactivationOutreach()])
    report = model.score(ds, AS_OF)
    assert report.tier.tolist() == ["poor"] * 4
    got = {c: report.recommendations(c) for c in report.customer_ids.tolist()}
    assert got == {
        "long_gone": ("reactivation.outreach",),
        "never": ("reactivation.outreach",),
        "one_day": ("reactivation.outreach",),
        "vanished": ("personal.call",),
    }
    assert playbook_coverage(report).share_covered == 1.0


def test_an_uncovered_poor_account_gets_an_explicit_reason() -> None:
    # active yesterday (no call, no reactivation) but a detractor: poor, no playbook
    ds = Dataset.from_records(
        [Customer("angry", OLD), Customer("fine", OLD)],
        events=[Event("angry", "login", ago(1)),
                Event("angry", "nps_response", ago(2), value=0),
                Event("fine", "login", ago(1))],
    )
    model = HealthModel([RecencyRule(), NpsRule()], {"survey.nps": 9},
                        playbooks=[PersonalCall(), ReactivationOutreach()])
    report = model.score(ds, AS_OF)
    coverage = playbook_coverage(report)
    assert coverage.customer_ids.tolist() == ["angry"]
    assert coverage.covered.tolist() == [False]
    assert coverage.uncovered() == {
        "angry": "no playbook applies; lowest: survey.nps (detractor (answered 0) 2 days ago)"
    }
    with pytest.raises(ValidationError, match=r"needs a HealthReport, got str"):
        playbook_coverage("report")  # type: ignore[arg-type]


def test_survey_first_then_referral_never_both() -> None:
    busy = [d + 0.5 for d in (1, 5, 9)]  # three active days in 30, the latest yesterday
    customers = [Customer(c, OLD) for c in ("unsurveyed", "promoter", "detractor", "quiet")]
    events = [Event(c, "login", ago(d)) for c in ("unsurveyed", "promoter", "detractor")
              for d in busy]
    events += [Event("promoter", "nps_response", ago(20), value=9),
               Event("detractor", "nps_response", ago(20), value=3),
               Event("quiet", "login", ago(20)), Event("quiet", "login", ago(25))]
    ds = Dataset.from_records(customers, events=events)
    model = HealthModel([RecencyRule()], playbooks=[SurveyAsk(), ReferralAsk()])
    report = model.score(ds, AS_OF)
    got = {c: report.recommendations(c) for c in report.customer_ids.tolist()}
    assert got["unsurveyed"] == ("survey.ask",)
    assert got["promoter"] == ("referral.ask",)
    assert got["detractor"] == ()  # answered recently, a detractor: no ask
    assert got["quiet"] == ()  # silent for 20 days: not active now (and not good)


def test_the_budget_keeps_the_highest_priority_ask() -> None:
    recommended = np.array([[True, True, True, True], [False, True, False, True]])
    names = ("personal.call", "success.stories", "survey.ask", "referral.ask")
    trimmed = ContactBudget().trim(recommended, names)
    # success stories are not an ask: kept; only the first ask per row survives
    assert trimmed.tolist() == [[True, True, False, False], [False, True, False, True]]
    two = ContactBudget(max_contacts=2).trim(recommended, names)
    assert two.tolist() == [[True, True, True, False], [False, True, False, True]]
    used = np.array([1, 0])
    assert ContactBudget().trim(recommended, names, used).tolist() == [
        [False, True, False, False], [False, True, False, True]]


def test_the_model_applies_the_budget_by_default_and_can_drop_it() -> None:
    class AskAll:
        name, description, priority = "acme.ask", "ask everyone", 1

        def recommend(self, dataset: Dataset, report: HealthReport) -> np.ndarray:
            return np.ones(len(report), dtype=bool)

    budget = ContactBudget(playbooks=("acme.ask", "survey.ask"))
    ds = Dataset.from_records([Customer("a", OLD)], events=[Event("a", "login", ago(d))
                                                            for d in (1, 2, 3)])
    capped = HealthModel([RecencyRule()], playbooks=[AskAll(), SurveyAsk()],
                         contact_budget=budget).score(ds, AS_OF)
    assert capped.recommendations("a") == ("acme.ask",)
    free = HealthModel([RecencyRule()], playbooks=[AskAll(), SurveyAsk()],
                       contact_budget=None).score(ds, AS_OF)
    assert free.recommendations("a") == ("acme.ask", "survey.ask")
    with pytest.raises(ValidationError, match=r"contact_budget must be a ContactBudget or None"):
        HealthModel([RecencyRule()], contact_budget=3)  # type: ignore[arg-type]


def test_contacts_in_the_last_week_use_up_the_budget() -> None:
    ds = Dataset.from_records([Customer("a", OLD), Customer("b", OLD)],
                              events=[Event(c, "login", ago(d)) for c in "ab" for d in (1, 2)])
    report = HealthModel([RecencyRule()], playbooks=[SurveyAsk()]).score(ds, AS_OF)
    budget = ContactBudget(days=7)
    log = [("a", ago(8)), ("b", ago(3)), ("b", AS_OF + timedelta(days=1))]
    after = budget.apply(report, log)
    assert after.recommendations("a") == ("survey.ask",)  # 8 days ago: outside the week
    assert after.recommendations("b") == ()
    with pytest.raises(ValidationError, match=r"contacts\[0\] must be a \(customer_id, when\)"):
        budget.apply(report, ["a"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_contacts": -1}, r"max_contacts must be a whole number >= 0, got -1"),
        ({"days": 0}, r"days must be a number > 0, got 0"),
        ({"playbooks": [""]}, r"playbooks must be playbook names"),
    ],
)
def test_bad_budgets_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ContactBudget(**kwargs)  # type: ignore[arg-type]


def test_on_the_demo_every_poor_account_has_an_action_and_asks_reach_the_healthy() -> None:
    ds = generate(3000, seed=1)
    report = HealthModel.default(Registry(entry_points=False)).score(ds, DEFAULT_END)
    coverage = playbook_coverage(report)
    assert len(coverage) > 500
    assert coverage.share_covered == 1.0
    good = report.tier_code == 0
    column = {p: j for j, p in enumerate(report.playbooks)}
    surveys = report.recommended[:, column["survey.ask"]]
    referrals = report.recommended[:, column["referral.ask"]]
    assert surveys.sum() > 0.2 * good.sum()
    assert referrals.sum() > 0
    assert not (surveys & ~good).any()
    # the budget: no account is asked twice in one report
    asks = [column[p] for p in ("onboarding.help", "personal.call", "reactivation.outreach",
                                "survey.ask", "referral.ask")]
    assert report.recommended[:, asks].sum(axis=1).max() == 1
