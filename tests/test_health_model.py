"""HealthModel and HealthReport: weights, tiers, population, config, plugins, exports."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import custsuccess
from custsuccess import (
    Customer,
    Dataset,
    Event,
    PluginError,
    Registry,
    Subscription,
    ValidationError,
    hookimpl,
)
from custsuccess.dataset import to_datetime64
from custsuccess.health import HealthModel, HealthReport
from custsuccess.health.rules import NpsRule, RecencyRule, ReferralsRule
from custsuccess.typing import Reasons, RegisterHealthRule, RuleResult, TierChange

UTC = timezone.utc
AS_OF = datetime(2024, 7, 1, 12, tzinfo=UTC)
OLD = AS_OF - timedelta(days=400)


def ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


@attrs.frozen
class Fixed:
    """A test rule giving fixed scores per customer id (NaN: not applicable)."""

    name: str
    values: dict[str, float]
    description: str = "fixed scores for tests"

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        ids = dataset.customer_ids.tolist()
        score = np.array([self.values.get(c, math.nan) for c in ids], dtype=np.float64)
        codes = np.where(np.isnan(score), -1, 0).astype(np.int8)
        return RuleResult(score, Reasons((self.name + " says {v:.0f}",), codes, {"v": score}))


def small_dataset() -> Dataset:
    return Dataset.from_records([Customer(c, OLD) for c in "abcd"])


def test_weighted_mean_with_renormalised_weights() -> None:
    model = HealthModel(
        [Fixed("t.one", {"a": 100, "b": 40, "c": 10}), Fixed("t.two", {"a": 50, "b": 80})],
        weights={"t.one": 1, "t.two": 3},
    )
    report = model.score(small_dataset(), AS_OF)
    # a: (1 * 100 + 3 * 50) / 4 = 62.5; b: (40 + 240) / 4 = 70
    # c: t.two not applicable -> weights renormalised: 10; d: no rule applies
    assert report.score[:3].tolist() == [62.5, 70.0, 10.0]
    assert math.isnan(report.score[3])
    assert report.tier.tolist() == ["average", "good", "poor", "unscored"]
    assert report.tier_counts() == {"good": 1, "average": 1, "poor": 1, "unscored": 1}
    # contributions: share * score, summing to the score
    np.testing.assert_allclose(report.contributions[0], [25.0, 37.5])
    np.testing.assert_allclose(report.contributions[2], [10.0, math.nan])
    np.testing.assert_allclose(np.nansum(report.contributions[:3], axis=1), report.score[:3])
    assert report.rule_scores.shape == (4, 2)
    assert report.rule_names == ("t.one", "t.two")


def test_tier_thresholds_at_the_boundaries() -> None:
    model = HealthModel([Fixed("t.x", {"a": 70, "b": 69.99, "c": 40, "d": 39.99})])
    assert model.score(small_dataset(), AS_OF).tier.tolist() == [
        "good", "average", "average", "poor"
    ]
    custom = HealthModel([Fixed("t.x", {"a": 70, "b": 69.99, "c": 40, "d": 39.99})],
                         good=80, poor=69.99)
    assert custom.score(small_dataset(), AS_OF).tier.tolist() == [
        "average", "average", "poor", "poor"
    ]


def test_default_model_uses_the_builtin_plugins(builtin_registry: Registry) -> None:
    model = HealthModel.default(builtin_registry)
    assert set(model.rule_names) == {
        "usage.recency", "usage.frequency", "usage.trend", "usage.volume", "onboarding.progress",
        "survey.nps", "support.responsiveness", "billing.payment_failures",
        "advocacy.referrals", "adoption.breadth",
    }
    assert model.weights["usage.recency"] == 3.0
    assert model.thresholds == (70.0, 40.0)
    assert [p.name for p in model.playbooks] == [
        "onboarding.help", "personal.call", "reactivation.outreach", "success.stories",
        "survey.ask", "referral.ask",
    ]
    assert custsuccess.HealthModel is HealthModel
    assert custsuccess.HealthReport is HealthReport


def test_point_in_time_later_data_changes_nothing(builtin_registry: Registry) -> None:
    model = HealthModel.default(builtin_registry)
    customers = [Customer("a", OLD), Customer("b", ago(30)), Customer("c", ago(200))]
    subs = [
        Subscription("s1", "a", "pro", 10.0, "USD", OLD),
        Subscription("s2", "c", "pro", 10.0, "USD", ago(200)),
    ]
    events = [
        Event("a", "login", ago(3)),
        Event("a", "nps_response", ago(20), value=4),
        Event("b", "page_view", ago(2)),
        Event("c", "login", ago(50)),
    ]
    later_events = [
        Event("a", "login", AS_OF + timedelta(seconds=1)),
        Event("a", "nps_response", AS_OF + timedelta(days=3), value=10),
        Event("b", "referral", AS_OF + timedelta(days=1)),
        Event("c", "payment_failed", AS_OF + timedelta(days=1)),
    ]
    # later: c cancels after as_of, a new customer signs up
    later_subs = [
        Subscription("s1", "a", "pro", 10.0, "USD", OLD),
        Subscription("s2", "c", "pro", 10.0, "USD", ago(200), AS_OF + timedelta(days=5),
                     cancel_reason="price"),
        Subscription("s3", "b", "pro", 10.0, "USD", AS_OF + timedelta(days=2)),
    ]
    before = model.score(Dataset.from_records(customers, subs, events), AS_OF)
    after = model.score(
        Dataset.from_records([*customers, Customer("z", AS_OF + timedelta(days=1))],
                             later_subs, events + later_events),
        AS_OF,
    )
    assert after.customer_ids.tolist() == before.customer_ids.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(after.score, before.score)
    np.testing.assert_array_equal(after.rule_scores, before.rule_scores)
    assert after.to_records() == before.to_records()


def test_population_leaves_out_churned_and_future_customers() -> None:
    customers = [Customer(c, OLD) for c in "abc"] + [Customer("d", AS_OF + timedelta(days=1))]
    subs = [
        Subscription("s1", "a", "pro", 10.0, "USD", OLD),
        Subscription("s2", "b", "pro", 10.0, "USD", OLD, ago(10)),  # churned
    ]
    ds = Dataset.from_records(customers, subs)
    model = HealthModel([RecencyRule()])
    # c has no subscription at all (trial / non-subscription business): scored
    assert model.score(ds, AS_OF).customer_ids.tolist() == ["a", "c"]
    report = model.score(ds, AS_OF, include_churned=True)
    assert report.customer_ids.tolist() == ["a", "b", "c"]
    assert report.index.tolist() == [0, 1, 2]
    with pytest.raises(ValidationError, match="customer 'b' is not in this health report"):
        model.score(ds, AS_OF).explain("b")


def test_explain_orders_by_effect() -> None:
    model = HealthModel(
        [Fixed("t.high", {"a": 90}), Fixed("t.low", {"a": 10}), Fixed("t.mid", {"a": 55}),
         Fixed("t.none", {})],
        weights={"t.high": 1, "t.low": 2, "t.mid": 1},
    )
    report = model.score(small_dataset(), AS_OF)
    ex = report.explain("a")
    # score = (90 + 20 + 55) / 4 = 41.25; effects: share * (score - 50):
    # low 0.5 * -40 = -20, high 0.25 * 40 = 10, mid 0.25 * 5 = 1.25; none last
    assert ex.score is not None
    assert ex.score == pytest.approx(41.25)
    assert [r.rule for r in ex.rules] == ["t.low", "t.high", "t.mid", "t.none"]
    assert [r.effect for r in ex.rules[:3]] == pytest.approx([-20.0, 10.0, 1.25])
    assert sum(r.effect or 0 for r in ex.rules) == pytest.approx(ex.score - 50)
    assert sum(r.contribution or 0 for r in ex.rules) == pytest.approx(ex.score)
    assert ex.rules[0].reason == "t.low says 10"
    assert ex.rules[0].share == 0.5
    assert not ex.rules[3].applicable
    assert ex.rules[3].score is None
    text = str(ex)
    assert text.splitlines()[0] == "a: 41.2 (average)"
    assert "t.none" in text
    assert "not applicable" in text
    json.dumps(ex.to_dict(), allow_nan=False)


def test_at_risk_and_take() -> None:
    model = HealthModel([Fixed("t.x", {"a": 30, "b": 10, "c": 30, "d": 80})])
    report = model.score(small_dataset(), AS_OF)
    risky = report.at_risk(3)
    assert isinstance(risky, HealthReport)
    # lowest first, ties by customer id
    assert risky.customer_ids.tolist() == ["b", "a", "c"]
    assert risky.score.tolist() == [10.0, 30.0, 30.0]
    assert risky.reasons[0].format(0) == "t.x says 10"
    assert report.at_risk(10).customer_ids.tolist() == ["b", "a", "c", "d"]
    assert len(report.at_risk(0)) == 0
    with pytest.raises(ValidationError, match="n must be an int >= 0"):
        report.at_risk(-1)


def test_to_records_is_json_ready_and_to_pandas() -> None:
    model = HealthModel([Fixed("t.x", {"a": 30, "b": 90}), Fixed("t.y", {"a": 50})])
    report = model.score(small_dataset(), AS_OF)
    records = report.to_records()
    text = json.dumps(records, allow_nan=False)
    assert json.loads(text)[0] == {
        "customer_id": "a",
        "as_of": "2024-07-01T12:00:00.000000Z",
        "score": 40.0,
        "tier": "average",
        "rules": {
            "t.x": {"score": 30.0, "contribution": 15.0, "reason": "t.x says 30"},
            "t.y": {"score": 50.0, "contribution": 25.0, "reason": "t.y says 50"},
        },
        "playbooks": [],
    }
    assert records[1]["rules"]["t.y"] == {"score": None, "contribution": None, "reason": None}
    assert records[3]["score"] is None
    assert records[3]["tier"] == "unscored"
    frame = report.to_pandas(reasons=True)
    assert list(frame.index) == ["a", "b", "c", "d"]
    assert frame.loc["a", "score"] == 40.0
    assert frame.loc["b", "tier"] == "good"
    assert frame.loc["a", "t.x:reason"] == "t.x says 30"


# --------------------------------------------------------------------------- config


def test_from_config_weights_params_tiers(builtin_registry: Registry) -> None:
    model = HealthModel.from_config(
        {
            "tiers": {"good": 80, "poor": 30},
            "rules": {
                "usage.recency": {"weight": 5, "params": {"zero_score_days": 60,
                                                          "activity_kinds": ["login"]}},
                "usage.frequency": {"params": {"bands": [[10, 100, "busy"], [0, 0, "idle"]]}},
                "advocacy.referrals": {"weight": 0},
            },
            "playbooks": ["personal.call"],
        },
        registry=builtin_registry,
    )
    assert model.thresholds == (80.0, 30.0)
    assert model.weights["usage.recency"] == 5.0
    assert model.weights["usage.frequency"] == 2.0  # default kept
    assert "advocacy.referrals" not in model.rule_names  # weight 0: off
    recency = model.rules[model.rule_names.index("usage.recency")]
    assert isinstance(recency, RecencyRule)
    assert recency.zero_score_days == 60
    assert recency.activity_kinds == ("login",)
    assert [p.name for p in model.playbooks] == ["personal.call"]
    # round trip
    again = HealthModel.from_config(model.to_config(), registry=builtin_registry)
    assert again.weights == model.weights
    assert again.thresholds == model.thresholds
    assert again.rules == model.rules


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"rules": {"usage.recnecy": {"weight": 1}}}, "unknown rule 'usage.recnecy' in 'rules'"),
        ({"rules": {"usage.recency": {"weight": -1}}},
         "rules.'usage.recency'.weight must be >= 0, got -1"),
        ({"rules": {"usage.recency": {"weight": "heavy"}}},
         "rules.'usage.recency'.weight must be a finite number >= 0, got 'heavy'"),
        ({"rules": {"usage.recency": {"wieght": 1}}}, "has unknown key\\(s\\) \\['wieght'\\]"),
        ({"rules": {"usage.recency": 3}}, "rules.'usage.recency' must be a table"),
        ({"rules": []}, "'rules' must be a table"),
        ({"tiers": {"good": 40, "poor": 70}},
         "tiers out of order: poor \\(70\\) must not be above good \\(40\\)"),
        ({"tiers": {"good": 140}}, "tiers.good must be a number from 0 to 100, got 140"),
        ({"tiers": {"great": 90}}, "tiers has unknown key\\(s\\) \\['great'\\]"),
        ({"tier": {}}, "unknown key\\(s\\) \\['tier'\\]"),
        ({"rules": {"usage.recency": {"params": {"zero_days": 3}}}},
         "unknown parameter\\(s\\) \\['zero_days'\\]; rule 'usage.recency' takes"),
        ({"rules": {"usage.recency": {"params": {"zero_score_days": -3}}}},
         "rules.'usage.recency'.params: RecencyRule.zero_score_days must be > 0, got -3"),
        ({"rules": {"usage.recency": {"params": [1]}}}, "params must be a table"),
        ({"playbooks": ["call.everyone"]}, "unknown playbook\\(s\\) \\['call.everyone'\\]"),
        ({"playbooks": "personal.call"}, "'playbooks' must be a list"),
    ],
)
def test_config_errors_say_what(
    config: dict[str, Any], message: str, builtin_registry: Registry
) -> None:
    with pytest.raises(ValidationError, match=message):
        HealthModel.from_config(config, registry=builtin_registry)


def test_all_zero_weights(builtin_registry: Registry) -> None:
    names = builtin_registry.health_rules()
    config = {"rules": {name: {"weight": 0} for name in names}}
    with pytest.raises(ValidationError, match="every rule has weight 0"):
        HealthModel.from_config(config, registry=builtin_registry)


def test_constructor_errors() -> None:
    with pytest.raises(ValidationError, match="duplicate rule name"):
        HealthModel([RecencyRule(), RecencyRule()])
    with pytest.raises(ValidationError, match="at least one rule"):
        HealthModel([])
    with pytest.raises(ValidationError, match=r"unknown rule name\(s\) \['survey\.nps'\]"):
        HealthModel([RecencyRule()], weights={"survey.nps": 1})
    with pytest.raises(ValidationError, match="rules\\[0\\] is not a rule"):
        HealthModel([object()])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="poor \\(50\\) must not be above good \\(45\\)"):
        HealthModel([RecencyRule()], good=45, poor=50)
    with pytest.raises(ValidationError, match="must be a custsuccess Dataset"):
        HealthModel([RecencyRule()]).score("not a dataset", AS_OF)  # type: ignore[call-overload]
    with pytest.raises(ValidationError, match="as_of must be timezone-aware"):
        HealthModel([RecencyRule()]).score(small_dataset(), datetime(2024, 1, 1))


def test_from_toml(tmp_path: Path, builtin_registry: Registry) -> None:
    path = tmp_path / "health.toml"
    path.write_text(
        '[health.tiers]\ngood = 75\npoor = 35\n\n'
        '[health.rules."survey.nps"]\nweight = 2\nparams = { half_life_days = 30 }\n'
    )
    model = HealthModel.from_toml(path, registry=builtin_registry)
    assert model.thresholds == (75.0, 35.0)
    assert model.weights["survey.nps"] == 2.0
    nps = model.rules[model.rule_names.index("survey.nps")]
    assert isinstance(nps, NpsRule)
    assert nps.half_life_days == 30
    bad = tmp_path / "bad.toml"
    bad.write_text("[rules\n")
    with pytest.raises(ValidationError, match="is not valid TOML"):
        HealthModel.from_toml(bad, registry=builtin_registry)
    with pytest.raises(ValidationError, match="cannot be read"):
        HealthModel.from_toml(tmp_path / "missing.toml", registry=builtin_registry)
    top = tmp_path / "top.toml"
    top.write_text('[rules."usage.recency"]\nweight = 7\n')
    assert HealthModel.from_toml(top, registry=builtin_registry).weights["usage.recency"] == 7


# --------------------------------------------------------------------------- plugins


class BrokenRulePlugin:
    @hookimpl
    def register_health_rules(self, register: RegisterHealthRule) -> None:
        register(Raising())


@attrs.frozen
class Raising:
    name: str = "acme.broken"
    description: str = "always fails"

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        raise RuntimeError("database is down")


@attrs.frozen
class Garbage:
    name: str = "acme.garbage"
    description: str = "returns scores out of range"
    score: float = 120.0

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        n = dataset.n_customers
        return RuleResult(np.full(n, self.score), Reasons.none(n))


def test_plugin_rule_raising_is_a_plugin_error_naming_it() -> None:
    registry = Registry(plugins=[BrokenRulePlugin()], entry_points=False)
    model = HealthModel.default(registry)
    assert "acme.broken" in model.rule_names
    with pytest.raises(PluginError, match="database is down") as info:
        model.score(small_dataset(), AS_OF)
    err = info.value
    assert err.contribution == "acme.broken"
    assert err.hook == "register_health_rules"
    assert err.plugin is not None
    assert "BrokenRulePlugin" in err.plugin
    assert "BrokenRulePlugin" in str(err)
    assert "acme.broken" in str(err)


def test_garbage_results_are_plugin_errors() -> None:
    with pytest.raises(PluginError, match=r"score\[0\] = 120.0 is outside \[0, 100\]"):
        HealthModel([Garbage()]).score(small_dataset(), AS_OF)

    @attrs.frozen
    class WrongType:
        name: str = "acme.wrong"
        description: str = "returns a list"

        def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> Any:
            return [1, 2]

    with pytest.raises(PluginError, match="returned a list, expected a RuleResult"):
        HealthModel([WrongType()]).score(small_dataset(), AS_OF)

    @attrs.frozen
    class ShortReasons:
        name: str = "acme.short"
        description: str = "too few reasons"

        def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
            return RuleResult(np.zeros(dataset.n_customers), Reasons.none(1))

    with pytest.raises(PluginError, match=r"reasons: codes has shape \(1,\), expected \(4,\)"):
        HealthModel([ShortReasons()]).score(small_dataset(), AS_OF)


class TierListener:
    def __init__(self) -> None:
        self.calls: list[Sequence[TierChange]] = []

    @hookimpl
    def health_tier_changed(self, changes: Sequence[TierChange]) -> None:
        self.calls.append(changes)


def test_changes_since_calls_the_hook() -> None:
    listener = TierListener()
    registry = Registry(plugins=[listener], entry_points=False)
    ds = small_dataset()
    before = HealthModel([Fixed("t.x", {"a": 80, "b": 50, "c": 20, "d": 90})],
                         registry=registry).score(ds, AS_OF)
    after = HealthModel([Fixed("t.x", {"a": 30, "b": 55, "c": 75, "d": 95})],
                        registry=registry).score(ds, AS_OF)
    changes = after.changes_since(before)
    assert changes == (
        TierChange("a", "good", "poor", 80.0, 30.0),
        TierChange("c", "poor", "good", 20.0, 75.0),
    )
    assert listener.calls == [changes]
    # nothing changed: no call; notify=False: no call
    assert after.changes_since(after) == ()
    after.changes_since(before, notify=False)
    assert len(listener.calls) == 1
    # only accounts in both reports are compared
    assert after.take(np.array([1, 2])).changes_since(before.take(np.array([0, 2])),
                                                       notify=False) == (changes[1],)
    with pytest.raises(ValidationError, match="needs a HealthReport"):
        after.changes_since("yesterday")  # type: ignore[arg-type]


def test_changes_since_with_a_registry_argument() -> None:
    listener = TierListener()
    registry = Registry(plugins=[listener], entry_points=False)
    ds = small_dataset()
    before = HealthModel([Fixed("t.x", {"a": 80})]).score(ds, AS_OF)
    after = HealthModel([Fixed("t.x", {"a": 10})]).score(ds, AS_OF)
    assert after.registry is None
    after.changes_since(before)  # no registry: returns the changes, notifies nobody
    assert listener.calls == []
    after.changes_since(before, registry=registry)
    assert len(listener.calls) == 1
    assert listener.calls[0][0].tier == "poor"


def test_repr_and_rule_score() -> None:
    model = HealthModel([ReferralsRule(), RecencyRule()])
    report = model.score(small_dataset(), AS_OF)
    assert "HealthModel" in repr(model)
    assert "usage.recency=3" in repr(model)
    assert repr(report).startswith("<HealthReport as_of=2024-07-01T12:00:00")
    assert np.isnan(report.rule_score("survey.nps")).all()
    assert report.rule_score("usage.recency").tolist() == [0.0] * 4
    assert to_datetime64(AS_OF) == report.as_of


def test_the_documented_toml_example_loads(tmp_path: Path, builtin_registry: Registry) -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "health.md").read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "health.toml"
    path.write_text(block)
    model = HealthModel.from_toml(path, registry=builtin_registry)
    assert model.thresholds == (75.0, 45.0)
    assert model.weights["usage.recency"] == 4.0
    assert "advocacy.referrals" not in model.weights
    # ordered by priority whatever the order in the file
    assert [p.name for p in model.playbooks] == ["onboarding.help", "personal.call"]


def test_empty_dataset_and_as_of_before_everyone(builtin_registry: Registry) -> None:
    model = HealthModel.default(builtin_registry)
    empty = model.score(Dataset.from_records([]), AS_OF)
    assert len(empty) == 0
    assert empty.tier_counts() == {"good": 0, "average": 0, "poor": 0}
    assert empty.to_records() == []
    assert len(empty.at_risk(5)) == 0
    assert empty.rule_scores.shape == (0, 10)
    early = model.score(small_dataset(), OLD - timedelta(days=1))
    assert len(early) == 0
