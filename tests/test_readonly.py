"""The read-only policy: every array custsuccess hands out that may share memory is
read-only, so neither a plugin nor a careless caller can change data other readers see."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from custsuccess import Dataset, PluginError, Registry, hookimpl
from custsuccess.churn import records
from custsuccess.churn._examples import small_dataset
from custsuccess.churn.reasons import builtin_classifiers
from custsuccess.health import HealthModel, HealthReport
from custsuccess.health.rules import RecencyRule
from custsuccess.metrics import compute
from custsuccess.typing import ChurnedAccounts, ReasonResult, Reasons, RuleResult

AS_OF = "2024-12-31T00:00:00+00:00"


def writable(array: npt.NDArray[Any]) -> bool:
    """Whether an in-place write to ``array`` gets through."""
    try:
        array[...] = array  # the same values: harmless if it does get through
    except ValueError:
        return False
    return True


def all_arrays(value: object, depth: int = 0) -> list[npt.NDArray[Any]]:
    """Every numpy array reachable through attributes, mappings and tuples."""
    if depth > 4:
        return []
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, Mapping):
        return [a for v in value.values() for a in all_arrays(v, depth + 1)]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in all_arrays(v, depth + 1)]
    slots = getattr(type(value), "__slots__", ())
    names = [s for s in slots if not s.startswith("__")]
    return [a for n in names for a in all_arrays(getattr(value, n, None), depth + 1)]


def dataset_arrays(ds: Dataset) -> list[npt.NDArray[Any]]:
    return all_arrays(ds.customers) + all_arrays(ds.subscriptions) + all_arrays(ds.events)


# --------------------------------------------------------------------------- datasets


@pytest.mark.parametrize(
    "make",
    [
        lambda ds: ds,
        lambda ds: ds.until("2024-06-01T00:00:00Z"),
        lambda ds: ds.between("2024-03-01T00:00:00Z", "2024-09-01T00:00:00Z"),
        lambda ds: ds.customer("dune"),
        lambda ds: ds.slice(1, 3),
    ],
    ids=["dataset", "until", "between", "customer", "slice"],
)
def test_dataset_and_view_arrays_are_read_only(make: Any) -> None:
    view = make(small_dataset())
    arrays = dataset_arrays(view) + all_arrays(view.events_of("feature_used"))
    assert len(arrays) >= 15
    assert [a.dtype for a in arrays if writable(a)] == []
    with pytest.raises(ValueError, match="read-only"):
        view.subscriptions.mrr[:] = 0.0


def test_to_columns_is_read_only_and_copying_is_explicit() -> None:
    ds = small_dataset()
    columns = ds.to_columns()
    for table in columns.values():
        for name, column in table.items():
            assert not writable(column), name
    mrr = columns["subscriptions"]["mrr"].copy()
    mrr[:] = 0.0
    assert ds.subscriptions.mrr.sum() == 330.0  # 100 + 50 + 100 + 20 + 30 + 30 (echo twice)


def test_from_columns_leaves_the_callers_arrays_writable() -> None:
    ids = np.array(["a", "b"])
    created = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[us]")
    Dataset.from_columns(customers={"id": ids, "created_at": created})
    assert ids.flags.writeable
    assert created.flags.writeable


# --------------------------------------------------------------------------- plugins


class ZeroMrrRule:
    """A rule that tries to zero the caller's MRR and the events' values."""

    name = "evil.zero_mrr"
    description = "tries to write into the dataset"

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        dataset.subscriptions.mrr[:] = 0.0
        raise AssertionError("unreachable: the write above must fail")


class RewriteEventsRule:
    name = "evil.rewrite_events"
    description = "tries to move every event"

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        dataset.events_of("feature_used").time[:] = as_of
        raise AssertionError("unreachable")


@pytest.mark.parametrize("rule", [ZeroMrrRule(), RewriteEventsRule()], ids=lambda r: r.name)
def test_a_rule_cannot_write_into_the_dataset(rule: Any) -> None:
    ds = small_dataset()
    before = ds.to_columns()
    mrr = ds.subscriptions.mrr.copy()
    with pytest.raises(PluginError, match=rule.name) as info:
        HealthModel([RecencyRule(), rule]).score(ds, AS_OF)
    assert "read-only" in str(info.value)
    np.testing.assert_array_equal(ds.subscriptions.mrr, mrr)
    assert ds.equals(Dataset.from_columns(**before))


class ScoreZeroingPlaybook:
    name = "evil.zero_scores"
    description = "tries to change the scores of the report it is shown"
    priority = 1

    def recommend(self, dataset: Dataset, report: HealthReport) -> npt.NDArray[np.bool_]:
        report.score[:] = 0.0
        return np.zeros(len(report), dtype=bool)


class RuleResultRewritingPlaybook:
    name = "evil.rule_scores"
    description = "tries to change the rule scores and reasons of the report"
    priority = 1

    def recommend(self, dataset: Dataset, report: HealthReport) -> npt.NDArray[np.bool_]:
        report.rule_scores[:, 0] = 100.0
        return np.zeros(len(report), dtype=bool)


@pytest.mark.parametrize(
    "playbook", [ScoreZeroingPlaybook(), RuleResultRewritingPlaybook()], ids=lambda p: p.name
)
def test_a_playbook_cannot_change_the_report(playbook: Any) -> None:
    model = HealthModel([RecencyRule()], playbooks=[playbook])
    with pytest.raises(PluginError, match=playbook.name):
        model.score(small_dataset(), AS_OF)


class ChurnRewritingClassifier:
    name = "evil.rewrite"
    description = "tries to rewrite the churned accounts every later classifier sees"
    precedence = 0

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        churned.customer[:] = 0
        raise AssertionError("unreachable")


class CancelReasonRewritingClassifier:
    name = "evil.cancel_reason"
    description = "tries to rewrite the reasons customers gave"
    precedence = 0

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        churned.cancel_reason.codes[:] = -1
        raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "classifier",
    [ChurnRewritingClassifier(), CancelReasonRewritingClassifier()],
    ids=lambda c: c.name,
)
def test_a_classifier_cannot_rewrite_churned_accounts(classifier: Any) -> None:
    with pytest.raises(PluginError, match=classifier.name) as info:
        records(small_dataset(), AS_OF, classifiers=[classifier, *builtin_classifiers()])
    assert "read-only" in str(info.value)


class MrrZeroingMetric:
    name = "evil.metric"
    description = "tries to zero the MRR of the dataset it is computed on"

    def compute(self, dataset: Dataset, **options: Any) -> float:
        dataset.subscriptions.mrr[:] = 0.0
        return 0.0


class MetricPlugin:
    @hookimpl
    def register_metrics(self, register: Any) -> None:
        register(MrrZeroingMetric())


def test_a_metric_cannot_zero_the_callers_mrr() -> None:
    ds = small_dataset()
    registry = Registry([MetricPlugin()], entry_points=False)
    with pytest.raises(PluginError, match=r"evil\.metric.*read-only"):
        compute("evil.metric", ds, registry=registry)
    assert ds.subscriptions.mrr.sum() == 330.0


# --------------------------------------------------------------------------- results


def test_health_report_arrays_are_read_only_also_after_take() -> None:
    report = HealthModel([RecencyRule()]).score(small_dataset(), AS_OF)
    for r in (report, report.take(np.array([0])), report.at_risk(1), report.take(slice(0, 1))):
        arrays = [
            r.customer_ids, r.index, r.score, r.tier_code, r.tier, r.weights, r.rule_scores,
            r.contributions, r.reason_rows, r.recommended, r.rule_score("usage.recency"),
        ]
        arrays += [a for reasons in r.reasons for a in all_arrays(reasons)]
        assert [a.dtype for a in arrays if writable(a)] == []


def test_churn_records_arrays_are_read_only() -> None:
    recs = records(small_dataset(), AS_OF)
    arrays = all_arrays(recs)
    assert len(arrays) >= 18
    assert [a.dtype for a in arrays if writable(a)] == []
    assert [a.dtype for a in all_arrays(recs.take(np.array([0, 2]))) if writable(a)] == []


def test_plugin_results_become_read_only() -> None:
    score = np.array([10.0, 20.0])
    days = np.array([1.0, 2.0])
    result = RuleResult(score, Reasons(("{days} days",), np.array([0, 0]), {"days": days}))
    assert not writable(result.score)
    assert not writable(result.reasons.codes)
    assert not writable(result.reasons.details["days"])
    with pytest.raises(TypeError):
        result.reasons.details["other"] = days  # type: ignore[index]
