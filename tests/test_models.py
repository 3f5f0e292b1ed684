"""Every validator of the record models: each bad input raises ValidationError whose message
names the field and the offending value."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from custsuccess import (
    Customer,
    Event,
    EventKind,
    Subscription,
    SubscriptionStatus,
    ValidationError,
)

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NAIVE = datetime(2024, 1, 1)


def test_validation_error_is_a_value_error() -> None:
    assert issubclass(ValidationError, ValueError)


def test_customer_valid_and_frozen() -> None:
    c = Customer("acme", T0, name="Acme", segment="smb", plan="pro", attributes={"seats": 5})
    assert (c.id, c.plan, c.attributes["seats"]) == ("acme", "pro", 5)
    with pytest.raises(AttributeError):
        c.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.attributes["seats"] = 6  # type: ignore[index]


def test_customer_attributes_copied_not_shared() -> None:
    attrs = {"seats": 5}
    c = Customer("acme", T0, attributes=attrs)
    attrs["seats"] = 9
    assert c.attributes["seats"] == 5
    assert attrs == {"seats": 9}  # the caller's dict is untouched by us


@pytest.mark.parametrize("bad_id", ["", "   ", None, 7])
def test_customer_empty_or_wrong_id(bad_id: object) -> None:
    with pytest.raises(ValidationError, match=r"Customer\.id must be a non-empty string, got"):
        Customer(bad_id, T0)  # type: ignore[arg-type]


def test_customer_naive_created_at() -> None:
    with pytest.raises(
        ValidationError, match=r"Customer id='a': created_at must be timezone-aware"
    ):
        Customer("a", NAIVE)


def test_customer_created_at_not_a_datetime() -> None:
    with pytest.raises(ValidationError, match=r"created_at must be a datetime, got '2024-01-01'"):
        Customer("a", "2024-01-01")  # type: ignore[arg-type]


def test_customer_optional_text_fields_typed() -> None:
    with pytest.raises(ValidationError, match=r"segment must be a string or None, got 3"):
        Customer("a", T0, segment=3)  # type: ignore[arg-type]


def test_customer_attribute_keys() -> None:
    with pytest.raises(ValidationError, match=r"attributes keys must be non-empty strings, got 1"):
        Customer("a", T0, attributes={1: "x"})  # type: ignore[dict-item]


def _sub(**kw: object) -> Subscription:
    args: dict[str, object] = {
        "id": "s1",
        "customer_id": "a",
        "plan": "pro",
        "mrr": 99.0,
        "currency": "USD",
        "started_at": T0,
    }
    args.update(kw)
    return Subscription(**args)  # type: ignore[arg-type]


def test_subscription_status_is_derived() -> None:
    s = _sub(ended_at=T0 + timedelta(days=30))
    assert s.status(T0 - timedelta(seconds=1)) is SubscriptionStatus.NOT_STARTED
    assert s.is_active(T0)
    assert s.is_active(T0 + timedelta(days=29))
    assert not s.is_active(T0 + timedelta(days=30))  # the end is exclusive
    assert s.status(T0 + timedelta(days=31)) is SubscriptionStatus.ENDED
    assert _sub().is_active(T0 + timedelta(days=10_000))


def test_subscription_mrr_int_converted() -> None:
    assert _sub(mrr=10).mrr == 10.0


@pytest.mark.parametrize("mrr", [-1.0, math.nan, math.inf, "ten"])
def test_subscription_bad_mrr(mrr: object) -> None:
    with pytest.raises(
        ValidationError, match=r"Subscription id='s1': mrr must be a finite number >= 0"
    ):
        _sub(mrr=mrr)


@pytest.mark.parametrize("currency", ["usd", "US", "EURO", "", None])
def test_subscription_bad_currency(currency: object) -> None:
    with pytest.raises(ValidationError, match=r"currency must be an ISO 4217 code") as info:
        _sub(currency=currency)
    assert repr(currency) in str(info.value)


def test_subscription_end_before_start() -> None:
    with pytest.raises(
        ValidationError, match=r"ended_at 2023-12-31T00:00:00\+00:00 is before started_at"
    ):
        _sub(ended_at=T0 - timedelta(days=1))


def test_subscription_naive_end() -> None:
    with pytest.raises(ValidationError, match=r"ended_at must be timezone-aware"):
        _sub(ended_at=NAIVE)


@pytest.mark.parametrize("field", ["id", "customer_id", "plan"])
def test_subscription_empty_strings(field: str) -> None:
    with pytest.raises(ValidationError, match=rf"Subscription\.{field} must be a non-empty string"):
        _sub(**{field: ""})


def test_subscription_status_needs_aware_time() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        _sub().status(NAIVE)


def test_event_kind_string_becomes_enum_and_custom_kinds_stay() -> None:
    assert Event("a", "login", T0).kind is EventKind.LOGIN
    custom = Event("a", "webinar_attended", T0)
    assert custom.kind == "webinar_attended"
    assert not isinstance(custom.kind, EventKind)


@pytest.mark.parametrize(
    ("kind", "value", "props", "message"),
    [
        ("nps_response", 11, {}, r"whole number from 0 to 10, got 11\.0"),
        ("nps_response", -1, {}, r"whole number from 0 to 10, got -1\.0"),
        ("nps_response", 7.5, {}, r"whole number from 0 to 10, got 7\.5"),
        ("nps_response", None, {}, r"value is required"),
        ("purchase", -5.0, {}, r"value must be >= 0, got -5\.0"),
        ("time_on_site", -1.0, {}, r"value must be >= 0, got -1\.0"),
        ("purchase", math.nan, {}, r"value must be a finite number, got nan"),
        ("login", math.inf, {}, r"value must be a finite number, got inf"),
        ("support_request", None, {"ticket": "t1"}, r"properties\['channel'\] is required"),
        ("support_reply", None, {"channel": " ", "ticket": "t"}, r"got ' '"),
        ("support_request", None, {"channel": "chat"}, r"properties\['ticket'\] is required"),
        ("feature_used", None, {}, r"properties\['feature'\] is required"),
    ],
)
def test_event_value_rules(
    kind: str, value: float | None, props: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        Event("acme", kind, T0, value, props)
    assert "customer_id='acme'" in str(info.value)
    assert repr(kind) in str(info.value)


def test_event_property_values_must_be_strings() -> None:
    with pytest.raises(ValidationError, match=r"properties\['seats'\] must be a string"):
        Event("a", "login", T0, properties={"seats": 3})


def test_event_bad_kind_and_time() -> None:
    with pytest.raises(ValidationError, match="kind must be an EventKind or a non-empty string"):
        Event("a", "", T0)
    with pytest.raises(ValidationError, match="occurred_at must be timezone-aware"):
        Event("a", "login", NAIVE)
    with pytest.raises(ValidationError, match="value must be a finite number, got 'x'"):
        Event("a", "login", T0, "x")


def test_event_valid_examples() -> None:
    assert Event("a", "nps_response", T0, 0).value == 0.0
    assert Event("a", "nps_response", T0, 10).value == 10.0
    ok = Event("a", "support_reply", T0, properties={"channel": "email", "ticket": "T-1"})
    assert ok.properties["ticket"] == "T-1"
    assert Event("a", "purchase", T0, 0).value == 0.0
