"""The record types a host hands to custsuccess: :class:`Customer`, :class:`Subscription`
and :class:`Event`, with the :class:`EventKind` vocabulary.

They are small, frozen, slotted attrs classes, validated at construction: a bad value
raises :class:`~custsuccess.errors.ValidationError` naming the record, the field and the
value. Computation never runs on these objects directly; they are turned into a columnar
:class:`~custsuccess.dataset.Dataset` first.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import attrs

from custsuccess.errors import ValidationError

__all__ = [
    "BILLING_INTERVALS",
    "SUPPORT_CHANNELS",
    "Customer",
    "Event",
    "EventKind",
    "Subscription",
    "SubscriptionStatus",
    "mrr_from_amount",
]


class EventKind(str, enum.Enum):
    """The built-in event kinds. Any other non-empty string is a host's custom kind."""

    LOGIN = "login"
    FEATURE_USED = "feature_used"  #: properties: ``feature``
    PAGE_VIEW = "page_view"
    TIME_ON_SITE = "time_on_site"  #: value: seconds, >= 0
    PURCHASE = "purchase"  #: value: amount, >= 0
    EMAIL_SENT = "email_sent"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    CART_ADD = "cart_add"
    SUPPORT_REQUEST = "support_request"  #: properties: ``channel``, ``ticket``
    SUPPORT_REPLY = "support_reply"  #: properties: ``channel``, ``ticket``
    NPS_RESPONSE = "nps_response"  #: value: 0..10
    REFERRAL = "referral"
    PAYMENT_FAILED = "payment_failed"

    def __str__(self) -> str:
        return self.value


class SubscriptionStatus(str, enum.Enum):
    """Whether a subscription is running at a given moment (derived, never stored)."""

    ACTIVE = "active"
    ENDED = "ended"
    NOT_STARTED = "not_started"

    def __str__(self) -> str:
        return self.value


#: The support channels with built-in targets (the founding texts' reference times for
#: phone, email and chat; social media). A ``support_request`` / ``support_reply`` may name
#: any other channel too (``sms``, ``in_person``, ``web``, ...): targets for those are
#: the host's to give.
SUPPORT_CHANNELS: Final = ("phone", "email", "chat", "social")

#: Billing intervals a subscription may be invoiced on, with their length in months.
#: ``Subscription.mrr`` is always the monthly figure: an annual contract of 12,000 a year
#: has ``mrr`` 1,000 (see :func:`mrr_from_amount`).
BILLING_INTERVALS: Final[Mapping[str, int]] = MappingProxyType(
    {"month": 1, "quarter": 3, "year": 12}
)

_CURRENCY = re.compile(r"[A-Z]{3}")
_KINDS_WITH_REQUIRED_VALUE: Final = {
    EventKind.TIME_ON_SITE,
    EventKind.PURCHASE,
    EventKind.NPS_RESPONSE,
}


def _label(instance: Any) -> str:
    """`Customer 'c1'`-style label for messages; tolerant of partly built instances."""
    cls = type(instance).__name__
    for name in ("id", "customer_id"):
        value = getattr(instance, name, None)
        if isinstance(value, str):
            return f"{cls} {name}={value!r}"
    return cls


def _non_empty_str(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a non-empty string, got {value!r}"
        )


def _optional_str(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(
            f"{_label(instance)}: {attribute.name} must be a string or None, got {value!r}"
        )


def _aware_datetime(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, datetime):
        raise ValidationError(
            f"{_label(instance)}: {attribute.name} must be a datetime, got {value!r}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{_label(instance)}: {attribute.name} must be timezone-aware "
            f"(naive datetimes are ambiguous), got {value!r}"
        )


def _optional_label(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValidationError(
            f"{_label(instance)}: {attribute.name} must be a non-empty string or None, "
            f"got {value!r}"
        )


def _optional_aware_datetime(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _aware_datetime(instance, attribute, value)


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ValidationError(f"expected a mapping, got {value!r}")
    return MappingProxyType(dict(value))


def _string_keys(instance: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    for key in value:
        if not isinstance(key, str) or not key:
            raise ValidationError(
                f"{_label(instance)}: {attribute.name} keys must be non-empty strings, got {key!r}"
            )


def _string_values(
    instance: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]
) -> None:
    _string_keys(instance, attribute, value)
    for key, item in value.items():
        if not isinstance(item, str):
            raise ValidationError(
                f"{_label(instance)}: {attribute.name}[{key!r}] must be a string "
                f"(put numbers in Event.value), got {item!r}"
            )


def _to_kind(value: Any) -> Any:
    if isinstance(value, EventKind):
        return value
    if isinstance(value, str):
        try:
            return EventKind(value)
        except ValueError:
            return value
    return value  # the validator reports the wrong type


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # Left as it is, for the validator to report with the field's name.
        result: Any = value
        return result  # type: ignore[no-any-return]
    return float(value)


@attrs.frozen(slots=True)
class Customer:
    """An account: the unit every health score, metric and churn record is about.

    >>> from datetime import datetime, timezone
    >>> Customer("acme", datetime(2024, 1, 5, tzinfo=timezone.utc), plan="pro").plan
    'pro'
    """

    id: str = attrs.field(validator=_non_empty_str)
    created_at: datetime = attrs.field(validator=_aware_datetime)
    name: str | None = attrs.field(default=None, kw_only=True, validator=_optional_str)
    segment: str | None = attrs.field(default=None, kw_only=True, validator=_optional_str)
    plan: str | None = attrs.field(default=None, kw_only=True, validator=_optional_str)
    attributes: Mapping[str, Any] = attrs.field(
        factory=dict,
        kw_only=True,
        converter=_frozen_mapping,
        validator=_string_keys,
        eq=True,
        hash=False,
    )
    #: The success manager who owns the account (any non-empty label), or None.
    owner: str | None = attrs.field(default=None, kw_only=True, validator=_optional_label)
    #: The id of the parent account (hierarchies of any depth; cycles are rejected when
    #: a dataset is built), or None for a top-level account.
    parent_id: str | None = attrs.field(default=None, kw_only=True, validator=_optional_label)

    def __attrs_post_init__(self) -> None:
        if self.parent_id is not None and self.parent_id == self.id:
            raise ValidationError(
                f"{_label(self)}: parent_id must name another account, got its own id"
            )


@attrs.frozen(slots=True)
class Subscription:
    """A priced subscription of a customer to a plan. ``ended_at`` is None while it runs.

    Status is derived from the dates, never stored:

    >>> from datetime import datetime, timezone
    >>> start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> s = Subscription("s1", "acme", "pro", 99.0, "USD", start)
    >>> s.is_active(datetime(2025, 1, 1, tzinfo=timezone.utc))
    True
    """

    id: str = attrs.field(validator=_non_empty_str)
    customer_id: str = attrs.field(validator=_non_empty_str)
    plan: str = attrs.field(validator=_non_empty_str)
    mrr: float = attrs.field(converter=_optional_float)
    currency: str = attrs.field()
    started_at: datetime = attrs.field(validator=_aware_datetime)
    ended_at: datetime | None = attrs.field(default=None, validator=_optional_aware_datetime)
    cancel_reason: str | None = attrs.field(default=None, kw_only=True, validator=_optional_str)
    #: How often the subscription is invoiced: ``"month"`` (default), ``"quarter"`` or
    #: ``"year"``. ``mrr`` stays the monthly figure whatever the interval.
    billing_interval: str = attrs.field(default="month", kw_only=True)
    #: When the current term ends and the contract comes up for renewal, or None.
    renews_at: datetime | None = attrs.field(
        default=None, kw_only=True, validator=_optional_aware_datetime
    )
    #: Whether the contract renews by itself at ``renews_at`` (default True).
    auto_renew: bool = attrs.field(default=True, kw_only=True)

    @billing_interval.validator
    def _check_interval(self, attribute: attrs.Attribute[str], value: Any) -> None:
        if not isinstance(value, str) or value not in BILLING_INTERVALS:
            raise ValidationError(
                f"{_label(self)}: billing_interval must be one of "
                f"{tuple(BILLING_INTERVALS)}, got {value!r}"
            )

    @auto_renew.validator
    def _check_auto_renew(self, attribute: attrs.Attribute[bool], value: Any) -> None:
        if not isinstance(value, bool):
            raise ValidationError(
                f"{_label(self)}: auto_renew must be True or False, got {value!r}"
            )

    @mrr.validator
    def _check_mrr(self, attribute: attrs.Attribute[float], value: Any) -> None:
        if not isinstance(value, float) or not math.isfinite(value) or value < 0:
            raise ValidationError(
                f"{_label(self)}: mrr must be a finite number >= 0, got {value!r}"
            )

    @currency.validator
    def _check_currency(self, attribute: attrs.Attribute[str], value: Any) -> None:
        if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
            raise ValidationError(
                f"{_label(self)}: currency must be an ISO 4217 code of three capital "
                f"letters such as 'USD', got {value!r}"
            )

    def __attrs_post_init__(self) -> None:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValidationError(
                f"{_label(self)}: ended_at {self.ended_at.isoformat()} is before "
                f"started_at {self.started_at.isoformat()}"
            )
        if self.renews_at is not None and self.renews_at < self.started_at:
            raise ValidationError(
                f"{_label(self)}: renews_at {self.renews_at.isoformat()} is before "
                f"started_at {self.started_at.isoformat()}"
            )

    @classmethod
    def from_amount(
        cls,
        id: str,
        customer_id: str,
        plan: str,
        amount: float,
        currency: str,
        started_at: datetime,
        ended_at: datetime | None = None,
        *,
        billing_interval: str = "month",
        **fields: Any,
    ) -> Subscription:
        """A subscription from the amount invoiced per ``billing_interval``; ``mrr`` is
        that amount normalised to a month (:func:`mrr_from_amount`).

        >>> from datetime import datetime, timezone
        >>> start = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> s = Subscription.from_amount("s1", "acme", "pro", 12_000, "USD", start,
        ...                              billing_interval="year")
        >>> s.mrr, s.amount
        (1000.0, 12000.0)
        """
        return cls(
            id,
            customer_id,
            plan,
            mrr_from_amount(amount, billing_interval),
            currency,
            started_at,
            ended_at,
            billing_interval=billing_interval,
            **fields,
        )

    @property
    def amount(self) -> float:
        """The amount invoiced per ``billing_interval``: ``mrr`` x months in the interval."""
        return self.mrr * BILLING_INTERVALS[self.billing_interval]

    def status(self, at: datetime) -> SubscriptionStatus:
        """The subscription's status at ``at`` (timezone-aware)."""
        if at.tzinfo is None:
            raise ValidationError(f"{_label(self)}: status(at) needs a timezone-aware datetime")
        if at < self.started_at:
            return SubscriptionStatus.NOT_STARTED
        if self.ended_at is not None and at >= self.ended_at:
            return SubscriptionStatus.ENDED
        return SubscriptionStatus.ACTIVE

    def is_active(self, at: datetime) -> bool:
        """True when ``started_at <= at < ended_at`` (or no end yet)."""
        return self.status(at) is SubscriptionStatus.ACTIVE


@attrs.frozen(slots=True)
class Event:
    """Something a customer did, or that happened to a customer, at a moment.

    ``kind`` is an :class:`EventKind` for the built-in kinds (a matching string is
    converted), or any other non-empty string for a host's own kinds.

    >>> from datetime import datetime, timezone
    >>> e = Event("acme", "nps_response", datetime(2024, 3, 1, tzinfo=timezone.utc), value=9)
    >>> e.kind is EventKind.NPS_RESPONSE, e.value
    (True, 9.0)
    """

    customer_id: str = attrs.field(validator=_non_empty_str)
    kind: EventKind | str = attrs.field(converter=_to_kind)
    occurred_at: datetime = attrs.field(validator=_aware_datetime)
    value: float | None = attrs.field(default=None, converter=_optional_float)
    properties: Mapping[str, str] = attrs.field(
        factory=dict,
        converter=_frozen_mapping,
        validator=_string_values,
        eq=True,
        hash=False,
    )
    #: The person inside the account who acted (optional; any non-empty label).
    user_id: str | None = attrs.field(default=None, kw_only=True, validator=_optional_label)

    @kind.validator
    def _check_kind(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(
                f"{_label(self)}: kind must be an EventKind or a non-empty string, got {value!r}"
            )

    def __attrs_post_init__(self) -> None:
        if "user_id" in self.properties:
            raise ValidationError(
                f"{_label(self)}: put the user in Event.user_id, not in properties['user_id']"
            )
        problem = event_value_problem(self.kind, self.value, self.properties)
        if problem is not None:
            raise ValidationError(
                f"{_label(self)}, kind {str(self.kind)!r} at {self.occurred_at.isoformat()}: "
                f"{problem}"
            )


def event_value_problem(
    kind: EventKind | str, value: float | None, properties: Mapping[str, str]
) -> str | None:
    """What is wrong with an event's value or properties for its kind, or None.

    Shared by :class:`Event` and the columnar builder so both reject the same input
    with the same words.
    """
    if value is not None and (not isinstance(value, float) or not math.isfinite(value)):
        return f"value must be a finite number, got {value!r}"
    if kind in _KINDS_WITH_REQUIRED_VALUE and value is None:
        return "value is required for this kind"
    if (
        kind is EventKind.NPS_RESPONSE
        and value is not None
        and (value < 0 or value > 10 or value != int(value))
    ):
        return f"value must be an NPS answer, a whole number from 0 to 10, got {value!r}"
    if kind in (EventKind.PURCHASE, EventKind.TIME_ON_SITE) and value is not None and value < 0:
        return f"value must be >= 0, got {value!r}"
    if kind in (EventKind.SUPPORT_REQUEST, EventKind.SUPPORT_REPLY):
        channel = properties.get("channel")
        if not isinstance(channel, str) or not channel.strip():
            return (
                "properties['channel'] is required: the channel's name, such as 'phone', "
                f"'email', 'chat', 'sms' or 'in_person', got {channel!r}"
            )
        if not properties.get("ticket"):
            return "properties['ticket'] is required to pair requests with replies"
    if kind is EventKind.FEATURE_USED and not properties.get("feature"):
        return "properties['feature'] is required"
    return None


def mrr_from_amount(amount: float, billing_interval: str = "month") -> float:
    """Monthly recurring revenue of ``amount`` invoiced once per ``billing_interval``:
    ``amount / months``, with 1, 3 and 12 months for month, quarter and year.

    >>> mrr_from_amount(3000, "quarter"), mrr_from_amount(12000, "year")
    (1000.0, 1000.0)
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ValidationError(f"amount must be a number, got {amount!r}")
    if not math.isfinite(amount) or amount < 0:
        raise ValidationError(f"amount must be a finite number >= 0, got {amount!r}")
    months = BILLING_INTERVALS.get(billing_interval) if isinstance(billing_interval, str) else None
    if months is None:
        raise ValidationError(
            f"billing_interval must be one of {tuple(BILLING_INTERVALS)}, got {billing_interval!r}"
        )
    return float(amount) / months
