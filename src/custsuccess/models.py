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
    "SUPPORT_CHANNELS",
    "Customer",
    "Event",
    "EventKind",
    "Subscription",
    "SubscriptionStatus",
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


#: The support channels a ``support_request`` / ``support_reply`` may name.
SUPPORT_CHANNELS: Final = ("phone", "email", "chat", "social")

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

    @kind.validator
    def _check_kind(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(
                f"{_label(self)}: kind must be an EventKind or a non-empty string, got {value!r}"
            )

    def __attrs_post_init__(self) -> None:
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
        if channel not in SUPPORT_CHANNELS:
            return f"properties['channel'] must be one of {SUPPORT_CHANNELS}, got {channel!r}"
        if not properties.get("ticket"):
            return "properties['ticket'] is required to pair requests with replies"
    if kind is EventKind.FEATURE_USED and not properties.get("feature"):
        return "properties['feature'] is required"
    return None
