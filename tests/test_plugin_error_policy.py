"""HealthModel(on_plugin_error="raise" | "skip"), and the checks of metric results."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from custsuccess import Customer, Dataset, PluginError, Registry, ValidationError, hookimpl
from custsuccess.churn._examples import small_dataset
from custsuccess.health import HealthModel, HealthReport
from custsuccess.metrics import compute
from custsuccess.plugins import PluginWarning
from custsuccess.typing import Reasons, RuleResult

AS_OF = "2024-12-31T00:00:00+00:00"


class Fixed:
    """A rule scoring every account the same, with weight 1."""

    description = "a fixed score"

    def __init__(self, name: str, value: float) -> None:
        self.name = name
        self.value = value

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        n = dataset.n_customers
        return RuleResult(np.full(n, self.value), Reasons.none(n))


class Raising:
    name = "acme.raises"
    description = "always raises"

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        raise RuntimeError("database unreachable")


class Garbage:
    name = "acme.garbage"
    description = "returns scores above 100"

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        n = dataset.n_customers
        return RuleResult(np.full(n, 250.0), Reasons.none(n))


def test_default_policy_raises() -> None:
    model = HealthModel([Fixed("a.eighty", 80.0), Raising()])
    assert model.on_plugin_error == "raise"
    with pytest.raises(PluginError, match=r"acme\.raises"):
        model.score(small_dataset(), AS_OF)


@pytest.mark.parametrize("bad", [Raising(), Garbage()], ids=lambda r: r.name)
def test_skip_warns_leaves_the_rule_out_of_every_mean_and_marks_it(bad: Any) -> None:
    model = HealthModel(
        [Fixed("a.eighty", 80.0), bad, Fixed("b.twenty", 20.0)],
        weights={"a.eighty": 3.0, "b.twenty": 1.0},
        on_plugin_error="skip",
    )
    with pytest.warns(PluginWarning, match=rf"plugin '.*': health rule '{bad.name}'.*skipped"):
        report = model.score(small_dataset(), AS_OF)
    # (3 * 80 + 1 * 20) / (3 + 1) = 65, the weight of the failed rule counts nowhere
    assert report.score.tolist() == [65.0, 65.0]
    assert report.skipped_rules == (bad.name,)
    assert np.isnan(report.rule_score(bad.name)).all()
    explained = {r.rule: r for r in report.explain("cove").rules}
    assert not explained[bad.name].applicable
    assert explained[bad.name].reason == "skipped: its plugin failed"
    assert bad.name in repr(report)


def test_skip_with_every_rule_failing_leaves_accounts_unscored() -> None:
    model = HealthModel([Raising()], on_plugin_error="skip")
    with pytest.warns(PluginWarning):
        report = model.score(small_dataset(), AS_OF)
    assert np.isnan(report.score).all()
    assert report.tier.tolist() == ["unscored", "unscored"]


def test_skip_in_score_one() -> None:
    model = HealthModel([Fixed("a.eighty", 80.0), Raising()], on_plugin_error="skip")
    with pytest.warns(PluginWarning, match=r"acme\.raises"):
        one = model.score_one(Customer("x", datetime(2024, 1, 1, tzinfo=timezone.utc)), as_of=AS_OF)
    assert one.score.tolist() == [80.0]
    assert one.skipped_rules == ("acme.raises",)


class BrokenPlaybook:
    name = "acme.broken_playbook"
    description = "always raises"
    priority = 1

    def recommend(self, dataset: Dataset, report: HealthReport) -> npt.NDArray[np.bool_]:
        raise KeyError("owner")


class AllPlaybook:
    name = "acme.everyone"
    description = "recommended for everyone"
    priority = 2

    def recommend(self, dataset: Dataset, report: HealthReport) -> npt.NDArray[np.bool_]:
        return np.ones(len(report), dtype=bool)


def test_skip_covers_playbooks() -> None:
    model = HealthModel(
        [Fixed("a.eighty", 80.0)],
        playbooks=[BrokenPlaybook(), AllPlaybook()],
        on_plugin_error="skip",
    )
    with pytest.warns(PluginWarning, match=r"acme\.broken_playbook"):
        report = model.score(small_dataset(), AS_OF)
    assert report.skipped_playbooks == ("acme.broken_playbook",)
    assert report.recommendations("cove") == ("acme.everyone",)
    with pytest.raises(PluginError, match=r"acme\.broken_playbook"):
        HealthModel([Fixed("a.eighty", 80.0)], playbooks=[BrokenPlaybook()]).score(
            small_dataset(), AS_OF
        )


def test_policy_is_validated_and_reaches_from_config() -> None:
    with pytest.raises(ValidationError, match="on_plugin_error must be one of"):
        HealthModel([Fixed("a.eighty", 80.0)], on_plugin_error="ignore")
    model = HealthModel.from_config(
        {}, registry=Registry(entry_points=False), on_plugin_error="skip"
    )
    assert model.on_plugin_error == "skip"


# --------------------------------------------------------------------------- metrics


class Returning:
    description = "returns what it is given"

    def __init__(self, name: str, value: object, allow_inf: bool = False) -> None:
        self.name = name
        self.value = value
        self.allow_inf = allow_inf

    def compute(self, dataset: Dataset, **options: Any) -> object:
        return self.value


class Result:
    __slots__ = ("rate", "total")

    def __init__(self, rate: object, total: object) -> None:
        self.rate = rate
        self.total = total


def registry_with(metric: Returning) -> Registry:
    class Plugin:
        @hookimpl
        def register_metrics(self, register: Any) -> None:
            register(metric)

    return Registry([Plugin()], entry_points=False)


BAD_METRIC_RESULTS = [
    (np.inf, r"result = inf is infinite"),
    (complex(1, 1), r"complex number"),
    (np.array([1 + 1j]), r"dtype complex128"),
    (np.array([0.5, np.inf]), r"result\[1\] = inf is infinite"),
    (np.array([1.0, "x", 2], dtype=object), r"object array of numbers"),
    (Result(np.array([0.1, -np.inf]), 3), r"result.rate\[1\] = -inf is infinite"),
    (Result(0.5, float("inf")), r"result.total = inf is infinite"),
    ({"rate": np.array([np.inf])}, r"result\['rate'\]\[0\] = inf"),
]


@pytest.mark.parametrize(("value", "message"), BAD_METRIC_RESULTS)
def test_a_metric_returning_garbage_is_a_plugin_error(value: object, message: str) -> None:
    registry = registry_with(Returning("acme.metric", value))
    with pytest.raises(PluginError, match=message) as info:
        compute("acme.metric", small_dataset(), registry=registry)
    assert info.value.contribution == "acme.metric"
    assert "acme.metric" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [0.5, math.nan, 3, np.array([0.5, np.nan]), Result(np.array([1, 2]), "text"), None],
)
def test_sane_metric_results_pass(value: object) -> None:
    registry = registry_with(Returning("acme.metric", value))
    assert compute("acme.metric", small_dataset(), registry=registry) is value


def test_a_metric_may_declare_infinite_results() -> None:
    value = np.array([2.0, np.inf])
    registry = registry_with(Returning("acme.quick", value, allow_inf=True))
    assert compute("acme.quick", small_dataset(), registry=registry) is value
