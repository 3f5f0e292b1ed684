"""Health rules about the users inside an account: stickiness (DAU/MAU), breadth, seat
utilisation and the champion gone quiet.

They read :func:`custsuccess.metrics.users.user_activity` (one whole-array pass shared
by the four rules of a scoring call) and are registered as built-in plugins by
:mod:`custsuccess.builtins.health_rules`. Their default weight is 0: they need events
that carry a ``user_id`` (and, for seat utilisation, a ``seats`` attribute), so a host
switches them on with a weight in its health config, e.g.
``{"rules": {"users.champion": {"weight": 2}}}``. Where an account has no user data the
rules return NaN (not applicable), so switching them on never penalises an account for
data it does not send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.errors import ValidationError
from custsuccess.health._kernels import Named, _cached, clip
from custsuccess.typing import Reasons, RuleResult

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset
    from custsuccess.metrics.users import UserActivity

__all__ = [
    "USER_RULES",
    "BreadthOfUsersRule",
    "ChampionRule",
    "SeatUtilisationRule",
    "StickinessRule",
]

F64 = npt.NDArray[np.float64]


def _fraction(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value <= 1
    ):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a number in (0, 1], "
            f"got {value!r}"
        )


def _activity(dataset: Dataset, as_of: np.datetime64, seats_attribute: str) -> UserActivity:
    from custsuccess.metrics.users import user_activity

    return _cached(
        dataset,
        ("user_activity", seats_attribute),
        lambda: user_activity(dataset, as_of=as_of, seats_attribute=seats_attribute),
    )


class _UserRule(Named):
    __slots__ = ()
    DEFAULT_WEIGHT: ClassVar[float] = 0.0

    @property
    def default_weight(self) -> float:
        """0: switched on by the host once its events carry ``user_id``."""
        return self.DEFAULT_WEIGHT


def _ratio_rule(
    value: F64, full: float, templates: tuple[str, str], detail: str
) -> RuleResult:
    score = 100.0 * clip(value / full, 0.0, 1.0)
    codes = np.where(np.isnan(value), -1, np.where(value >= full, 1, 0)).astype(np.int8)
    return RuleResult(score, Reasons(templates, codes, {detail: value}))


@attrs.frozen(slots=True)
class StickinessRule(_UserRule):
    """``users.stickiness``: DAU/MAU of the account's users over the last 30 days.

    ``score = 100 * clip(dau_mau / full_score_at, 0, 1)``; NaN where no user was active
    in 30 days (the recency rules speak for those accounts).
    """

    NAME: ClassVar[str] = "users.stickiness"
    DESCRIPTION: ClassVar[str] = "DAU/MAU of the account's users"
    full_score_at: float = attrs.field(default=0.2, validator=_fraction)

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        ua = _activity(dataset, as_of, "seats")
        return _ratio_rule(
            ua.dau_mau,
            self.full_score_at,
            ("DAU/MAU {dau_mau:.0%}, below the target", "DAU/MAU {dau_mau:.0%}"),
            "dau_mau",
        )


@attrs.frozen(slots=True)
class BreadthOfUsersRule(_UserRule):
    """``users.breadth``: the share of the account's known users active in 30 days.

    ``score = 100 * clip(breadth / full_score_at, 0, 1)``; NaN with no known user.
    """

    NAME: ClassVar[str] = "users.breadth"
    DESCRIPTION: ClassVar[str] = "share of the account's users active in the last 30 days"
    full_score_at: float = attrs.field(default=0.6, validator=_fraction)

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        ua = _activity(dataset, as_of, "seats")
        return _ratio_rule(
            ua.breadth,
            self.full_score_at,
            ("{breadth:.0%} of users active in 30 days", "{breadth:.0%} of users active"),
            "breadth",
        )


@attrs.frozen(slots=True)
class SeatUtilisationRule(_UserRule):
    """``users.seat_utilisation``: monthly active users / seats bought.

    ``score = 100 * clip(utilisation / full_score_at, 0, 1)``; NaN where the account has
    no ``seats_attribute`` (or 0 seats).
    """

    NAME: ClassVar[str] = "users.seat_utilisation"
    DESCRIPTION: ClassVar[str] = "monthly active users per seat bought"
    full_score_at: float = attrs.field(default=0.8, validator=_fraction)
    seats_attribute: str = attrs.field(default="seats")

    @seats_attribute.validator
    def _check_attribute(self, attribute: attrs.Attribute[str], value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise ValidationError(
                f"SeatUtilisationRule.seats_attribute must be a non-empty string, got {value!r}"
            )

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        ua = _activity(dataset, as_of, self.seats_attribute)
        return _ratio_rule(
            ua.seat_utilisation,
            self.full_score_at,
            ("{utilisation:.0%} of seats used", "{utilisation:.0%} of seats used"),
            "utilisation",
        )


@attrs.frozen(slots=True)
class ChampionRule(_UserRule):
    """``users.champion``: is the account's most active user of the 90 days before the
    last 30 still active?

    100 when the champion was active in the last 30 days, ``quiet_score`` (default 0)
    when not; NaN where the account had no active user in that window.
    """

    NAME: ClassVar[str] = "users.champion"
    DESCRIPTION: ClassVar[str] = "the account's most active user has gone quiet"
    quiet_score: float = attrs.field(default=0.0)

    @quiet_score.validator
    def _check_score(self, attribute: attrs.Attribute[float], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0 <= value <= 100
        ):
            raise ValidationError(
                f"ChampionRule.quiet_score must be a score from 0 to 100, got {value!r}"
            )

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        ua = _activity(dataset, as_of, "seats")
        has = ua.champion != None  # noqa: E711 (elementwise on an object array)
        score = np.where(has, np.where(ua.champion_quiet, float(self.quiet_score), 100.0), np.nan)
        codes = np.where(has, np.where(ua.champion_quiet, 0, 1), -1).astype(np.int8)
        names = np.where(has, ua.champion, "").astype(str)
        return RuleResult(
            score.astype(np.float64),
            Reasons(
                (
                    "champion {champion} quiet for {days:.0f} days",
                    "champion {champion} active",
                ),
                codes,
                {"champion": names, "days": ua.champion_quiet_days},
            ),
        )


#: The user rules, in registration order.
USER_RULES: Final = (StickinessRule, BreadthOfUsersRule, SeatUtilisationRule, ChampionRule)
