"""The built-in playbooks: recommended next actions, by tier and usage pattern.

Source: founding text 1, lifecycle marketing: "treat tiers differently: send success
stories to irregular users, call those who started and then vanished, ask active users
for surveys and referrals", and founding text 3's personal onboarding contact. Each is a
small frozen attrs class satisfying :class:`custsuccess.typing.Playbook`; its
``recommend(dataset, report)`` returns one boolean per row of the report (row ``i`` is
customer ``report.index[i]`` of ``dataset``, the view the report was scored on).

Usage figures (active days, last activity) come from the same activity kernel as the
usage rules, shared within one scoring call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.health._kernels import (
    DAY_US,
    NONE_US,
    Named,
    _cached,
    activity,
    as_us,
    kind_events,
    last_of_kind,
    recent_counts,
)
from custsuccess.health.rules import (
    DEFAULT_ACTIVITY_KINDS,
    _kinds,
    _non_negative,
    _positive,
    _whole,
)

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset
    from custsuccess.health.report import HealthReport

__all__ = [
    "BUILTIN_PLAYBOOKS",
    "OnboardingHelp",
    "PersonalCall",
    "ReactivationOutreach",
    "ReferralAsk",
    "SuccessStories",
    "SurveyAsk",
]

Bool = npt.NDArray[np.bool_]


class _Playbook(Named):
    __slots__ = ()
    PRIORITY: ClassVar[int]

    @property
    def priority(self) -> int:
        return self.PRIORITY


def _usage(
    dataset: Dataset, report: HealthReport, kinds: tuple[str, ...], window: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], Bool]:
    """Per report row: active days in the last ``window`` days, days since the last
    activity (inf when never active) and whether the account was ever active."""
    key = ("usage", kinds, window, id(report.index))
    _rows, result = _cached(
        dataset, key, lambda: (report.index, _compute_usage(dataset, report, kinds, window))
    )
    return result


def _compute_usage(
    dataset: Dataset, report: HealthReport, kinds: tuple[str, ...], window: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], Bool]:
    now = as_us(report.as_of)
    act = activity(dataset, now, kinds, window)
    rows = report.index
    active = act.active_days(0, window)[rows]
    last = act.last[rows]
    ever = last != NONE_US
    days = np.where(ever, (now - last) / DAY_US, np.inf)
    return active, days, ever


@attrs.frozen(slots=True)
class OnboardingHelp(_Playbook):
    """``onboarding.help``: new accounts behind on activation get a personal onboarding
    contact (Viralheat's programme, founding text 3).

    Recommended when the ``onboarding.progress`` rule applies and scores below
    ``below`` (default 60).
    """

    NAME: ClassVar[str] = "onboarding.help"
    DESCRIPTION: ClassVar[str] = "personal onboarding help for a new account behind on activation"
    PRIORITY: ClassVar[int] = 10

    below: float = attrs.field(default=60.0, validator=_non_negative)

    def recommend(self, dataset: Dataset, report: HealthReport) -> Bool:
        s = report.rule_score("onboarding.progress")
        with np.errstate(invalid="ignore"):
            out: Bool = s < self.below
        return out


@attrs.frozen(slots=True)
class PersonalCall(_Playbook):
    """``personal.call``: accounts that started and then vanished get a call.

    Recommended when the account was active on at least ``min_active_days`` (default 2)
    day slots of its history window (``lookback_days``, default 365: it *started*), has
    had no activity for ``silent_days`` (default 14: it *vanished*), and is not in the
    good tier. The window is a year so that an account silent for months, the likeliest
    to cancel, still gets its call.
    """

    NAME: ClassVar[str] = "personal.call"
    DESCRIPTION: ClassVar[str] = "call an account that started using the product and vanished"
    PRIORITY: ClassVar[int] = 20

    silent_days: float = attrs.field(default=14.0, validator=_positive)
    min_active_days: int = attrs.field(default=2, converter=_whole, validator=_positive)
    lookback_days: int = attrs.field(default=365, converter=_whole, validator=_positive)
    activity_kinds: tuple[str, ...] = attrs.field(default=DEFAULT_ACTIVITY_KINDS, converter=_kinds)

    def recommend(self, dataset: Dataset, report: HealthReport) -> Bool:
        active, days, ever = _usage(dataset, report, self.activity_kinds, self.lookback_days)
        out: Bool = (
            ever
            & (active >= self.min_active_days)
            & (days >= self.silent_days)
            & (report.tier_code != 0)
        )
        return out


@attrs.frozen(slots=True)
class ReactivationOutreach(_Playbook):
    """``reactivation.outreach``: poor accounts that never really started, or whose last
    use is beyond ``personal.call``'s year, get a re-onboarding outreach.

    Recommended for poor-tier accounts with no activity in the last ``silent_days``
    (default 14) and fewer than ``min_active_days`` (default 2) active day slots in the
    last ``lookback_days`` (default 365): exactly the silent poor accounts that
    ``personal.call`` (same defaults) leaves out, so that every silent poor account has an
    action ("call those who started and then vanished", founding text 1, extended to
    those who never started).
    """

    NAME: ClassVar[str] = "reactivation.outreach"
    DESCRIPTION: ClassVar[str] = (
        "re-onboarding outreach to a poor account that never started or went silent long ago"
    )
    PRIORITY: ClassVar[int] = 25

    silent_days: float = attrs.field(default=14.0, validator=_positive)
    min_active_days: int = attrs.field(default=2, converter=_whole, validator=_positive)
    lookback_days: int = attrs.field(default=365, converter=_whole, validator=_positive)
    activity_kinds: tuple[str, ...] = attrs.field(default=DEFAULT_ACTIVITY_KINDS, converter=_kinds)

    def recommend(self, dataset: Dataset, report: HealthReport) -> Bool:
        active, days, _ = _usage(dataset, report, self.activity_kinds, self.lookback_days)
        out: Bool = (
            (report.tier_code == 2) & (days >= self.silent_days) & (active < self.min_active_days)
        )
        return out


@attrs.frozen(slots=True)
class SuccessStories(_Playbook):
    """``success.stories``: irregular users get success stories.

    Recommended when the account was active on 1 to ``regular_days - 1`` (default 1-7)
    of the last ``window_days`` (30) day slots and was active in the last
    ``silent_days`` (14): it uses the product, but not regularly.
    """

    NAME: ClassVar[str] = "success.stories"
    DESCRIPTION: ClassVar[str] = "send success stories to an account using the product irregularly"
    PRIORITY: ClassVar[int] = 30

    regular_days: int = attrs.field(default=8, converter=_whole, validator=_positive)
    window_days: int = attrs.field(default=30, converter=_whole, validator=_positive)
    silent_days: float = attrs.field(default=14.0, validator=_positive)
    activity_kinds: tuple[str, ...] = attrs.field(default=DEFAULT_ACTIVITY_KINDS, converter=_kinds)

    def recommend(self, dataset: Dataset, report: HealthReport) -> Bool:
        active, days, _ = _usage(dataset, report, self.activity_kinds, self.window_days)
        out: Bool = (active >= 1) & (active < self.regular_days) & (days < self.silent_days)
        return out


def _recent_kind(dataset: Dataset, report: HealthReport, kind: str, window_days: float) -> Bool:
    counts = recent_counts(dataset, kind, as_us(report.as_of), window_days)
    out: Bool = counts[report.index] > 0
    return out


@attrs.frozen(slots=True)
class SurveyAsk(_Playbook):
    """``survey.ask``: healthy active accounts without a recent NPS answer get the survey
    ("ask active users for surveys", NPS each quarter: founding text 1).

    Recommended for good-tier accounts that are active (at least ``regular_days``, 2,
    active day slots of the last 30, the latest within ``silent_days``, 14) with no
    ``nps_response`` in the last ``every_days`` (90). The good tier already says the
    account uses the product successfully; the activity test only makes sure it is in
    touch now, so the ask reaches the healthy book rather than only daily users.
    """

    NAME: ClassVar[str] = "survey.ask"
    DESCRIPTION: ClassVar[str] = "ask a healthy, active account for an NPS survey answer"
    PRIORITY: ClassVar[int] = 40

    regular_days: int = attrs.field(default=2, converter=_whole, validator=_positive)
    every_days: float = attrs.field(default=90.0, validator=_positive)
    silent_days: float = attrs.field(default=14.0, validator=_positive)
    activity_kinds: tuple[str, ...] = attrs.field(default=DEFAULT_ACTIVITY_KINDS, converter=_kinds)

    def recommend(self, dataset: Dataset, report: HealthReport) -> Bool:
        active, days, _ = _usage(dataset, report, self.activity_kinds, 30)
        answered = _recent_kind(dataset, report, "nps_response", self.every_days)
        out: Bool = (
            (report.tier_code == 0)
            & (active >= self.regular_days)
            & (days < self.silent_days)
            & ~answered
        )
        return out


@attrs.frozen(slots=True)
class ReferralAsk(_Playbook):
    """``referral.ask``: healthy active accounts get a referral ask ("ask active users
    for ... referrals": founding text 1; referral programmes: founding text 2).

    Recommended for good-tier accounts that are active (as for ``survey.ask``: at least
    ``regular_days``, 2, of the last 30 day slots, the latest within ``silent_days``, 14)
    and answered the NPS survey in the last ``survey_days`` (90) as a promoter or passive
    (7-10), and who made no referral in the last ``every_days`` (180). An account with no
    recent answer is asked for the survey first (``survey.ask``), so one account is never
    asked for both at once.
    """

    NAME: ClassVar[str] = "referral.ask"
    DESCRIPTION: ClassVar[str] = "ask a healthy, active account for a referral"
    PRIORITY: ClassVar[int] = 50

    regular_days: int = attrs.field(default=2, converter=_whole, validator=_positive)
    every_days: float = attrs.field(default=180.0, validator=_positive)
    survey_days: float = attrs.field(default=90.0, validator=_positive)
    silent_days: float = attrs.field(default=14.0, validator=_positive)
    activity_kinds: tuple[str, ...] = attrs.field(default=DEFAULT_ACTIVITY_KINDS, converter=_kinds)

    def recommend(self, dataset: Dataset, report: HealthReport) -> Bool:
        active, days, _ = _usage(dataset, report, self.activity_kinds, 30)
        referred = _recent_kind(dataset, report, "referral", self.every_days)
        answered = _recent_kind(dataset, report, "nps_response", self.survey_days)
        nps = kind_events(dataset, "nps_response")
        last = last_of_kind(dataset, "nps_response")[report.index]
        detractor = np.zeros(len(report), dtype=bool)
        if len(nps):
            detractor = (last >= 0) & (nps.value[last] <= 6)
        out: Bool = (
            (report.tier_code == 0)
            & (active >= self.regular_days)
            & (days < self.silent_days)
            & answered
            & ~referred
        )
        return out & ~detractor


#: The built-in playbook classes, in priority order.
BUILTIN_PLAYBOOKS: Final[tuple[type[Any], ...]] = (
    OnboardingHelp,
    PersonalCall,
    ReactivationOutreach,
    SuccessStories,
    SurveyAsk,
    ReferralAsk,
)
