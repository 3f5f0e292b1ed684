"""Customer-success metrics: NPS, churn and retention, revenue (MRR and its movements, GRR,
NRR, ARPA, quick ratio, LTV, CLV), cohorts, engagement and support response times.

Two kinds of function live here:

* pure formulas on numbers or sequences (lists, numpy arrays or pandas Series, read with
  ``np.asarray``): validated up front, keyword-only options, a float or a small frozen
  result;
* dataset-level functions that read a :class:`~custsuccess.dataset.Dataset` with
  whole-array numpy code and return per-period results with a ``to_pandas()`` method.

Every metric is also a plugin on the ``register_metrics`` hook
(:mod:`custsuccess.builtins.metrics`), computable by name with :func:`compute`.
Formulas, sources and defaults are documented in ``docs/metrics.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from custsuccess.dataset import require_dataset
from custsuccess.metrics.cohorts import CohortRetention, cohort_retention
from custsuccess.metrics.engagement import (
    ACTIVITY_KINDS,
    EmailRates,
    EngagementSummary,
    Stickiness,
    average_time_on_site,
    cart_adds_per_customer,
    email_rates,
    email_rates_of,
    engagement_counts,
    engagement_of,
    pages_per_visit,
    referral_rate,
    repeat_purchase_rate,
    stickiness,
    stickiness_by_period,
)
from custsuccess.metrics.nps import NpsByPeriod, NpsResult, nps, nps_by_period
from custsuccess.metrics.periods import Periods, PeriodSeries, calendar_periods, windows
from custsuccess.metrics.retention import (
    CustomerFlow,
    annual_churn_rate,
    churn_rate,
    customer_flow,
    monthly_churn_rate,
    retention_rate,
)
from custsuccess.metrics.revenue import (
    MOVEMENT_KINDS,
    MrrMovements,
    MrrSeries,
    RevenueRates,
    arpa,
    clv,
    customer_mrr,
    grr,
    ltv,
    mrr_movements,
    mrr_series,
    nrr,
    quick_ratio,
    revenue_churn_rate,
    revenue_rates,
)
from custsuccess.metrics.support import (
    DEFAULT_TARGETS,
    BusinessCalendar,
    BusinessDays,
    SupportResponseTimes,
    first_response_times,
    support_response_times,
)

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset
    from custsuccess.plugins import Registry

__all__ = [
    "ACTIVITY_KINDS",
    "DEFAULT_TARGETS",
    "MOVEMENT_KINDS",
    "BusinessCalendar",
    "BusinessDays",
    "CohortRetention",
    "CustomerFlow",
    "EmailRates",
    "EngagementSummary",
    "MrrMovements",
    "MrrSeries",
    "NpsByPeriod",
    "NpsResult",
    "PeriodSeries",
    "Periods",
    "RevenueRates",
    "Stickiness",
    "SupportResponseTimes",
    "annual_churn_rate",
    "arpa",
    "average_time_on_site",
    "calendar_periods",
    "cart_adds_per_customer",
    "churn_rate",
    "clv",
    "cohort_retention",
    "compute",
    "customer_flow",
    "customer_mrr",
    "email_rates",
    "email_rates_of",
    "engagement_counts",
    "engagement_of",
    "first_response_times",
    "grr",
    "ltv",
    "monthly_churn_rate",
    "mrr_movements",
    "mrr_series",
    "nps",
    "nps_by_period",
    "nrr",
    "pages_per_visit",
    "quick_ratio",
    "referral_rate",
    "repeat_purchase_rate",
    "retention_rate",
    "revenue_churn_rate",
    "revenue_rates",
    "stickiness",
    "stickiness_by_period",
    "support_response_times",
    "windows",
]


def compute(
    name: str, dataset: Dataset, *, registry: Registry | None = None, **options: Any
) -> object:
    """Compute the metric registered as ``name`` on ``dataset``.

    Looks ``name`` up in ``registry`` (default: a registry of the built-in metrics only,
    ``Registry(entry_points=False)``) and calls its ``compute(dataset, **options)``. The
    result type is the metric's own (see ``docs/metrics.md``). An unknown name raises
    :class:`~custsuccess.errors.ValidationError` listing the known ones; so does bad
    input or an unknown option. Any other exception from the metric becomes a
    :class:`~custsuccess.errors.PluginError` naming the plugin that registered it, and
    so does a result that is not sane (complex, infinite, a ragged array: see
    :func:`custsuccess.plugins.check_metric_result`).

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = datetime(2024, 2, 1, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("a", t)], events=[Event("a", "nps_response", t, 10)])
    >>> compute("nps", ds).score.tolist()
    [100.0]
    """
    require_dataset(dataset, "dataset", "compute()")
    from custsuccess.errors import ValidationError
    from custsuccess.plugins import Registry, check_metric_result, guarded

    reg = Registry(entry_points=False) if registry is None else registry
    metrics = reg.metrics()
    contribution = metrics.get(name)
    if contribution is None:
        raise ValidationError(f"unknown metric {name!r}; known metrics: {sorted(metrics)}")
    with guarded(contribution, "compute()", passthrough=(ValidationError,)):
        result = contribution.value.compute(dataset, **options)
    return check_metric_result(result, contribution)
