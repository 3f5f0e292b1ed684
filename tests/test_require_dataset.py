"""One boundary check for every function that reads a dataset: None, a dict, a DataFrame
or a list where a Dataset belongs is a ValidationError saying what to pass instead, never
a bare AttributeError from deep inside."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from custsuccess import ValidationError
from custsuccess.churn import analysis, records, survival
from custsuccess.churn._examples import small_dataset
from custsuccess.churn.records import churned_accounts
from custsuccess.clv.rfm import rfm_from_dataset
from custsuccess.dataset import require_dataset
from custsuccess.health import HealthModel
from custsuccess.health.backtest import backtest
from custsuccess.health.features import training_frame
from custsuccess.health.learn import learn
from custsuccess.health.rules import RecencyRule
from custsuccess.health.scorecards import Scorecards
from custsuccess.metrics import (
    cohort_retention,
    compute,
    customer_flow,
    engagement,
    lifecycle,
    nps_by_period,
    revenue,
    support,
    users,
)
from custsuccess.metrics.accounts import ancestors
from custsuccess.store import SQLiteStore

AS_OF = "2024-12-31T00:00:00+00:00"
DATES = ["2024-06-01T00:00:00+00:00"]

ENTRY_POINTS: dict[str, Callable[[Any], object]] = {
    "churn.records": lambda d: records(d, AS_OF),
    "churn.churned_accounts": lambda d: churned_accounts(d, AS_OF),
    "churn.inactivity_profile": lambda d: analysis.inactivity_profile(d, AS_OF),
    "churn.churn_by": lambda d: analysis.churn_by(d, AS_OF),
    "churn.lifetimes_from": lambda d: survival.lifetimes_from(d, AS_OF),
    "clv.rfm_from_dataset": lambda d: rfm_from_dataset(d, AS_OF),
    "HealthModel.score": lambda d: HealthModel([RecencyRule()]).score(d, AS_OF),
    "health.backtest": lambda d: backtest(HealthModel([RecencyRule()]), d, DATES[0]),
    "health.training_frame": lambda d: training_frame(d, DATES),
    "health.learn": lambda d: learn(d, DATES),
    "metrics.compute": lambda d: compute("nps", d),
    "metrics.cohort_retention": lambda d: cohort_retention(d),
    "metrics.customer_flow": lambda d: customer_flow(d),
    "metrics.nps_by_period": lambda d: nps_by_period(d),
    "metrics.engagement_counts": lambda d: engagement.engagement_counts(d, "login"),
    "metrics.email_rates_of": lambda d: engagement.email_rates_of(d),
    "metrics.stickiness_by_period": lambda d: engagement.stickiness_by_period(d),
    "metrics.engagement_of": lambda d: engagement.engagement_of(d),
    "metrics.lifecycle_stages": lambda d: lifecycle.lifecycle_stages(d),
    "metrics.customer_mrr": lambda d: revenue.customer_mrr(d, AS_OF),
    "metrics.mrr_series": lambda d: revenue.mrr_series(d),
    "metrics.mrr_movements": lambda d: revenue.mrr_movements(d),
    "metrics.revenue_rates": lambda d: revenue.revenue_rates(d),
    "metrics.support_response_times": lambda d: support.support_response_times(d),
    "metrics.seats_of": lambda d: users.seats_of(d),
    "metrics.user_activity": lambda d: users.user_activity(d),
    "metrics.ancestors": lambda d: ancestors(d),
}

NOT_DATASETS = {
    "None": (None, "got None"),
    "dict": ({"customers": {"id": ["a"]}}, r"got a dict; build one with Dataset\.from_columns"),
    "DataFrame": (
        pd.DataFrame({"id": ["a"], "created_at": [pd.Timestamp("2024-01-01", tz="UTC")]}),
        r"got a pandas DataFrame; build one with Dataset\.from_columns\(customers=",
    ),
    "list": ([], r"got a list; build one with Dataset\.from_records"),
}


@pytest.mark.parametrize("value", NOT_DATASETS, ids=list(NOT_DATASETS))
@pytest.mark.parametrize("name", ENTRY_POINTS, ids=list(ENTRY_POINTS))
def test_every_dataset_function_says_what_to_pass(name: str, value: str) -> None:
    given, message = NOT_DATASETS[value]
    with pytest.raises(ValidationError, match="dataset must be a custsuccess Dataset") as info:
        ENTRY_POINTS[name](given)
    assert info.match(message)


@pytest.mark.parametrize("name", ENTRY_POINTS, ids=list(ENTRY_POINTS))
def test_the_check_lets_a_real_dataset_through(name: str) -> None:
    refusal = ""
    try:
        ENTRY_POINTS[name](small_dataset())
    except ValidationError as exc:  # a documented refusal of this small dataset is fine
        refusal = str(exc)
    assert "custsuccess Dataset" not in refusal


def test_methods_taking_a_dataset(tmp_path: Any) -> None:
    with SQLiteStore(tmp_path / "cs.db") as store, pytest.raises(
        ValidationError, match=r"save\(\): dataset must be a custsuccess Dataset, got a dict"
    ):
        store.save({})  # type: ignore[arg-type]
    scorecards = Scorecards(HealthModel([RecencyRule()]), [])
    with pytest.raises(ValidationError, match="got None"):
        scorecards.score(None, AS_OF)  # type: ignore[arg-type]


def test_the_message_names_the_function_and_parameter() -> None:
    with pytest.raises(ValidationError, match=r"^records\(\): dataset must be"):
        records(None, AS_OF)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^f\(\): other must be a custsuccess Dataset"):
        require_dataset(3, "other", "f()")
    assert require_dataset(small_dataset()) is not None
