"""Playbooks that cover the book: a contact budget, and why a poor account has no action.

**Contact budget.** Several playbooks ask something of the account (a call, a survey, a
referral). :class:`ContactBudget` keeps at most ``max_contacts`` of them per account in
``days`` days: within one report the highest-priority asks are kept, and asks already
made in the ``days`` before the report's ``as_of`` (a host's contact log) use up the
budget. A :class:`~custsuccess.health.HealthModel` applies :data:`DEFAULT_CONTACT_BUDGET`
(one ask per account per report) unless told otherwise, so under the defaults one account
is never asked for a survey, a referral and a call at once.

**Coverage.** :func:`playbook_coverage` lists the poor accounts of a report and, for each
one that no playbook covers, an explicit "no playbook applies" reason (its usage and the
rule that pulls its score down most), so no poor account is silently left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import to_datetime64
from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    from custsuccess.health.report import HealthReport

__all__ = [
    "CONTACT_PLAYBOOKS",
    "DEFAULT_CONTACT_BUDGET",
    "ContactBudget",
    "PlaybookCoverage",
    "playbook_coverage",
]

#: The built-in playbooks that ask something of the account (success stories are
#: content, not an ask).
CONTACT_PLAYBOOKS: Final = (
    "onboarding.help",
    "personal.call",
    "reactivation.outreach",
    "survey.ask",
    "referral.ask",
)
DAY_US: Final = 86_400_000_000

Bool = npt.NDArray[np.bool_]


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise ValidationError(f"expected a list of playbook names, got {value!r}") from None


@attrs.frozen(slots=True)
class ContactBudget:
    """At most ``max_contacts`` asks (playbooks named in ``playbooks``) per account in
    ``days`` days.

    >>> budget = ContactBudget(max_contacts=1, days=7)
    >>> budget.max_contacts, budget.days, "survey.ask" in budget.playbooks
    (1, 7, True)
    """

    max_contacts: int = attrs.field(default=1)
    days: float = attrs.field(default=7.0)
    playbooks: tuple[str, ...] = attrs.field(default=CONTACT_PLAYBOOKS, converter=_names)

    def __attrs_post_init__(self) -> None:
        m = self.max_contacts
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise ValidationError(
                f"ContactBudget.max_contacts must be a whole number >= 0, got {m!r}"
            )
        d = self.days
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not d > 0 or d != d:
            raise ValidationError(f"ContactBudget.days must be a number > 0, got {d!r}")
        if any(not isinstance(p, str) or not p for p in self.playbooks):
            raise ValidationError(
                f"ContactBudget.playbooks must be playbook names, got {self.playbooks!r}"
            )

    def trim(
        self,
        recommended: Bool,
        playbooks: tuple[str, ...],
        used: npt.NDArray[np.int64] | None = None,
    ) -> Bool:
        """``recommended`` (accounts x playbooks, playbooks in priority order) with each
        row's asks beyond its remaining budget (``max_contacts - used``) switched off,
        lowest priority first. Playbooks that are not asks are left alone."""
        asks = np.array([p in self.playbooks for p in playbooks], dtype=bool)
        if not asks.any() or recommended.size == 0:
            return recommended
        left = np.full(recommended.shape[0], self.max_contacts, dtype=np.int64)
        if used is not None:
            left = np.maximum(left - used, 0)
        taken = np.cumsum(recommended & asks, axis=1)
        keep = ~asks | (taken <= left[:, None])
        out: Bool = recommended & keep
        return out

    def apply(
        self,
        report: HealthReport,
        contacts: Iterable[tuple[str, datetime | np.datetime64 | str]] = (),
    ) -> HealthReport:
        """``report`` with its asks cut to the budget, counting the asks already made:
        ``contacts`` holds ``(customer_id, when)`` pairs of a host's contact log; those in
        the ``days`` before the report's ``as_of`` (and not after it) use up budget.

        >>> from datetime import datetime, timedelta, timezone
        >>> from custsuccess import Customer, Dataset, Event
        >>> from custsuccess.health import HealthModel
        >>> from custsuccess.health.playbooks import SurveyAsk
        >>> from custsuccess.health.rules import RecencyRule
        >>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
        >>> ds = Dataset.from_records(
        ...     [Customer("a", t - timedelta(days=300)), Customer("b", t - timedelta(days=300))],
        ...     events=[Event(c, "login", t - timedelta(days=d)) for c in "ab" for d in (1, 3)])
        >>> report = HealthModel([RecencyRule()], playbooks=[SurveyAsk()]).score(ds, t)
        >>> report.recommendations("a"), report.recommendations("b")
        (('survey.ask',), ('survey.ask',))
        >>> called = ContactBudget().apply(report, [("a", t - timedelta(days=2))])
        >>> called.recommendations("a"), called.recommendations("b")
        ((), ('survey.ask',))
        """
        ids = report.customer_ids
        used = np.zeros(len(report), dtype=np.int64)
        start = report.as_of - np.timedelta64(int(self.days * DAY_US), "us")
        for i, item in enumerate(contacts):
            if not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[0], str):
                raise ValidationError(
                    f"contacts[{i}] must be a (customer_id, when) pair, got {item!r}"
                )
            when = to_datetime64(item[1], f"contacts[{i}] when")
            if start < when <= report.as_of:
                row = np.flatnonzero(ids == item[0])
                used[row] += 1
        return attrs.evolve(
            report, recommended=self.trim(report.recommended, report.playbooks, used)
        )


#: The budget a HealthModel applies unless told otherwise: one ask per account.
DEFAULT_CONTACT_BUDGET: Final = ContactBudget()


@attrs.frozen(slots=True, eq=False)
class PlaybookCoverage:
    """The poor accounts of a report: ``customer_ids``, ``covered`` (at least one playbook
    recommended) and ``reason`` (None when covered, else why no playbook applies)."""

    customer_ids: npt.NDArray[np.str_]
    covered: Bool
    reason: npt.NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.customer_ids)

    @property
    def share_covered(self) -> float:
        """Covered poor accounts / poor accounts (NaN with none)."""
        return float(self.covered.mean()) if len(self) else float("nan")

    def uncovered(self) -> dict[str, str]:
        """Customer id -> reason, for the poor accounts no playbook covers."""
        rows = np.flatnonzero(~self.covered)
        return {str(self.customer_ids[i]): str(self.reason[i]) for i in rows.tolist()}


def playbook_coverage(report: HealthReport) -> PlaybookCoverage:
    """Every poor account of ``report``, covered by a playbook or with a reason why not.

    The reason names the rule that pulls the account's score down most (its largest
    negative effect) and that rule's own reason, e.g. ``"no playbook applies; lowest:
    survey.nps (detractor (answered 2) 3 days ago)"``.
    """
    from custsuccess.health.report import HealthReport

    if not isinstance(report, HealthReport):
        raise ValidationError(
            f"playbook_coverage needs a HealthReport, got {type(report).__name__}"
        )
    poor = np.flatnonzero(report.tier_code == 2)
    recommended = report.recommended
    covered: Bool = (
        np.asarray(recommended[poor].any(axis=1), dtype=bool)
        if recommended.shape[1]
        else np.zeros(poor.size, dtype=bool)
    )
    reason = np.full(poor.size, None, dtype=object)
    for k in np.flatnonzero(~covered).tolist():
        i = int(poor[k])
        scores = report.rule_scores[i]
        usable = np.flatnonzero(~np.isnan(scores))
        if not usable.size:
            reason[k] = "no playbook applies; no rule scores the account"
            continue
        # the largest negative effect: weight x (score - 50), as Explanation ranks them
        j = int(usable[np.argmin(report.weights[usable] * (scores[usable] - 50.0))])
        why = report.reason(i, j)
        text = f"no playbook applies; lowest: {report.rule_names[j]}"
        reason[k] = text + (f" ({why})" if why else "")
    return PlaybookCoverage(report.customer_ids[poor], covered, reason)
