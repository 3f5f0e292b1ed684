"""The built-in metrics as plugins: registered, satisfying the Metric protocol,
computable by name, and agreeing with the functions they wrap."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from custsuccess.builtins.metrics import BUILTIN_METRICS, DatasetMetric
from custsuccess.demo import generate
from custsuccess.errors import PluginError, ValidationError
from custsuccess.hookspecs import hookimpl
from custsuccess.metrics import (
    compute,
    customer_flow,
    engagement_of,
    mrr_movements,
    nps_by_period,
    revenue_rates,
)
from custsuccess.metrics.periods import PeriodSeries
from custsuccess.plugins import Registry
from custsuccess.typing import Metric

EXPECTED = {
    "nps",
    "churn_rate",
    "retention_rate",
    "mrr",
    "mrr_movements",
    "cohort_retention",
    "grr",
    "nrr",
    "revenue_churn",
    "quick_ratio",
    "arpa",
    "stickiness",
    "email_rates",
    "repeat_purchase_rate",
    "referral_rate",
    "average_time_on_site",
    "pages_per_visit",
    "cart_adds_per_customer",
    "support_response_times",
}


@pytest.fixture(scope="module")
def demo() -> Any:
    return generate(300, seed=3)


def test_every_builtin_metric_is_registered_and_a_metric() -> None:
    metrics = Registry(entry_points=False).metrics()
    assert set(metrics) >= EXPECTED
    for name in EXPECTED:
        contribution = metrics[name]
        assert contribution.plugin == "custsuccess.builtins.metrics"
        assert isinstance(contribution.value, Metric)
        assert contribution.description
        assert "\n" not in contribution.description


@pytest.mark.parametrize("metric", BUILTIN_METRICS, ids=lambda m: m.name)
def test_every_builtin_metric_computes_on_the_demo(metric: DatasetMetric, demo: Any) -> None:
    result = compute(metric.name, demo)
    assert result is not None
    frame = getattr(result, "to_pandas", None) or getattr(result, "to_series", None)
    if frame is not None:
        assert len(frame()) > 0
    elif isinstance(result, float):
        assert not math.isnan(result)


def test_compute_agrees_with_the_functions(demo: Any) -> None:
    expected = nps_by_period(demo, freq="month")
    got = compute("nps", demo, freq="month")
    assert np.array_equal(got.score, expected.score, equal_nan=True)  # type: ignore[attr-defined]
    flow = customer_flow(demo, method="founding")
    churn = compute("churn_rate", demo, method="founding")
    assert np.array_equal(churn.churn_rate, flow.churn_rate, equal_nan=True)  # type: ignore[attr-defined]
    grr = compute("grr", demo)
    assert isinstance(grr, PeriodSeries)
    assert np.array_equal(grr.values, revenue_rates(demo).grr, equal_nan=True)
    assert grr.to_series().name == "grr"
    moves = compute("mrr_movements", demo)
    assert np.array_equal(moves.closing, mrr_movements(demo).closing)  # type: ignore[attr-defined]
    assert compute("referral_rate", demo) == engagement_of(demo).referral_rate


def test_compute_errors(demo: Any) -> None:
    with pytest.raises(ValidationError, match=r"unknown metric 'npss'; known metrics: .*'nps'"):
        compute("npss", demo)
    with pytest.raises(ValidationError, match=r"metric 'nps' has no option 'frq'; its options"):
        compute("nps", demo, frq="month")
    with pytest.raises(ValidationError, match="freq must be one of"):
        compute("mrr", demo, freq="week")
    with pytest.raises(ValidationError, match="dataset must be a custsuccess Dataset"):
        compute("mrr", [1, 2, 3])  # type: ignore[arg-type]


class _Broken:
    name = "test.broken"
    description = "Always fails."

    def compute(self, dataset: Any, **options: Any) -> object:
        raise ZeroDivisionError("oops")


class _Plugin:
    @hookimpl
    def register_metrics(self, register: Any) -> None:
        register(_Broken())


def test_compute_with_a_custom_registry_wraps_plugin_bugs(demo: Any) -> None:
    registry = Registry([_Plugin()], entry_points=False)
    with pytest.raises(PluginError, match=r"test\.broken.*ZeroDivisionError") as info:
        compute("test.broken", demo, registry=registry)
    assert info.value.contribution == "test.broken"
    # the built-ins are still there
    assert compute("referral_rate", demo, registry=registry) == engagement_of(demo).referral_rate


def test_options_are_listed() -> None:
    nps_metric = next(m for m in BUILTIN_METRICS if m.name == "nps")
    assert nps_metric.options() == ("freq", "start", "end", "periods", "tz", "per_customer")
