"""The built-in churn-reason classifiers.

Each class satisfies :class:`custsuccess.typing.ChurnReasonClassifier`: it looks at the
churned accounts of a dataset (already cut at ``as_of``) and claims the accounts whose
churn it explains, with evidence. :func:`custsuccess.churn.records` asks the
classifiers in order of ``precedence`` (lowest first; ties broken by name) and the
first claim wins; an account nobody claims is ``"unclassified"``.

Default precedence, from the most direct explanation to the most generic:

======================  ==========  =====================================================
name                    precedence  claims an account when
======================  ==========  =====================================================
``given``               10          the customer gave a reason when cancelling
``involuntary``         20          a payment failed shortly before the churn
``never_onboarded``     30          no activation event in the first 90 days
``support_friction``    40          support was slow or silent shortly before the churn
``downgrade_path``      50          MRR was cut (contraction) shortly before the churn
``disengaged``          60          a long period of non-use came before the churn
======================  ==========  =====================================================

Every parameter (and ``precedence``) can be changed by building the class with keyword
arguments and registering it under the same name in place of the built-in one, or under
another name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.churn._windows import (
    DEFAULT_ACTIVITY_KINDS,
    NO_TIME,
    US_PER_DAY,
    count_in_windows,
    last_before,
    last_per_group,
    scatter,
    us,
)
from custsuccess.dataset import Categorical, Dataset
from custsuccess.errors import ValidationError
from custsuccess.models import EventKind
from custsuccess.typing import ChurnedAccounts, ChurnReasonClassifier, ReasonResult, Reasons

__all__ = [
    "DEFAULT_RESPONSE_HOURS",
    "UNCLASSIFIED",
    "DisengagedReason",
    "DowngradePathReason",
    "GivenReason",
    "InvoluntaryReason",
    "NeverOnboardedReason",
    "SupportFrictionReason",
    "builtin_classifiers",
]

#: The reason (and classifier name) of an account no classifier claims.
UNCLASSIFIED: Final = "unclassified"

#: Slowest acceptable first reply per support channel, in hours (docs/churn.md cites the
#: reference points: 3 minutes on the phone; one business day for email; chat expected to
#: be the fastest; social treated like email).
DEFAULT_RESPONSE_HOURS: Final[Mapping[str, float]] = MappingProxyType(
    {"phone": 0.05, "chat": 0.05, "email": 24.0, "social": 24.0}
)


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a number > 0, got {value!r}"
        )


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a number >= 0, got {value!r}"
        )


def _fraction(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be in [0, 1), got {value!r}"
        )


def _count(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be an integer >= 1, got {value!r}"
        )


def _int(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be an integer, got {value!r}"
        )


def _kinds(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    return tuple(str(k) for k in value)


def _non_empty(instance: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value or any(not k for k in value):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must name at least one event kind, "
            f"got {value!r}"
        )


def _hours(value: Any) -> Mapping[str, float]:
    return MappingProxyType({str(k): v for k, v in dict(value).items()})


def _check_hours(instance: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    for channel, hours in value.items():
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not hours >= 0:
            raise ValidationError(
                f"{type(instance).__name__}.{attribute.name}[{channel!r}] must be a number of "
                f"hours >= 0, got {hours!r}"
            )


def _windows(churned: ChurnedAccounts, n: int, lo: Any, hi: Any) -> tuple[Any, Any]:
    """Per-customer windows from per-churner bounds (empty windows elsewhere)."""
    return scatter(n, churned.customer, lo, 0), scatter(n, churned.customer, hi, 0)


def _group_cumsum(values: npt.NDArray[Any], base: npt.NDArray[np.intp]) -> Any:
    """Running sums that restart at each group; ``base[i]`` is the first row of i's group.

    Integers are exact; floats accumulate across groups, so the result is off by at most
    a few ulps of the grand total (immaterial for money amounts shown with 2 decimals).
    """
    running = np.cumsum(values)
    before_total = np.r_[np.zeros(1, dtype=running.dtype), running[:-1]]
    return running - before_total[base]


def _result(
    label: str, claim: npt.NDArray[np.bool_], template: str, details: Mapping[str, Any]
) -> ReasonResult:
    codes = np.where(claim, 0, -1).astype(np.int32)
    return ReasonResult(
        Categorical(codes, (label,)),
        Reasons((template,), codes.astype(np.int8), dict(details)),
    )


@attrs.frozen(slots=True, kw_only=True)
class GivenReason:
    """The reason the customer gave when cancelling, taken as it was given.

    Claims every churned account whose last subscription carries a ``cancel_reason``;
    the reason label is that text (``"too expensive"``), so given reasons and classified
    ones share one distribution.

    Attributes
    ----------
    precedence
        Default 10: the customer's own words come before any inference.
    """

    name: ClassVar[str] = "given"
    description: ClassVar[str] = "the reason the customer gave when cancelling"
    precedence: int = attrs.field(default=10, validator=_int)

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        reason = churned.cancel_reason
        claim = np.where(reason.codes >= 0, 0, -1).astype(np.int8)  # the one template
        return ReasonResult(
            reason,
            Reasons(
                ("the customer gave the reason {reason!r} when cancelling",),
                claim,
                {"reason": reason.decode()},
            ),
        )


@attrs.frozen(slots=True, kw_only=True)
class InvoluntaryReason:
    """Involuntary churn: payments failed in the days before the churn.

    Counts ``payment_failed`` events in ``[churned_at - window_days, churned_at]``.

    Attributes
    ----------
    window_days
        How far before the churn to look (default 30, a monthly billing cycle).
    min_failures
        Failed payments needed to claim the account (default 1).
    precedence
        Default 20: a failed card ends a subscription whatever the engagement was.
    """

    name: ClassVar[str] = "involuntary"
    description: ClassVar[str] = "payment failures shortly before the churn"
    window_days: float = attrs.field(default=30.0, validator=_positive)
    min_failures: int = attrs.field(default=1, validator=_count)
    precedence: int = attrs.field(default=20, validator=_int)

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        n = dataset.n_customers
        end = us(churned.churned_at)
        lo, hi = _windows(churned, n, end - int(self.window_days * US_PER_DAY), end + 1)
        failed = dataset.events_of(EventKind.PAYMENT_FAILED, properties=())
        count = count_in_windows(failed, lo, hi)[churned.customer]
        last = last_before(failed, hi)[churned.customer]
        days_before = np.where(last == NO_TIME, np.nan, (end - last) / US_PER_DAY)
        return _result(
            self.name,
            count >= self.min_failures,
            "{failures} failed payment(s) in the {window:g} days before churn, the last "
            "{days:.1f} days before it",
            {
                "failures": count,
                "window": np.full(len(count), float(self.window_days)),
                "days": days_before,
            },
        )


@attrs.frozen(slots=True, kw_only=True)
class NeverOnboardedReason:
    """Never onboarded: no activation event in the first days of the subscription.

    Counts events of ``activation_kinds`` in ``[started_at, min(started_at +
    onboarding_days, churned_at)]``, where ``started_at`` is the start of the first
    subscription: the first 90 days are onboarding.

    Attributes
    ----------
    onboarding_days
        Length of onboarding (default 90).
    activation_kinds
        Event kinds that show the customer succeeded with the product (default
        ``("feature_used",)``: a login alone is not activation).
    min_events
        Activation events needed to count as onboarded (default 1).
    precedence
        Default 30: an account that never activated never had a chance to disengage.
    """

    name: ClassVar[str] = "never_onboarded"
    description: ClassVar[str] = "no activation event in the first 90 days"
    onboarding_days: float = attrs.field(default=90.0, validator=_positive)
    activation_kinds: tuple[str, ...] = attrs.field(
        default=(EventKind.FEATURE_USED.value,), converter=_kinds, validator=_non_empty
    )
    min_events: int = attrs.field(default=1, validator=_count)
    precedence: int = attrs.field(default=30, validator=_int)

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        n = dataset.n_customers
        start = us(churned.started_at)
        end = us(churned.churned_at)
        stop = np.minimum(start + int(self.onboarding_days * US_PER_DAY), end) + 1
        lo, hi = _windows(churned, n, start, stop)
        activation = dataset.events_of(*self.activation_kinds, properties=())
        count = count_in_windows(activation, lo, hi)[churned.customer]
        kinds = " or ".join(self.activation_kinds).replace("{", "{{").replace("}", "}}")
        lead = "no activation event" if self.min_events == 1 else "only {count} activation event(s)"
        return _result(
            self.name,
            count < self.min_events,
            lead + " (" + kinds + ") in the first {days:.0f} days of the subscription",
            {"count": count, "days": (stop - 1 - start) / US_PER_DAY},
        )


@attrs.frozen(slots=True, kw_only=True)
class SupportFrictionReason:
    """Support friction: requests shortly before the churn that were answered slowly, or
    not at all.

    A ``support_request`` in ``[churned_at - window_days, churned_at)`` waits until the
    first ``support_reply`` with the same ``ticket`` at or after it (or until
    ``churned_at`` when none came before). The wait is slow when it exceeds the
    channel's limit in ``response_hours``.

    Attributes
    ----------
    window_days
        How far before the churn to look (default 90).
    response_hours
        Slowest acceptable reply per channel, in hours (default
        :data:`DEFAULT_RESPONSE_HOURS`: phone and chat 3 minutes, email and social 24 h).
    default_hours
        Limit for a channel not in ``response_hours`` (default 24).
    min_slow
        Slow or unanswered requests needed to claim the account (default 1).
    precedence
        Default 40.
    """

    name: ClassVar[str] = "support_friction"
    description: ClassVar[str] = "slow or unanswered support requests before the churn"
    window_days: float = attrs.field(default=90.0, validator=_positive)
    response_hours: Mapping[str, float] = attrs.field(
        default=DEFAULT_RESPONSE_HOURS, converter=_hours, validator=_check_hours
    )
    default_hours: float = attrs.field(default=24.0, validator=_non_negative)
    min_slow: int = attrs.field(default=1, validator=_count)
    precedence: int = attrs.field(default=40, validator=_int)

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        n, m = dataset.n_customers, len(churned)
        end_c = scatter(n, churned.customer, us(churned.churned_at), NO_TIME)
        ev = dataset.events_of(
            EventKind.SUPPORT_REQUEST, EventKind.SUPPORT_REPLY, properties=("channel", "ticket")
        )
        t = us(ev.time)
        cust = ev.customer.astype(np.int64)
        is_request = ev.kind == ev.kind_code(EventKind.SUPPORT_REQUEST)
        ticket = ev.property("ticket").codes.astype(np.int64)
        # Group by (customer, ticket), then time; at equal times a request sorts before
        # its reply so a same-moment reply counts as an answer.
        order = np.lexsort((is_request == 0, t, ticket, cust))
        t_s, req_s = t[order], is_request[order]
        group = np.r_[True, (cust[order][1:] != cust[order][:-1])
                      | (ticket[order][1:] != ticket[order][:-1])]
        group_id = np.cumsum(group) - 1
        position = np.arange(len(order))
        # Index of the next reply at or after each position (len(order): none).
        next_reply = np.where(req_s, len(order), position)
        next_reply = np.minimum.accumulate(next_reply[::-1])[::-1]
        has_reply = next_reply < len(order)
        safe = np.minimum(next_reply, max(len(order) - 1, 0))
        same_group = has_reply & (group_id[safe] == group_id) if len(order) else has_reply
        c_s = cust[order]
        churn_t = end_c[c_s]
        reply_t = np.where(same_group, t_s[safe], NO_TIME)
        answered = same_group & (reply_t <= churn_t)
        waited = np.where(answered, reply_t, churn_t) - t_s
        channel = ev.property("channel")
        limits = np.array(
            [self.response_hours.get(c, self.default_hours) for c in channel.categories]
            + [self.default_hours]
        )
        limit_us = (limits[channel.codes[order]] * 3_600_000_000).astype(np.int64)
        in_window = (
            req_s
            & (churn_t != NO_TIME)
            & (t_s < churn_t)
            & (t_s >= churn_t - int(self.window_days * US_PER_DAY))
        )
        slow = in_window & (waited > limit_us)
        requests = np.bincount(c_s[in_window], minlength=n)[churned.customer]
        slow_count = np.bincount(c_s[slow], minlength=n)[churned.customer]
        longest = np.zeros(n)
        if slow.any():
            np.maximum.at(longest, c_s[slow], waited[slow] / 3_600_000_000)
        return _result(
            self.name,
            slow_count >= self.min_slow,
            "{slow} of {requests} support request(s) in the {window:g} days before churn "
            "were answered late or not at all (longest wait {hours:.1f} h)",
            {
                "slow": slow_count,
                "requests": requests,
                "window": np.full(m, float(self.window_days)),
                "hours": longest[churned.customer],
            },
        )


@attrs.frozen(slots=True, kw_only=True)
class DowngradePathReason:
    """Downgrade path: the customer's MRR was cut (contraction) before the churn.

    The customer's MRR is the sum of its active subscriptions' MRR; it changes only when
    a subscription starts or ends (simultaneous changes are netted, so swapping a plan
    for a cheaper one at the same moment is one contraction). A contraction is a
    change to a lower, still positive MRR, at a moment in ``[churned_at - window_days,
    churned_at)``, by more than ``min_drop`` of the MRR before it.

    Attributes
    ----------
    window_days
        How far before the churn to look (default 180).
    min_drop
        Smallest relative cut that counts, in [0, 1) (default 0: any cut).
    precedence
        Default 50.
    """

    name: ClassVar[str] = "downgrade_path"
    description: ClassVar[str] = "MRR contraction before the churn"
    window_days: float = attrs.field(default=180.0, validator=_positive)
    min_drop: float = attrs.field(default=0.0, validator=_fraction)
    precedence: int = attrs.field(default=50, validator=_int)

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        n = dataset.n_customers
        subs = dataset.subscriptions
        cust = subs.customer.astype(np.int64)
        start, end = us(subs.started_at), us(subs.ended_at)
        ended = end != NO_TIME
        # One row per MRR change: +mrr at a start, -mrr at an end. ``paying`` counts the
        # running subscriptions with a positive MRR, in exact integers.
        c = np.concatenate([cust, cust[ended]])
        t = np.concatenate([start, end[ended]])
        delta = np.concatenate([subs.mrr, -subs.mrr[ended]])
        paid = (subs.mrr > 0).astype(np.int64)
        paying_delta = np.concatenate([paid, -paid[ended]])
        order = np.lexsort((t, c))
        c, t, delta, paying_delta = c[order], t[order], delta[order], paying_delta[order]
        # Net the changes at one moment, then the running MRR per customer.
        new = np.r_[True, (c[1:] != c[:-1]) | (t[1:] != t[:-1])] if c.size else np.zeros(0, bool)
        starts = np.flatnonzero(new)
        c_u, t_u = c[starts], t[starts]
        net = np.add.reduceat(delta, starts) if starts.size else np.zeros(0)
        net_paying = np.add.reduceat(paying_delta, starts) if starts.size else np.zeros(0, int)
        first = np.r_[True, c_u[1:] != c_u[:-1]] if c_u.size else np.zeros(0, bool)
        base = np.maximum.accumulate(np.where(first, np.arange(len(c_u)), 0))
        after = _group_cumsum(net, base)
        paying_after = _group_cumsum(net_paying, base)
        before = after - net
        end_c = scatter(n, churned.customer, us(churned.churned_at), NO_TIME)[c_u]
        contraction = (
            (net < -1e-9 * np.maximum(np.abs(before), 1.0))  # not a rounding residue
            & (paying_after > 0)
            & ((before - after) > self.min_drop * before)
            & (end_c != NO_TIME)
            & (t_u < end_c)
            & (t_u >= end_c - int(self.window_days * US_PER_DAY))
        )
        rows = last_per_group(c_u, np.flatnonzero(contraction))
        claim = np.zeros(n, dtype=bool)
        claim[c_u[rows]] = True
        mrr_before = scatter(n, c_u[rows], before[rows], np.nan)
        mrr_after = scatter(n, c_u[rows], np.maximum(after[rows], 0.0), np.nan)
        when = scatter(n, c_u[rows], t_u[rows], NO_TIME)
        k = churned.customer
        days = np.where(claim[k], (us(churned.churned_at) - when[k]) / US_PER_DAY, np.nan)
        return _result(
            self.name,
            claim[k],
            "MRR fell from {before:.2f} to {after:.2f}, {days:.0f} days before churn",
            {
                "before": mrr_before[k],
                "after": mrr_after[k],
                "days": days,
            },
        )


@attrs.frozen(slots=True, kw_only=True)
class DisengagedReason:
    """Disengaged: a long period of non-use before cancelling.

    The gap is the time from the last event of ``activity_kinds`` before ``churned_at``
    to ``churned_at`` (from the first subscription start when there was none).

    Attributes
    ----------
    min_gap_days
        Gap that counts as disengagement (default 30).
    activity_kinds
        Event kinds that count as using the product (default
        :data:`custsuccess.churn.DEFAULT_ACTIVITY_KINDS`).
    precedence
        Default 60: almost every cancellation is preceded by non-use, so this is the
        broadest explanation and comes last.
    """

    name: ClassVar[str] = "disengaged"
    description: ClassVar[str] = "long inactivity before cancelling"
    min_gap_days: float = attrs.field(default=30.0, validator=_positive)
    activity_kinds: tuple[str, ...] = attrs.field(
        default=DEFAULT_ACTIVITY_KINDS, converter=_kinds, validator=_non_empty
    )
    precedence: int = attrs.field(default=60, validator=_int)

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        n = dataset.n_customers
        end = us(churned.churned_at)
        hi = scatter(n, churned.customer, end, NO_TIME)
        last = last_before(dataset.events_of(*self.activity_kinds, properties=()), hi)
        last = last[churned.customer]
        since = np.where(last == NO_TIME, us(churned.started_at), last)
        gap = (end - since) / US_PER_DAY
        never = last == NO_TIME
        return _result(
            self.name,
            gap >= self.min_gap_days,
            "no activity in the {gap:.0f} days before cancelling{note}",
            {"gap": gap, "note": np.where(never, " (none since the subscription began)", "")},
        )


def builtin_classifiers() -> tuple[ChurnReasonClassifier, ...]:
    """One instance of each built-in classifier with its default parameters."""
    return (
        GivenReason(),
        InvoluntaryReason(),
        NeverOnboardedReason(),
        SupportFrictionReason(),
        DowngradePathReason(),
        DisengagedReason(),
    )
