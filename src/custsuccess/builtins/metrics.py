"""Built-in metrics: a plugin module on the ``register_metrics`` hook.

Each metric of :mod:`custsuccess.metrics` that can be computed from a dataset is
registered here under a plain name (``nps``, ``mrr_movements``, ...), so a host computes
it with ``registry.metrics()["nps"].value.compute(dataset, **options)`` or
:func:`custsuccess.metrics.compute`. The metric functions are imported only when a metric
is computed, so building a registry stays cheap.

>>> from custsuccess.plugins import Registry
>>> sorted(Registry(entry_points=False).metrics())[:4]
['active_users', 'arpa', 'average_order_value', 'average_time_on_site']
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import attrs

from custsuccess.hookspecs import hookimpl
from custsuccess.typing import RegisterMetric

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = ["BUILTIN_METRICS", "DatasetMetric", "register_metrics"]


def _target(path: str) -> Callable[..., Any]:
    module, _, attr = path.rpartition(".")
    function: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return function


@attrs.frozen(slots=True)
class DatasetMetric:
    """A metric computed by a function ``function(dataset, **options)`` of
    :mod:`custsuccess.metrics` (a dotted path, imported on first use), optionally
    followed by ``post(result, dataset) -> value``. ``unit`` is the unit of a result
    that is a single number (see :mod:`custsuccess.units`); results with fields declare
    their own. ``allow_inf``: the result may hold infinities (see
    :func:`custsuccess.plugins.check_metric_result`).

    Unknown options raise :class:`~custsuccess.errors.ValidationError` listing the
    options the function accepts.
    """

    name: str
    description: str
    function: str
    post: Callable[[Any, Dataset], object] | None = None
    unit: str | None = None
    allow_inf: bool = False

    def options(self) -> tuple[str, ...]:
        """The options :meth:`compute` accepts."""
        signature = inspect.signature(_target(self.function))
        return tuple(
            p.name
            for p in signature.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        )

    def compute(self, dataset: Dataset, **options: Any) -> object:
        """Compute the metric on ``dataset``."""
        from custsuccess.dataset import require_dataset
        from custsuccess.errors import ValidationError

        require_dataset(dataset, "dataset", f"metric {self.name!r}")
        function = _target(self.function)
        signature = inspect.signature(function)
        accepts_any = any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
        )
        if not accepts_any:
            known = self.options()
            unknown = sorted(set(options) - set(known))
            if unknown:
                raise ValidationError(
                    f"metric {self.name!r} has no option {unknown[0]!r}; its options are {known}"
                )
        result = function(dataset, **options)
        return result if self.post is None else self.post(result, dataset)


def _field(name: str) -> Callable[[Any, Dataset], object]:
    def pick(result: Any, dataset: Dataset) -> object:
        return getattr(result, name)

    return pick


def _series(name: str, field: str) -> Callable[[Any, Dataset], object]:
    def pick(result: Any, dataset: Dataset) -> object:
        from custsuccess.metrics.periods import PeriodSeries
        from custsuccess.units import units_of

        unit = units_of(result).get(field, "number")
        return PeriodSeries(name, result.periods, getattr(result, field), unit)

    return pick


_M: Final = "custsuccess.metrics."

#: The built-in metrics, in registration order.
BUILTIN_METRICS: Final[tuple[DatasetMetric, ...]] = (
    DatasetMetric(
        "nps",
        "Net Promoter Score per period (quarterly by default) with counts.",
        _M + "nps.nps_by_period",
    ),
    DatasetMetric(
        "churn_rate",
        "Customer churn rate per period, with the customer counts.",
        _M + "retention.customer_flow",
    ),
    DatasetMetric(
        "retention_rate",
        "Customer retention rate (CE - CN) / CS per period (a fraction).",
        _M + "retention.customer_flow",
    ),
    DatasetMetric(
        "mrr",
        "MRR per period (at each period's end), paying customers and ARPA.",
        _M + "revenue.mrr_series",
    ),
    DatasetMetric(
        "mrr_movements",
        "MRR movements per period: new, expansion, contraction, churn, reactivation.",
        _M + "revenue.mrr_movements",
    ),
    DatasetMetric(
        "cohort_retention",
        "Signup cohort x periods since signup retention, by customers and by MRR.",
        _M + "cohorts.cohort_retention",
    ),
    DatasetMetric(
        "grr",
        "Gross revenue retention per period.",
        _M + "revenue.revenue_rates",
        _series("grr", "grr"),
    ),
    DatasetMetric(
        "nrr",
        "Net revenue retention per period.",
        _M + "revenue.revenue_rates",
        _series("nrr", "nrr"),
    ),
    DatasetMetric(
        "revenue_churn",
        "Gross and net revenue churn, GRR, NRR and quick ratio per period.",
        _M + "revenue.revenue_rates",
        allow_inf=True,  # the quick ratio of a period that lost nothing
    ),
    DatasetMetric(
        "quick_ratio",
        "SaaS quick ratio (MRR gained / MRR lost) per period.",
        _M + "revenue.revenue_rates",
        _series("quick_ratio", "quick_ratio"),
        allow_inf=True,
    ),
    DatasetMetric(
        "arpa",
        "Average revenue per paying account at each period's end.",
        _M + "revenue.mrr_series",
        _series("arpa", "arpa"),
    ),
    DatasetMetric(
        "stickiness", "DAU/MAU stickiness per period.", _M + "engagement.stickiness_by_period"
    ),
    DatasetMetric(
        "email_rates",
        "Email open, click-through and click-to-open rates.",
        _M + "engagement.email_rates_of",
    ),
    DatasetMetric(
        "repeat_purchase_rate",
        "Customers with 2 or more purchases / customers with 1 or more.",
        _M + "engagement.engagement_of",
        _field("repeat_purchase_rate"),
        "fraction",
    ),
    DatasetMetric(
        "referral_rate",
        "Share of customers who referred at least one customer.",
        _M + "engagement.engagement_of",
        _field("referral_rate"),
        "fraction",
    ),
    DatasetMetric(
        "average_time_on_site",
        "Mean visit duration in seconds.",
        _M + "engagement.engagement_of",
        _field("average_time_on_site"),
        "seconds",
    ),
    DatasetMetric(
        "pages_per_visit",
        "Page views per visit.",
        _M + "engagement.engagement_of",
        _field("pages_per_visit"),
        "number",
    ),
    DatasetMetric(
        "cart_adds_per_customer",
        "Items added to cart per customer.",
        _M + "engagement.engagement_of",
        _field("cart_adds_per_customer"),
        "number",
    ),
    DatasetMetric(
        "user_activity",
        "Per account: daily, weekly and monthly active users, DAU/MAU, breadth, seat "
        "utilisation and the champion.",
        _M + "users.user_activity",
    ),
    DatasetMetric(
        "active_users",
        "Monthly active users per account (distinct users active in the last 30 days).",
        _M + "users.user_activity",
        _field("monthly_active"),
        "count",
    ),
    DatasetMetric(
        "dau_mau",
        "DAU/MAU per account over the last 30 days.",
        _M + "users.user_activity",
        _field("dau_mau"),
        "fraction",
    ),
    DatasetMetric(
        "seat_utilisation",
        "Monthly active users / seats per account.",
        _M + "users.user_activity",
        _field("seat_utilisation"),
        "fraction",
    ),
    DatasetMetric(
        "user_breadth",
        "Share of each account's known users active in the last 30 days.",
        _M + "users.user_activity",
        _field("breadth"),
        "fraction",
    ),
    DatasetMetric(
        "champion_gone_quiet",
        "Per account: the most active user of the 90 days before the last 30 is quiet.",
        _M + "users.user_activity",
        _field("champion_quiet"),
    ),
    DatasetMetric(
        "resolution_times",
        "Support tickets per channel: resolution time and reopen rate.",
        _M + "service.resolution_times",
    ),
    DatasetMetric(
        "reopen_rate",
        "Reopened tickets / resolved tickets, per channel.",
        _M + "service.resolution_times",
        _field("reopen_rate"),
        "fraction",
    ),
    DatasetMetric(
        "csat",
        "Customer satisfaction: share of CSAT answers 4-5 of 5, mean and counts.",
        _M + "service.csat",
    ),
    DatasetMetric(
        "ces",
        "Customer effort score: mean CES answer (1-7), share of easy answers, counts.",
        _M + "service.ces",
    ),
    DatasetMetric(
        "nps_migration",
        "NPS group before and after a support contact, and the service-recovery rate.",
        _M + "service.nps_migration",
    ),
    DatasetMetric(
        "funnel",
        "Stage conversion along a funnel (option stages; default signup, login, subscribed, "
        "purchase).",
        _M + "economics.funnel_conversion",
    ),
    DatasetMetric(
        "average_order_value",
        "Average order value per month and its trend.",
        _M + "economics.average_order_value",
    ),
    DatasetMetric(
        "revenue_concentration",
        "Share of MRR from the top 20% of paying customers.",
        _M + "economics.revenue_concentration",
        unit="fraction",
    ),
    DatasetMetric(
        "support_response_times",
        "First-response time per support channel and share answered within target.",
        _M + "support.support_response_times",
    ),
)


@hookimpl
def register_metrics(register: RegisterMetric) -> None:
    """Register the built-in metrics."""
    for metric in BUILTIN_METRICS:
        register(metric)
