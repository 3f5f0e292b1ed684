"""An example third-party custsuccess plugin.

Installed, it is found through its entry point (group ``custsuccess``, name ``example``)
and adds, through the hooks of :mod:`custsuccess.hookspecs`:

- the health rule ``example.email_engagement``: the share of marketing emails an account
  opened in the last 90 days, 0-100; not applicable (NaN) to accounts sent no email;
- the churn-reason classifier ``example.payment_failure``: an account whose payment
  failed in the 30 days before it churned left involuntarily;
- the metric ``example.support_requests_per_customer``: support requests per customer in
  the dataset's window.

Everything works on whole arrays: one account or a million go through the same code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from custsuccess.dataset import Categorical, Dataset
from custsuccess.errors import ValidationError
from custsuccess.hookspecs import hookimpl
from custsuccess.typing import (
    ChurnedAccounts,
    ReasonResult,
    Reasons,
    RegisterChurnReason,
    RegisterHealthRule,
    RegisterMetric,
    RuleResult,
)

__all__ = [
    "EmailEngagement",
    "PaymentFailure",
    "SupportRequestsPerCustomer",
    "register_churn_reasons",
    "register_health_rules",
    "register_metrics",
]

_DAY = np.timedelta64(1, "D")


class EmailEngagement:
    """Health rule: 100 x emails opened / emails sent over the ``days`` before ``as_of``.

    Accounts sent no email in that window get NaN (the rule does not apply to them).
    The score is capped at 100 (an email opened twice counts twice).
    """

    name = "example.email_engagement"
    description = "Share of marketing emails opened in the last 90 days."

    def __init__(self, days: int = 90) -> None:
        if days <= 0:
            raise ValidationError(f"EmailEngagement days must be positive, got {days!r}")
        self.days = days

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        """Score every customer of ``dataset`` (a view ending at ``as_of``)."""
        n = dataset.n_customers
        since = as_of - self.days * _DAY
        sent = _count_since(dataset, "email_sent", since, n)
        opened = _count_since(dataset, "email_open", since, n)
        applicable = sent > 0
        score = np.full(n, np.nan)
        score[applicable] = np.minimum(100.0, 100.0 * opened[applicable] / sent[applicable])
        codes = np.where(applicable, 0, -1).astype(np.int8)
        reasons = Reasons(
            (f"opened {{opened:.0f}} of {{sent:.0f}} emails in the last {self.days} days",),
            codes,
            {"opened": opened.astype(np.float64), "sent": sent.astype(np.float64)},
        )
        return RuleResult(score, reasons)


class PaymentFailure:
    """Churn reason ``payment failure``: a ``payment_failed`` event in the ``days``
    before the account churned (up to and including the churn moment)."""

    name = "example.payment_failure"
    description = "Accounts whose payment failed shortly before they churned."
    precedence = 15  # after the reason the customer gave (10), before the other built-ins
    reason = "payment failure"

    def __init__(self, days: int = 30) -> None:
        if days <= 0:
            raise ValidationError(f"PaymentFailure days must be positive, got {days!r}")
        self.days = days

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        """Claim the churned accounts with a recent failed payment."""
        k = len(churned)
        failures = dataset.events_of("payment_failed", properties=())
        row_of = np.full(dataset.n_customers, -1, dtype=np.intp)
        row_of[churned.customer] = np.arange(k, dtype=np.intp)
        row = row_of[failures.customer]
        mine = row >= 0
        row, time = row[mine], failures.time[mine]
        churned_at = churned.churned_at[row]
        recent = (time <= churned_at) & (time >= churned_at - self.days * _DAY)
        # days between the latest recent failure and the churn, per churned account
        gap_us = (churned_at[recent] - time[recent]).astype("timedelta64[us]").astype(np.int64)
        latest_gap = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(latest_gap, row[recent], gap_us)
        claimed = latest_gap < np.iinfo(np.int64).max
        codes = np.where(claimed, 0, -1).astype(np.int32)
        days = np.where(claimed, latest_gap / 86_400e6, np.nan)
        return ReasonResult(
            Categorical(codes, (self.reason,)),
            Reasons(
                ("payment failed {days:.0f} days before churn",),
                codes.astype(np.int8),
                {"days": days},
            ),
        )


class SupportRequestsPerCustomer:
    """Metric: support requests in the dataset's window divided by its customers.

    ``compute(dataset)`` returns a float; it takes no options.
    """

    name = "example.support_requests_per_customer"
    description = "Support requests per customer in the dataset's window."

    def compute(self, dataset: Dataset, **options: Any) -> float:
        """The mean number of support requests per customer."""
        if options:
            raise ValidationError(f"{self.name} takes no options, got {', '.join(sorted(options))}")
        if dataset.n_customers == 0:
            raise ValidationError(f"{self.name} needs at least one customer, got none")
        requests = dataset.events_of("support_request", properties=())
        return len(requests) / dataset.n_customers


def _count_since(
    dataset: Dataset, kind: str, since: np.datetime64, n: int
) -> npt.NDArray[np.int64]:
    events = dataset.events_of(kind, properties=())
    keep = events.time >= since
    return np.bincount(events.customer[keep], minlength=n).astype(np.int64)


@hookimpl
def register_health_rules(register: RegisterHealthRule) -> None:
    """Contribute :class:`EmailEngagement`."""
    register(EmailEngagement())


@hookimpl
def register_churn_reasons(register: RegisterChurnReason) -> None:
    """Contribute :class:`PaymentFailure`."""
    register(PaymentFailure())


@hookimpl
def register_metrics(register: RegisterMetric) -> None:
    """Contribute :class:`SupportRequestsPerCustomer`."""
    register(SupportRequestsPerCustomer())
