"""The installed third-party example plugin (examples/plugin-example): discovery through
its entry point, the host's switches that keep it out, and its contributions' numbers,
worked out by hand.

The test set-up (scripts/check) installs it with ``pip install -e examples/plugin-example``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event, Registry
from custsuccess.dataset import Categorical
from custsuccess.errors import ValidationError
from custsuccess.plugins import AUTOLOAD_ENV_VAR, check_array
from custsuccess.typing import ChurnedAccounts, ChurnReasonClassifier, HealthRule, Metric


def _example_installed() -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == "example" for ep in entry_points(group="custsuccess"))


if not _example_installed():
    pytest.skip(
        "the example plugin is not installed (pip install -e examples/plugin-example)",
        allow_module_level=True,
    )


@pytest.fixture(autouse=True)
def _autoload(plugin_autoload: None) -> None:
    """These tests are about the installed plugin: let registries load entry points."""


EXAMPLE = {
    "register_health_rules": "example.email_engagement",
    "register_churn_reasons": "example.payment_failure",
    "register_metrics": "example.support_requests_per_customer",
}


def example_contributions(registry: Registry) -> dict[str, str]:
    """hook -> name of what plugin 'example' contributed."""
    return {c.hook: c.name for c in registry.contributions() if c.plugin == "example"}


def test_example_plugin_is_installed() -> None:
    from importlib.metadata import entry_points

    names = [ep.name for ep in entry_points(group="custsuccess")]
    assert "example" in names, "run: .venv/bin/pip install -e examples/plugin-example"


def test_default_registry_discovers_it() -> None:
    registry = Registry.default()
    assert example_contributions(registry) == EXAMPLE
    info = {p.name: p for p in registry.plugins()}["example"]
    assert info.source == "entry point"
    assert info.distribution == "custsuccess-plugin-example"
    assert info.version == "0.1.0"
    assert info.hooks == ("register_churn_reasons", "register_health_rules", "register_metrics")
    rule = registry.health_rules()["example.email_engagement"]
    assert isinstance(rule.value, HealthRule)
    assert isinstance(
        registry.churn_reasons()["example.payment_failure"].value, ChurnReasonClassifier
    )
    assert isinstance(registry.metrics()["example.support_requests_per_customer"].value, Metric)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"entry_points": False},
        {"deny": ["example"]},
        {"allow": []},
        {"allow": ["some_other_plugin"]},
    ],
    ids=["entry_points=False", "deny", "allow-nothing", "allow-others"],
)
def test_host_switches_exclude_it(kwargs: dict[str, Any]) -> None:
    registry = Registry(**kwargs)
    assert "example" not in registry.plugin_names()
    assert example_contributions(registry) == {}


def test_allow_list_naming_it_keeps_it() -> None:
    assert example_contributions(Registry(allow=["example"])) == EXAMPLE


def test_environment_variable_excludes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTOLOAD_ENV_VAR, "1")
    assert "example" not in Registry.default().plugin_names()
    monkeypatch.setenv(AUTOLOAD_ENV_VAR, "")
    assert "example" in Registry.default().plugin_names()


# --------------------------------------------------------------------------- its numbers

UTC = timezone.utc
AS_OF = np.datetime64("2024-04-01T00:00:00", "us")


def at(month: int, day: int, year: int = 2024) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def dataset() -> Dataset:
    """Four customers a-d (indexes 0-3). The 90 days before AS_OF start on 2024-01-02."""
    customers = [Customer(c, at(1, 1, 2023)) for c in "dcba"]
    ticket = {"channel": "email", "ticket": "t"}
    events = [
        # a: 4 sent in the window, 3 opened; one sent and opened in December (too old)
        *(Event("a", "email_sent", at(m, d)) for m, d in ((2, 1), (2, 15), (3, 1), (3, 15))),
        *(Event("a", "email_open", at(m, d)) for m, d in ((2, 2), (3, 2), (3, 16))),
        Event("a", "email_sent", at(12, 1, 2023)),
        Event("a", "email_open", at(12, 2, 2023)),
        Event("a", "payment_failed", at(3, 1)),
        Event("a", "support_request", at(3, 3), properties=ticket),
        Event("a", "support_request", at(3, 4), properties=ticket),
        # b: 3 sent (one exactly at the window's start), none opened; one sent after AS_OF
        *(Event("b", "email_sent", at(m, d)) for m, d in ((1, 2), (2, 10), (3, 10))),
        Event("b", "email_sent", at(4, 5)),
        Event("b", "payment_failed", at(1, 5)),
        Event("b", "payment_failed", at(2, 20)),
        Event("b", "support_request", at(2, 1), properties=ticket),
        # c: no email at all: the rule does not apply
        Event("c", "payment_failed", at(1, 2)),
        # d: 1 sent, opened twice: capped at 100
        Event("d", "email_sent", at(3, 20)),
        Event("d", "email_open", at(3, 21)),
        Event("d", "email_open", at(3, 22)),
        Event("d", "payment_failed", at(3, 25)),
    ]
    return Dataset.from_records(customers, events=events)


@pytest.fixture
def registry() -> Registry:
    return Registry(allow=["example"])


def test_email_engagement(registry: Registry) -> None:
    rule = registry.health_rules()["example.email_engagement"]
    result = registry.call(rule, "evaluate", dataset().until(AS_OF), AS_OF)
    score = check_array(result.score, rule, (4,), 0, 100, allow_nan=True, kinds="f")
    np.testing.assert_array_equal(score, [75.0, 0.0, np.nan, 100.0])
    assert [result.reasons.format(i) for i in range(4)] == [
        "opened 3 of 4 emails in the last 90 days",
        "opened 0 of 3 emails in the last 90 days",
        None,
        "opened 2 of 1 emails in the last 90 days",
    ]


def test_email_engagement_one_account_equals_batch(registry: Registry) -> None:
    rule = registry.health_rules()["example.email_engagement"].value
    ds = dataset().until(AS_OF)
    batch = rule.evaluate(ds, AS_OF).score
    for i, customer in enumerate("abcd"):
        single = rule.evaluate(ds.customer(customer), AS_OF).score
        np.testing.assert_array_equal(single, batch[i : i + 1])


def test_payment_failure(registry: Registry) -> None:
    classifier = registry.churn_reasons()["example.payment_failure"]
    assert classifier.value.precedence == 15
    # d churned 2024-03-20 (its failure came after), b on 03-01 (failures 56 and 10 days
    # before: 2024 is a leap year), c on 02-01 (a failure exactly 30 days before: inside
    # the window). a's failure is ignored: a did not churn.
    churned = ChurnedAccounts(
        customer=np.array([3, 1, 2], dtype=np.intp),
        churned_at=np.array(["2024-03-20", "2024-03-01", "2024-02-01"], dtype="datetime64[us]"),
        started_at=np.array(["2023-01-01"] * 3, dtype="datetime64[us]"),
        cancel_reason=Categorical.missing(3),
    )
    result = registry.call(classifier, "classify", dataset(), churned)
    assert result.reason.decode().tolist() == [None, "payment failure", "payment failure"]
    assert [result.evidence.format(i) for i in range(3)] == [
        None,
        "payment failed 10 days before churn",
        "payment failed 30 days before churn",
    ]


def test_payment_failure_with_no_churned_accounts(registry: Registry) -> None:
    classifier = registry.churn_reasons()["example.payment_failure"].value
    empty = ChurnedAccounts(
        np.empty(0, np.intp),
        np.empty(0, "datetime64[us]"),
        np.empty(0, "datetime64[us]"),
        Categorical.missing(0),
    )
    assert len(classifier.classify(dataset(), empty).reason) == 0


def test_support_requests_per_customer(registry: Registry) -> None:
    metric = registry.metrics()["example.support_requests_per_customer"]
    assert registry.call(metric, "compute", dataset()) == 3 / 4
    march = dataset().between(np.datetime64("2024-03-01"), np.datetime64("2024-04-01"))
    assert registry.call(metric, "compute", march) == 2 / 4


def test_support_requests_per_customer_rejects_bad_input(registry: Registry) -> None:
    metric = registry.metrics()["example.support_requests_per_customer"].value
    with pytest.raises(ValidationError, match="takes no options, got period"):
        metric.compute(dataset(), period="month")
    with pytest.raises(ValidationError, match="needs at least one customer"):
        metric.compute(Dataset.from_records([]))


def test_parameters_are_validated() -> None:
    from custsuccess_plugin_example import EmailEngagement, PaymentFailure

    with pytest.raises(ValidationError, match="days must be positive, got 0"):
        EmailEngagement(days=0)
    with pytest.raises(ValidationError, match="days must be positive, got -3"):
        PaymentFailure(days=-3)
