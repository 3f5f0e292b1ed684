"""The built-in health rules.

Each rule is a small frozen attrs class whose fields are its documented parameters; it
satisfies :class:`custsuccess.typing.HealthRule`. ``evaluate(dataset, as_of)`` receives
a dataset view that ends at ``as_of`` and returns a
:class:`~custsuccess.typing.RuleResult`: a float64 score per customer in [0, 100] (NaN
where the rule does not apply) and lazily formatted reasons.

Day slots: "the last 30 days" means the 30 rolling 24-hour slots ending at ``as_of``
(slot ``d`` is ``(as_of - (d + 1) days, as_of - d days]``), so a result never depends on
a calendar's time zone.

The rules are registered as plugins by :mod:`custsuccess.builtins.health_rules`; the
formulas and their sources are on the documentation page ``docs/health.md``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.errors import ValidationError
from custsuccess.health._kernels import (
    CUSTOM_KINDS,
    DAY_US,
    NONE_US,
    Named,
    activity,
    age_days,
    as_us,
    clip,
    const,
    custom_kinds,
    distinct_per_customer,
    expand_kinds,
    in_last_days,
    kind_events,
    last_of_kind,
    recent_counts,
    subscriptions,
)
from custsuccess.typing import Reasons, RuleResult

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = [
    "ACTIVITY_KINDS",
    "BUILTIN_RULES",
    "CUSTOM_KINDS",
    "DEFAULT_ACTIVITY_KINDS",
    "BreadthRule",
    "FrequencyRule",
    "NpsRule",
    "OnboardingRule",
    "PaymentFailuresRule",
    "RecencyRule",
    "ReferralsRule",
    "SupportResponsivenessRule",
    "TrendRule",
    "VolumeRule",
]

#: The built-in event kinds that mean "using the product".
DEFAULT_ACTIVITY_KINDS: Final = ("login", "feature_used", "page_view", "time_on_site")
#: What the usage rules count as activity unless told otherwise: the built-in usage kinds
#: and every custom kind (:data:`CUSTOM_KINDS`, ``"*custom"``). A product that reports its
#: own event kinds ("message", "post", ...) is then judged on them instead of looking idle;
#: list the kinds explicitly to count only some.
ACTIVITY_KINDS: Final = (*DEFAULT_ACTIVITY_KINDS, CUSTOM_KINDS)

F64 = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- validators


def _kinds(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    try:
        items = tuple(str(getattr(v, "value", v)) for v in value)
    except TypeError:
        raise ValidationError(f"expected a list of event kinds, got {value!r}") from None
    return items


def _whole(value: Any) -> Any:
    """A whole number of days as int (anything else is left for the validator)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _non_empty(instance: Any, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    if not value or any(not isinstance(v, str) or not v for v in value):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a non-empty list of "
            f"non-empty strings, got {value!r}"
        )


def _number(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a finite number, got {value!r}"
        )


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _number(instance, attribute, value)
    converter: object = attribute.converter
    if converter is _whole and not isinstance(value, int):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a whole number, got {value!r}"
        )
    if value <= 0:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be > 0, got {value!r}"
        )


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _number(instance, attribute, value)
    if value < 0:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be >= 0, got {value!r}"
        )


def _score_value(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _number(instance, attribute, value)
    if not 0 <= value <= 100:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a score from 0 to 100, "
            f"got {value!r}"
        )


def _ordered(instance: Any, low: str, high: str) -> None:
    a, b = getattr(instance, low), getattr(instance, high)
    if not a < b:
        raise ValidationError(
            f"{type(instance).__name__}: {low} ({a!r}) must be less than {high} ({b!r})"
        )


def speaks_custom_only(dataset: Dataset) -> npt.NDArray[np.bool_]:
    """Per customer: it has events of custom kinds and none of the built-in usage kinds
    (:data:`DEFAULT_ACTIVITY_KINDS`). Rules built on built-in milestones or features do
    not apply to such an account: the product reports its own kinds, not those."""
    n = dataset.n_customers
    custom = custom_kinds(dataset)
    out = np.zeros(n, dtype=bool)
    if not custom:
        return out
    out[dataset.events_of(*custom, properties=()).customer] = True
    for kind in DEFAULT_ACTIVITY_KINDS:
        out[kind_events(dataset, kind).customer] = False
    return out


def _linear(x: F64, full: float, zero: float) -> F64:
    """100 at ``x <= full``, 0 at ``x >= zero``, linear between (``full < zero``)."""
    return 100.0 * clip((zero - x) / (zero - full), 0.0, 1.0)


class _Rule(Named):
    """Shared behaviour: ``default_weight`` and the name/description protocol."""

    __slots__ = ()
    DEFAULT_WEIGHT: ClassVar[float]

    @property
    def default_weight(self) -> float:
        """The weight :meth:`HealthModel.default` gives this rule."""
        return self.DEFAULT_WEIGHT


# --------------------------------------------------------------------------- usage


@attrs.frozen(slots=True)
class RecencyRule(_Rule):
    """``usage.recency``: days since the account last used the product.

    Source: "almost every cancellation is preceded by a period in which the app is not
    used" (founding text 1). Formula, with ``d`` the days from the last activity event
    (or, for an account never active, from its ``created_at``) to ``as_of``::

        score = 100 * clip((zero_score_days - d) / (zero_score_days - full_score_days), 0, 1)

    Not applicable to an account created after ``as_of``.

    Attributes
    ----------
    full_score_days
        At or under this many days since the last activity the score is 100 (default 1).
    zero_score_days
        At or over this many days the score is 0 (default 30).
    activity_kinds
        The event kinds that count as activity (default login, feature_used, page_view,
        time_on_site and every custom kind, ``"*custom"``).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("a", t0)], events=[Event("a", "login", t0)])
    >>> as_of = np.datetime64("2024-01-16")  # 15 days later: (30 - 15) / (30 - 1) = 0.517
    >>> r = RecencyRule().evaluate(ds.until(as_of), as_of)
    >>> r.score.round(2).tolist(), r.reasons.format(0)
    ([51.72], 'last activity 15 days ago')
    """

    NAME: ClassVar[str] = "usage.recency"
    DESCRIPTION: ClassVar[str] = "days since the account last used the product"
    DEFAULT_WEIGHT: ClassVar[float] = 3.0
    TEMPLATES: ClassVar[tuple[str, ...]] = (
        "last activity {days:.0f} days ago",
        "no activity for {days:.0f} days",
        "no activity since signup {days:.0f} days ago",
        "active in the last day",
    )

    full_score_days: float = attrs.field(default=1.0, validator=_non_negative)
    zero_score_days: float = attrs.field(default=30.0, validator=_positive)
    activity_kinds: tuple[str, ...] = attrs.field(
        default=ACTIVITY_KINDS, converter=_kinds, validator=_non_empty
    )

    def __attrs_post_init__(self) -> None:
        _ordered(self, "full_score_days", "zero_score_days")

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        now = as_us(as_of)
        act = activity(dataset, now, self.activity_kinds, 1)
        age = age_days(dataset, now)
        never = act.last == NONE_US
        since = np.where(never, now - dataset.customers.created_at.view(np.int64), now - act.last)
        days = since / DAY_US
        score = _linear(days, self.full_score_days, self.zero_score_days)
        score[age < 0] = np.nan
        code = np.where(never, 2, np.where(score <= 0, 1, np.where(days <= 1, 3, 0)))
        code[age < 0] = -1
        return RuleResult(score, Reasons(self.TEMPLATES, code.astype(np.int8), {"days": days}))


def _bands(value: Any) -> tuple[tuple[float, float, str], ...]:
    try:
        bands = tuple((float(b[0]), float(b[1]), str(b[2])) for b in value)
    except (TypeError, ValueError, IndexError, KeyError):
        raise ValidationError(
            "FrequencyRule.bands must be a list of [min_active_days, score, label], "
            f"got {value!r}"
        ) from None
    return bands


def _check_bands(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    mins = [b[0] for b in value]
    if not value or mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
        raise ValidationError(
            "FrequencyRule.bands must list distinct min_active_days from high to low, "
            f"got {value!r}"
        )
    if mins[-1] != 0:
        raise ValidationError(
            f"FrequencyRule.bands: the last band must start at 0 active days, got {value!r}"
        )
    for band in value:
        if not 0 <= band[1] <= 100:
            raise ValidationError(
                f"FrequencyRule.bands: score of band {band[2]!r} must be 0-100, got {band[1]!r}"
            )


@attrs.frozen(slots=True)
class FrequencyRule(_Rule):
    """``usage.frequency``: active days in the last ``window_days``, in usage bands.

    Source: "track how often each account uses the product and put accounts in
    usage-frequency bands" (founding text 1). An active day is a day slot with at least
    one activity event. An account younger than the window is judged on the days it has
    existed::

        equivalent = active_days * window_days / min(window_days, max(1, ceil(age_days)))
        score = score of the first band (highest first) with min_active_days <= equivalent

    Default bands: daily (>= 20 days: 100), weekly (>= 4: 70),
    monthly (>= 1: 35), dormant (0: 0). Not applicable to an account created after
    ``as_of``.

    Attributes
    ----------
    window_days
        Length of the window in day slots (default 30).
    bands
        ``(min_active_days, score, label)`` triples, highest first, the last starting at 0.
    activity_kinds
        The event kinds that count as activity.
    """

    NAME: ClassVar[str] = "usage.frequency"
    DESCRIPTION: ClassVar[str] = "active days in the last 30 days, in usage bands"
    DEFAULT_WEIGHT: ClassVar[float] = 2.0

    window_days: int = attrs.field(default=30, converter=_whole, validator=_positive)
    bands: tuple[tuple[float, float, str], ...] = attrs.field(
        default=((20, 100, "daily"), (4, 70, "weekly"), (1, 35, "monthly"), (0, 0, "dormant")),
        converter=_bands,
        validator=_check_bands,
    )
    activity_kinds: tuple[str, ...] = attrs.field(
        default=ACTIVITY_KINDS, converter=_kinds, validator=_non_empty
    )

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        now = as_us(as_of)
        act = activity(dataset, now, self.activity_kinds, self.window_days)
        active = act.active_days(0, self.window_days).astype(np.float64)
        age = age_days(dataset, now)
        observed = clip(np.ceil(age), 1, self.window_days)
        equivalent = active * self.window_days / observed
        neg_mins, scores, templates = _band_tables(self.bands, self.window_days)
        band = np.searchsorted(neg_mins, -equivalent, side="left")  # first band with min <= eq
        band = np.minimum(band, len(self.bands) - 1)
        score = scores[band]
        code = band.astype(np.int8)
        score[age < 0] = np.nan
        code[age < 0] = -1
        return RuleResult(score, Reasons(templates, code, {"active": active}))


@functools.lru_cache(maxsize=64)
def _band_tables(
    bands: tuple[tuple[float, float, str], ...], window_days: int
) -> tuple[F64, F64, tuple[str, ...]]:
    """FrequencyRule's bands as arrays (minimums negated, for searchsorted; scores) and
    reason templates; read-only."""
    neg_mins = -np.array([b[0] for b in bands], dtype=np.float64)
    scores = np.array([b[1] for b in bands], dtype=np.float64)
    neg_mins.flags.writeable = False
    scores.flags.writeable = False
    templates = tuple(
        f"active {{active:.0f}} of the last {window_days} days ({label})" for _, _, label in bands
    )
    return neg_mins, scores, templates


@attrs.frozen(slots=True)
class TrendRule(_Rule):
    """``usage.trend``: activity in the recent window against the one before it.

    Source: the engagement trend of founding text 1 ("how closely they worked with you")
    and "non-use precedes cancellation": a falling trend warns before recency does.
    With ``recent`` the active days in the last ``recent_days`` and ``previous`` those in
    the ``previous_days`` before::

        ratio = (recent / recent_days) / (previous / previous_days)
        score = 100 * clip((ratio - zero_score_ratio) / (full_score_ratio - zero_score_ratio), 0, 1)

    Not applicable when ``previous`` is 0 (no baseline) or the account is younger than
    ``recent_days + previous_days``.

    Attributes
    ----------
    recent_days
        The recent window, in day slots (default 30).
    previous_days
        The window before it, in day slots (default 60).
    full_score_ratio
        The ratio that scores 100 (default 1.0: no decline).
    zero_score_ratio
        The ratio that scores 0 (default 0.0: stopped).
    activity_kinds
        The event kinds that count as activity.
    """

    NAME: ClassVar[str] = "usage.trend"
    DESCRIPTION: ClassVar[str] = "activity in the last 30 days against the 60 days before"
    DEFAULT_WEIGHT: ClassVar[float] = 1.5
    TEMPLATES: ClassVar[tuple[str, ...]] = (
        "activity steady or up ({change:+.0f}% on the previous period)",
        "activity down {drop:.0f}% on the previous period",
    )

    recent_days: int = attrs.field(default=30, converter=_whole, validator=_positive)
    previous_days: int = attrs.field(default=60, converter=_whole, validator=_positive)
    full_score_ratio: float = attrs.field(default=1.0, validator=_positive)
    zero_score_ratio: float = attrs.field(default=0.0, validator=_non_negative)
    activity_kinds: tuple[str, ...] = attrs.field(
        default=ACTIVITY_KINDS, converter=_kinds, validator=_non_empty
    )

    def __attrs_post_init__(self) -> None:
        _ordered(self, "zero_score_ratio", "full_score_ratio")

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        now = as_us(as_of)
        width = self.recent_days + self.previous_days
        act = activity(dataset, now, self.activity_kinds, width)
        recent = act.active_days(0, self.recent_days).astype(np.float64)
        previous = act.active_days(self.recent_days, width).astype(np.float64)
        applicable = (previous > 0) & (age_days(dataset, now) >= width)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (recent / self.recent_days) / (previous / self.previous_days)
        score = 100.0 * clip(
            (ratio - self.zero_score_ratio) / (self.full_score_ratio - self.zero_score_ratio),
            0.0,
            1.0,
        )
        score[~applicable] = np.nan
        change = (ratio - 1.0) * 100.0
        code = np.where(applicable, np.where(ratio >= 1.0, 0, 1), -1).astype(np.int8)
        return RuleResult(
            score, Reasons(self.TEMPLATES, code, {"change": change, "drop": -change})
        )


@attrs.frozen(slots=True)
class VolumeRule(_Rule):
    """``usage.volume``: how much the account did in the last ``window_days``, on a log scale.

    Source: the churn-analysis literature's workhorse metric, events per month (fat-tailed,
    so log-transformed): active days tell whether an account showed up, the volume tells
    how much of the product it uses, which keeps ranking accounts of a product used every
    day, where nearly everyone is active daily. With ``v`` the activity events in the
    window scaled to a month (by the account's age when it is younger than the window)::

        score = 100 * clip(log1p(v) / log1p(full_score_per_month), 0, 1)

    ``full_score_per_month`` (default 100, about three events a day) is a documented
    assumption about a product's rhythm, not a fact about yours: set it to what a
    thriving account of your product does. Not applicable to an account created after
    ``as_of``.

    Attributes
    ----------
    window_days
        Default 28.
    full_score_per_month
        Events a month that score 100 (default 100).
    activity_kinds
        The event kinds that count (default: the built-in usage kinds and every custom kind).
    """

    NAME: ClassVar[str] = "usage.volume"
    DESCRIPTION: ClassVar[str] = "activity events a month, on a log scale"
    DEFAULT_WEIGHT: ClassVar[float] = 1.0
    TEMPLATES: ClassVar[tuple[str, ...]] = ("{volume:.1f} activity events a month",)

    window_days: int = attrs.field(default=28, converter=_whole, validator=_positive)
    full_score_per_month: float = attrs.field(default=100.0, validator=_positive)
    activity_kinds: tuple[str, ...] = attrs.field(
        default=ACTIVITY_KINDS, converter=_kinds, validator=_non_empty
    )

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        now = as_us(as_of)
        n = dataset.n_customers
        count = np.zeros(n, dtype=np.float64)
        for kind in expand_kinds(dataset, self.activity_kinds):
            count += recent_counts(dataset, kind, now, self.window_days)
        age = age_days(dataset, now)
        observed = clip(age, 1.0, float(self.window_days))
        volume = count * (365.25 / 12) / observed
        score = 100.0 * clip(np.log1p(volume) / math.log1p(self.full_score_per_month), 0.0, 1.0)
        code = np.zeros(n, dtype=np.int8)
        score[age < 0] = np.nan
        code[age < 0] = -1
        return RuleResult(score, Reasons(self.TEMPLATES, code, {"volume": volume}))


# --------------------------------------------------------------------------- onboarding


def _milestones(value: Any) -> tuple[str, ...]:
    return _kinds(value)


@attrs.frozen(slots=True)
class OnboardingRule(_Rule):
    """``onboarding.progress``: activation milestones reached in the first 90 days.

    Source: "the first 90 days are onboarding" (founding text 1) and Viralheat's personal
    onboarding contact (founding text 3). A milestone is an event kind (``"login"``) or a
    feature (``"feature_used:reports"``: a ``feature_used`` event whose ``feature`` is
    ``reports``), reached when the account has such an event at or before ``as_of``.
    With ``m`` milestones, ``reached`` of them reached and ``a`` the account's age in days,
    the account is expected to reach them evenly between ``grace_days`` and
    ``activation_days``::

        expected = m * clip((a - grace_days) / (activation_days - grace_days), 0, 1)
        score = 100 * (1 - max(0, expected - reached) / m)

    Not applicable after ``onboarding_days`` (or before the account exists), nor to an
    account whose events are all of custom kinds while the milestones are built-in kinds:
    milestones its product does not report cannot count against it.

    Attributes
    ----------
    milestones
        Default ``("login", "feature_used", "page_view")``.
    onboarding_days
        Length of onboarding (default 90).
    grace_days
        Nothing is due before this day (default 3).
    activation_days
        Every milestone is due by this day (default 30); they are due evenly between.
    """

    NAME: ClassVar[str] = "onboarding.progress"
    DESCRIPTION: ClassVar[str] = "activation milestones reached during the first 90 days"
    DEFAULT_WEIGHT: ClassVar[float] = 1.5
    TEMPLATES: ClassVar[tuple[str, ...]] = (
        "{reached:.0f} of {total:.0f} activation milestones reached on day {day:.0f}",
        "{reached:.0f} of {total:.0f} activation milestones reached on day {day:.0f}, "
        "behind ({expected:.1f} expected)",
    )

    milestones: tuple[str, ...] = attrs.field(
        default=("login", "feature_used", "page_view"), converter=_milestones,
        validator=_non_empty,
    )
    onboarding_days: float = attrs.field(default=90.0, validator=_positive)
    grace_days: float = attrs.field(default=3.0, validator=_non_negative)
    activation_days: float = attrs.field(default=30.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        _ordered(self, "grace_days", "activation_days")

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        now = as_us(as_of)
        n = dataset.n_customers
        age = age_days(dataset, now)
        m = float(len(self.milestones))
        applicable = (age >= 0) & (age <= self.onboarding_days)
        if not applicable.any():  # nobody is onboarding: no events to read
            details = {"reached": const(0.0, n), "total": const(m, n), "day": np.floor(age),
                       "expected": const(math.nan, n)}
            return RuleResult(
                np.full(n, np.nan), Reasons(self.TEMPLATES, np.full(n, -1, np.int8), details)
            )
        reached = np.zeros(n, dtype=np.float64)
        for milestone in self.milestones:
            kind, _, feature = milestone.partition(":")
            if feature:
                ev = kind_events(dataset, kind)
                wanted = ev.property("feature").code_of(feature)
                cust = (
                    ev.customer[ev.property("feature").codes == wanted]
                    if wanted >= 0
                    else np.empty(0, dtype=np.int32)
                )
            else:
                cust = kind_events(dataset, kind).customer
            hit = np.zeros(n, dtype=bool)
            hit[cust] = True
            reached += hit
        if any(m.partition(":")[0] in DEFAULT_ACTIVITY_KINDS for m in self.milestones):
            applicable &= ~speaks_custom_only(dataset)
        idx = applicable.nonzero()[0]
        a = age[idx]
        due = clip((a - self.grace_days) / (self.activation_days - self.grace_days), 0, 1)
        expected = np.full(n, np.nan)
        expected[idx] = m * due
        shortfall = np.maximum(0.0, expected[idx] - reached[idx])
        score = np.full(n, np.nan)
        score[idx] = 100.0 * (1.0 - shortfall / m)
        code = np.full(n, -1, dtype=np.int8)
        code[idx] = shortfall > 0
        details = {
            "reached": reached,
            "total": const(m, n),
            "day": np.floor(age),
            "expected": expected,
        }
        return RuleResult(score, Reasons(self.TEMPLATES, code, details))


# --------------------------------------------------------------------------- survey


@attrs.frozen(slots=True)
class NpsRule(_Rule):
    """``survey.nps``: the latest NPS answer, fading to neutral as it ages.

    Source: "how likely are you to recommend us, 0-10", promoters 9-10, passives 7-8,
    detractors 0-6, asked each quarter (founding text 1). With ``base`` the score of the
    latest answer's group and ``a`` its age in days::

        score = neutral + (base - neutral) * 0.5 ** (a / half_life_days)

    Not applicable without an answer, or when the latest is older than ``max_age_days``.

    Attributes
    ----------
    promoter_score
        Score of a promoter's answer, 9-10 (default 100).
    passive_score
        Score of a passive's answer, 7-8 (default 50).
    detractor_score
        Score of a detractor's answer, 0-6 (default 0).
    neutral
        What an old answer fades to (default 50).
    half_life_days
        Age at which an answer counts half (default 90: a quarter).
    max_age_days
        Older answers are ignored (default 365).
    """

    NAME: ClassVar[str] = "survey.nps"
    DESCRIPTION: ClassVar[str] = "the latest NPS answer, decaying with age"
    DEFAULT_WEIGHT: ClassVar[float] = 1.0
    TEMPLATES: ClassVar[tuple[str, ...]] = (
        "promoter (answered {answer:.0f}) {days:.0f} days ago",
        "passive (answered {answer:.0f}) {days:.0f} days ago",
        "detractor (answered {answer:.0f}) {days:.0f} days ago",
    )

    promoter_score: float = attrs.field(default=100.0, validator=_score_value)
    passive_score: float = attrs.field(default=50.0, validator=_score_value)
    detractor_score: float = attrs.field(default=0.0, validator=_score_value)
    neutral: float = attrs.field(default=50.0, validator=_score_value)
    half_life_days: float = attrs.field(default=90.0, validator=_positive)
    max_age_days: float = attrs.field(default=365.0, validator=_positive)

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        now = as_us(as_of)
        n = dataset.n_customers
        ev = kind_events(dataset, "nps_response")
        last = last_of_kind(dataset, "nps_response")
        who = (last >= 0).nonzero()[0]
        at = last[who]
        days_who = (now - ev.time.view(np.int64)[at]) / DAY_US
        keep = days_who <= self.max_age_days
        who, at, days_who = who[keep], at[keep], days_who[keep]
        answer_who = ev.value[at]
        group = np.where(answer_who >= 9, 0, np.where(answer_who >= 7, 1, 2))
        base = np.array([self.promoter_score, self.passive_score, self.detractor_score])[group]
        score = np.full(n, np.nan)
        score[who] = self.neutral + (base - self.neutral) * 0.5 ** (days_who / self.half_life_days)
        code = np.full(n, -1, dtype=np.int8)
        code[who] = group
        answer = np.full(n, np.nan)
        answer[who] = answer_who
        days = np.full(n, np.nan)
        days[who] = days_who
        return RuleResult(score, Reasons(self.TEMPLATES, code, {"answer": answer, "days": days}))


# --------------------------------------------------------------------------- support

_CHANNELS: Final = ("phone", "chat", "email", "social")


def _channel_targets(value: Any) -> tuple[tuple[str, float, float], ...]:
    """``{channel: (target, limit)}`` (or such pairs) as a sorted tuple of triples."""
    if isinstance(value, (tuple, list)) and all(
        isinstance(v, (tuple, list)) and len(v) == 3 for v in value
    ):  # as to_config writes it: [[name, target, limit], ...]
        items = [(v[0], (v[1], v[2])) for v in value]
    elif isinstance(value, dict) or hasattr(value, "items"):
        items = list(value.items())
    else:
        raise ValidationError(
            "SupportResponsivenessRule.channel_targets must map a channel name to "
            f"(target minutes, limit minutes), got {value!r}"
        )
    out = []
    for name, pair in items:
        label = f"SupportResponsivenessRule.channel_targets[{name!r}]"
        if not isinstance(name, str) or not name.strip() or name in _CHANNELS:
            raise ValidationError(
                f"{label}: the channel must be a name other than the built-in {_CHANNELS} "
                "(those have their own parameters)"
            )
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValidationError(f"{label} must be (target minutes, limit minutes), got {pair!r}")
        target, limit = pair
        for x in (target, limit):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise ValidationError(f"{label} must hold finite numbers, got {pair!r}")
        if not 0 < target < limit:
            raise ValidationError(f"{label}: need 0 < target < limit, got {pair!r}")
        out.append((name, float(target), float(limit)))
    return tuple(sorted(out))



@attrs.frozen(slots=True)
class SupportResponsivenessRule(_Rule):
    """``support.responsiveness``: first-response time per channel against targets.

    Source: average response time split by channel (founding text 4): 53% of customers
    accept 3 minutes on the phone; email is expected within one business day and 50% give
    up to a week before a negative impression forms; chat is expected to be the fastest
    (1 minute here); social media has no figure in the texts (1 hour assumed, the
    "wished-for" email time).

    Each ``support_request`` in the last ``window_days`` is paired with the first
    ``support_reply`` of the same customer and ``ticket`` at or after it. Its response
    time ``r`` is reply - request; a request still unanswered at ``as_of`` counts with
    ``r = as_of - request`` once past its target (before that it is pending and left
    out). Email is measured in business days (``numpy.busday_count`` between the UTC
    dates, Monday-Friday), the other channels in minutes. Per request::

        s = 100 * clip((limit - r) / (limit - target), 0, 1)

    and the account's score is the mean of ``s`` over its requests. Not applicable
    without a counted request.

    Attributes
    ----------
    phone_target_minutes
        Default 3.
    phone_limit_minutes
        Default 30.
    chat_target_minutes
        Default 1.
    chat_limit_minutes
        Default 10.
    email_target_business_days
        Default 1.
    email_limit_business_days
        Default 5 (a working week).
    social_target_minutes
        Default 60.
    social_limit_minutes
        Default 1440.
    window_days
        Requests made in the last ``window_days`` count (default 90).
    channel_targets
        Targets for any other channel, in minutes: a mapping of channel name to
        ``(target, limit)``, e.g. ``{"sms": (60, 1440), "in_person": (10, 60)}``. Requests
        on a channel with no target are not counted (default: none).
    """

    NAME: ClassVar[str] = "support.responsiveness"
    DESCRIPTION: ClassVar[str] = "first-response time per support channel against targets"
    DEFAULT_WEIGHT: ClassVar[float] = 1.0
    TEMPLATES: ClassVar[tuple[str, ...]] = (
        "all {requests:.0f} support requests answered within target",
        "{late:.0f} of {requests:.0f} support requests answered late",
        "{unanswered:.0f} of {requests:.0f} support requests unanswered past target, "
        "{late:.0f} late or unanswered in all",
    )

    phone_target_minutes: float = attrs.field(default=3.0, validator=_positive)
    phone_limit_minutes: float = attrs.field(default=30.0, validator=_positive)
    chat_target_minutes: float = attrs.field(default=1.0, validator=_positive)
    chat_limit_minutes: float = attrs.field(default=10.0, validator=_positive)
    email_target_business_days: float = attrs.field(default=1.0, validator=_non_negative)
    email_limit_business_days: float = attrs.field(default=5.0, validator=_positive)
    social_target_minutes: float = attrs.field(default=60.0, validator=_positive)
    social_limit_minutes: float = attrs.field(default=1440.0, validator=_positive)
    window_days: float = attrs.field(default=90.0, validator=_positive)
    channel_targets: tuple[tuple[str, float, float], ...] = attrs.field(
        default=(), converter=_channel_targets
    )

    def __attrs_post_init__(self) -> None:
        _ordered(self, "phone_target_minutes", "phone_limit_minutes")
        _ordered(self, "chat_target_minutes", "chat_limit_minutes")
        _ordered(self, "email_target_business_days", "email_limit_business_days")
        _ordered(self, "social_target_minutes", "social_limit_minutes")

    def _targets(self) -> tuple[F64, F64]:
        extra = self.channel_targets
        return _target_arrays(
            (self.phone_target_minutes, self.chat_target_minutes,
             self.email_target_business_days, self.social_target_minutes,
             *(t for _, t, _ in extra)),
            (self.phone_limit_minutes, self.chat_limit_minutes,
             self.email_limit_business_days, self.social_limit_minutes,
             *(lim for _, _, lim in extra)),
        )

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        now = as_us(as_of)
        n = dataset.n_customers
        req = kind_events(dataset, "support_request")
        rep = kind_events(dataset, "support_reply")
        rt = req.time.view(np.int64)
        in_window = rt > now - self.window_days * DAY_US
        req_cust = req.customer[in_window]
        req_time = rt[in_window]
        ticket = req.property("ticket")
        req_ticket = ticket.codes[in_window].astype(np.int64)
        channel = req.property("channel")
        extra_names = tuple(name for name, _, _ in self.channel_targets)
        req_channel = _channel_lookup(channel.categories, extra_names)[channel.codes[in_window]]
        # pair each request with the first reply of the same (customer, ticket) at/after it
        m = req_time.size
        reply_time = np.full(m, NONE_US, dtype=np.int64)
        rep_time = rep.time.view(np.int64)
        if m and len(rep) > 4096:
            # only replies at or after the earliest request counted can pair with one
            rep = rep.take(np.flatnonzero(rep_time >= req_time.min()))
        if m and len(rep):
            rep_tickets = rep.property("ticket")
            # ticket codes come from one dataset-wide column, so they agree between kinds
            # (the same categories); otherwise remap through the category names.
            if rep_tickets.categories is ticket.categories:
                rep_ticket = rep_tickets.codes.astype(np.int64)
            else:
                rep_ticket = _remap(rep_tickets.categories, ticket.categories)[rep_tickets.codes]
            k = len(ticket.categories) + 1
            key = np.concatenate([
                req_cust.astype(np.int64) * k + req_ticket,
                rep.customer.astype(np.int64) * k + rep_ticket,
            ])
            time = np.concatenate([req_time, rep.time.view(np.int64)])
            is_reply = np.arange(m + len(rep)) >= m
            order = np.lexsort((is_reply, time, key))
            s_reply = is_reply[order]
            pos = np.arange(order.size)
            nxt = np.where(s_reply, pos, order.size)
            nxt = np.minimum.accumulate(nxt[::-1])[::-1]
            s_key = key[order]
            s_time = time[order]
            req_pos = (~s_reply).nonzero()[0]
            q = nxt[req_pos]
            ok = q < order.size
            ok[ok] &= s_key[q[ok]] == s_key[req_pos[ok]]
            which = order[req_pos]  # original request row (0..m-1)
            reply_time[which[ok]] = s_time[q[ok]]
        answered = reply_time != NONE_US
        end = np.where(answered, reply_time, now)
        minutes = (end - req_time) / 60_000_000
        is_email = req_channel == 2
        elapsed = minutes.copy()
        if is_email.any():
            d0 = req_time[is_email].view("datetime64[us]").astype("datetime64[D]")
            d1 = end[is_email].view("datetime64[us]").astype("datetime64[D]")
            elapsed[is_email] = np.busday_count(d0, d1)
        target, limit = self._targets()
        t, lim = target[req_channel], limit[req_channel]
        # a channel without a target (NaN) is not judged
        counted = (answered | (elapsed > t)) & ~np.isnan(t)
        per = 100.0 * clip((lim - elapsed) / (lim - t), 0.0, 1.0)
        cust = req_cust[counted]
        requests = np.bincount(cust, minlength=n).astype(np.float64)
        total = np.bincount(cust, weights=per[counted], minlength=n)
        late = np.bincount(cust, weights=(per[counted] < 100.0), minlength=n)
        unanswered = np.bincount(cust, weights=~answered[counted], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = total / requests
        applicable = requests > 0
        score[~applicable] = np.nan
        code = (late > 0).astype(np.int8)
        code[unanswered > 0] = 2
        code[~applicable] = -1
        details = {"requests": requests, "late": late, "unanswered": unanswered}
        return RuleResult(score, Reasons(self.TEMPLATES, code, details))


@functools.lru_cache(maxsize=64)
def _target_arrays(
    targets: tuple[float, ...], limits: tuple[float, ...]
) -> tuple[F64, F64]:
    """Target and limit per channel index (NaN for an unknown channel), read-only."""
    target = np.array([*targets, np.nan])
    limit = np.array([*limits, np.nan])
    target.flags.writeable = False
    limit.flags.writeable = False
    return target, limit


@functools.lru_cache(maxsize=64)
def _channel_lookup(
    categories: tuple[str, ...], extra: tuple[str, ...] = ()
) -> npt.NDArray[np.intp]:
    """Channel categories -> index into ``_CHANNELS + extra`` (the length of both:
    unknown), with a trailing unknown for code -1. Cached: the categories of a dataset's
    channel column do not change."""
    known = _CHANNELS + extra
    unknown = len(known)
    lookup = np.array(
        [known.index(c) if c in known else unknown for c in categories] + [unknown],
        dtype=np.intp,
    )
    lookup.flags.writeable = False
    return lookup


def _remap(source: Sequence[str], target: Sequence[str]) -> npt.NDArray[np.int64]:
    """Codes in ``source`` categories -> codes in ``target`` (-1 when absent), with a
    trailing -1 so that code -1 maps to -1."""
    if source is target or tuple(source) == tuple(target):
        return np.append(np.arange(len(source), dtype=np.int64), -1)
    where = {c: i for i, c in enumerate(target)}
    return np.array([where.get(c, -1) for c in source] + [-1], dtype=np.int64)


# --------------------------------------------------------------------------- billing


@attrs.frozen(slots=True)
class PaymentFailuresRule(_Rule):
    """``billing.payment_failures``: failed payments in the last ``window_days``.

    Source: a paying customer whose payments fail is at risk of involuntary churn
    (revenue-churn practice; the texts count every lost customer). With ``k`` the
    ``payment_failed`` events in the window::

        score = 100 * max(0, 1 - k / zero_score_failures)

    Not applicable to an account without a subscription started by ``as_of`` and
    without payment failures (nothing is billed).

    Attributes
    ----------
    window_days
        Default 90.
    zero_score_failures
        This many failures or more score 0 (default 3).
    """

    NAME: ClassVar[str] = "billing.payment_failures"
    DESCRIPTION: ClassVar[str] = "failed payments in the last 90 days"
    DEFAULT_WEIGHT: ClassVar[float] = 1.0
    TEMPLATES: ClassVar[tuple[str, ...]] = (
        "no failed payments in the last {window:.0f} days",
        "{failures:.0f} failed payments in the last {window:.0f} days",
        "1 failed payment in the last {window:.0f} days",
    )

    window_days: float = attrs.field(default=90.0, validator=_positive)
    zero_score_failures: float = attrs.field(default=3.0, validator=_positive)

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        now = as_us(as_of)
        n = dataset.n_customers
        ev = kind_events(dataset, "payment_failed")
        failures = recent_counts(dataset, "payment_failed", now, self.window_days)
        billed = np.zeros(n, dtype=bool)
        billed[subscriptions(dataset).customer] = True
        billed[ev.customer] = True
        score = 100.0 * np.maximum(0.0, 1.0 - failures / self.zero_score_failures)
        score[~billed] = np.nan
        code = np.where(billed, np.where(failures > 1, 1, np.where(failures == 1, 2, 0)), -1)
        code = code.astype(np.int8)
        details = {"failures": failures, "window": const(float(self.window_days), n)}
        return RuleResult(score, Reasons(self.TEMPLATES, code, details))


# --------------------------------------------------------------------------- advocacy


@attrs.frozen(slots=True)
class ReferralsRule(_Rule):
    """``advocacy.referrals``: referrals made in the last ``window_days``.

    Source: customer referrals as a KPI of satisfaction (founding text 4) and referral
    programmes as a retention tool (founding text 2). A referral is evidence of health,
    but most healthy customers never refer, so an account without one is left out
    (not applicable) rather than marked down. With ``k >= 1`` referrals::

        score = 100 * min(1, 0.5 + 0.5 * k / full_score_referrals)

    Attributes
    ----------
    window_days
        Default 365.
    full_score_referrals
        Referrals for a score of 100 (default 2; one referral scores 75).
    """

    NAME: ClassVar[str] = "advocacy.referrals"
    DESCRIPTION: ClassVar[str] = "referrals made in the last year"
    DEFAULT_WEIGHT: ClassVar[float] = 0.5
    TEMPLATES: ClassVar[tuple[str, ...]] = (
        "{referrals:.0f} referrals in the last {window:.0f} days",
        "1 referral in the last {window:.0f} days",
    )

    window_days: float = attrs.field(default=365.0, validator=_positive)
    full_score_referrals: float = attrs.field(default=2.0, validator=_positive)

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        now = as_us(as_of)
        n = dataset.n_customers
        k = recent_counts(dataset, "referral", now, self.window_days)
        score = 100.0 * np.minimum(1.0, 0.5 + 0.5 * k / self.full_score_referrals)
        score[k == 0] = np.nan
        code = np.where(k > 1, 0, np.where(k == 1, 1, -1)).astype(np.int8)
        details = {"referrals": k, "window": const(float(self.window_days), n)}
        return RuleResult(score, Reasons(self.TEMPLATES, code, details))


# --------------------------------------------------------------------------- adoption


def _features(value: Any) -> tuple[str, ...]:
    return () if value is None else _kinds(value)


def _optional_positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _positive(instance, attribute, value)


@attrs.frozen(slots=True)
class BreadthRule(_Rule):
    """``adoption.breadth``: distinct features used against the features the host lists.

    Source: post-conversion activity as a satisfaction KPI (founding text 4) and "define
    your own success parameters" (founding text 1): an account that uses more of the
    product is more embedded in it. With ``u`` the distinct ``feature`` values of the
    account's ``feature_used`` events in the last ``window_days`` (only the listed
    ``features`` count when a list is given)::

        score = 100 * min(1, u / target)

    ``target`` defaults to the number of listed features, or 5 without a list. Not
    applicable to accounts younger than ``min_age_days``, nor to an account whose events
    are all of custom kinds (its product does not report ``feature_used``).

    Attributes
    ----------
    features
        The features that matter (default: any feature counts).
    target
        Distinct features for a score of 100.
    window_days
        Default 90.
    min_age_days
        Default 14.
    """

    NAME: ClassVar[str] = "adoption.breadth"
    DESCRIPTION: ClassVar[str] = "distinct features used against the features that matter"
    DEFAULT_WEIGHT: ClassVar[float] = 1.0
    TEMPLATES: ClassVar[tuple[str, ...]] = (
        "used {used:.0f} of {target:.0f} features in the last {window:.0f} days",
    )

    features: tuple[str, ...] = attrs.field(default=(), converter=_features)
    target: float | None = attrs.field(default=None, validator=_optional_positive)
    window_days: float = attrs.field(default=90.0, validator=_positive)
    min_age_days: float = attrs.field(default=14.0, validator=_non_negative)

    @property
    def effective_target(self) -> float:
        if self.target is not None:
            return float(self.target)
        return float(len(self.features)) if self.features else 5.0

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        now = as_us(as_of)
        n = dataset.n_customers
        ev = kind_events(dataset, "feature_used")
        recent = in_last_days(ev, now, self.window_days)
        feature = ev.property("feature")
        codes = feature.codes[recent].astype(np.int64)
        cust = ev.customer[recent]
        if self.features:
            lookup = _remap(feature.categories, sorted(set(self.features)))
            codes = lookup[codes]
            keep = codes >= 0
            codes, cust = codes[keep], cust[keep]
            n_codes = len(set(self.features))
        else:
            n_codes = len(feature.categories)
        used = distinct_per_customer(cust, codes, n, n_codes).astype(np.float64)
        target = self.effective_target
        score = 100.0 * np.minimum(1.0, used / target)
        applicable = (age_days(dataset, now) >= self.min_age_days) & ~speaks_custom_only(dataset)
        score[~applicable] = np.nan
        code = np.where(applicable, 0, -1).astype(np.int8)
        details = {
            "used": used,
            "target": const(target, n),
            "window": const(float(self.window_days), n),
        }
        return RuleResult(score, Reasons(self.TEMPLATES, code, details))


#: The built-in rule classes, in registration order.
BUILTIN_RULES: Final[tuple[type[Any], ...]] = (
    RecencyRule,
    FrequencyRule,
    TrendRule,
    VolumeRule,
    OnboardingRule,
    NpsRule,
    SupportResponsivenessRule,
    PaymentFailuresRule,
    ReferralsRule,
    BreadthRule,
)


def builtin_rules() -> list[Any]:
    """One instance of every built-in rule, with default parameters."""
    return [cls() for cls in BUILTIN_RULES]
