"""A plugin's malformed reasons or evidence are reported where they are handed over,
as a PluginError naming the plugin, not later as a KeyError in explain()/to_records()."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from custsuccess import Dataset, PluginError
from custsuccess.churn import records
from custsuccess.churn._examples import small_dataset
from custsuccess.churn.reasons import builtin_classifiers
from custsuccess.dataset import Categorical
from custsuccess.health import HealthModel
from custsuccess.health.rules import RecencyRule
from custsuccess.typing import ChurnedAccounts, ReasonResult, Reasons, RuleResult

AS_OF = "2024-12-31T00:00:00+00:00"


def bad_reasons(case: str, n: int) -> Reasons:
    zeros = np.zeros(n, dtype=np.int8)
    days = np.arange(n, dtype=np.float64)
    if case == "missing detail":
        return Reasons(("idle {days:.0f} days",), zeros, {"weeks": days})
    if case == "short detail":
        return Reasons(("idle {days:.0f} days",), zeros, {"days": days[:-1]})
    if case == "long codes":
        return Reasons(("idle",), np.zeros(n + 1, dtype=np.int8))
    if case == "code past templates":
        return Reasons(("idle",), np.full(n, 1, dtype=np.int8))
    if case == "code below -1":
        return Reasons(("idle",), np.full(n, -2, dtype=np.int8))
    if case == "float codes":
        return Reasons(("idle",), np.zeros(n))
    if case == "positional field":
        return Reasons(("idle {} days",), zeros, {"days": days})
    if case == "bad format spec":
        return Reasons(("idle {days:.0f} days",), zeros, {"days": np.full(n, "x")})
    if case == "broken template":
        return Reasons(("idle {days days",), zeros, {"days": days})
    raise AssertionError(case)


CASES = [
    ("missing detail", r"names detail 'days', which is not among the details \['weeks'\]"),
    ("short detail", r"details\['days'\] has shape \(\d+,\), expected \(\d+,\)"),
    ("long codes", r"codes has shape \(\d+,\), expected \(\d+,\)"),
    ("code past templates", r"codes\[0\] = 1 is outside -1..0"),
    ("code below -1", r"codes\[0\] = -2 is outside -1..0"),
    ("float codes", r"codes has dtype float64, expected integers"),
    ("positional field", r"positional field"),
    ("bad format spec", r"template 0 .* fails on row 0: ValueError"),
    ("broken template", r"is not a format string"),
]


class BadRule:
    name = "acme.bad_reasons"
    description = "returns malformed reasons"

    def __init__(self, case: str) -> None:
        self.case = case

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        n = dataset.n_customers
        return RuleResult(np.full(n, 50.0), bad_reasons(self.case, n))


@pytest.mark.parametrize(("case", "message"), CASES, ids=[c for c, _ in CASES])
def test_a_rules_malformed_reasons_are_a_plugin_error_at_scoring(case: str, message: str) -> None:
    model = HealthModel([RecencyRule(), BadRule(case)])
    with pytest.raises(PluginError, match=message) as info:
        model.score(small_dataset(), AS_OF)
    assert info.value.contribution == "acme.bad_reasons"
    assert "acme.bad_reasons" in str(info.value)


class BadClassifier:
    name = "acme.bad_evidence"
    description = "claims every account with malformed evidence"
    precedence = 0

    def __init__(self, case: str) -> None:
        self.case = case

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        m = len(churned)
        reason = Categorical(np.zeros(m, dtype=np.int32), ("acme",))
        return ReasonResult(reason, bad_reasons(self.case, m))


@pytest.mark.parametrize(("case", "message"), CASES, ids=[c for c, _ in CASES])
def test_a_classifiers_malformed_evidence_is_a_plugin_error_at_classifying(
    case: str, message: str
) -> None:
    with pytest.raises(PluginError, match=message) as info:
        records(small_dataset(), AS_OF, classifiers=[BadClassifier(case), *builtin_classifiers()])
    assert info.value.contribution == "acme.bad_evidence"


class GoodClassifier(BadClassifier):
    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        m = len(churned)
        days = np.arange(m, dtype=np.float64) + 1.5
        return ReasonResult(
            Categorical(np.zeros(m, dtype=np.int32), ("acme",)),
            Reasons(("idle {days:.1f} days", "none"), np.zeros(m, dtype=np.int8), {"days": days}),
        )


def test_well_formed_evidence_still_passes_and_formats() -> None:
    recs = records(small_dataset(), AS_OF, classifiers=[GoodClassifier("")])
    rows: list[dict[str, Any]] = recs.to_records()
    assert [r["evidence"] for r in rows] == ["idle 1.5 days", "idle 2.5 days", "idle 3.5 days"]
