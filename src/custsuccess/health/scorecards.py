"""Scorecards: a different :class:`~custsuccess.health.HealthModel` per lifecycle stage
and per segment, and per-segment tier thresholds.

"You must define your own success parameters" (founding text 1): an account in its first
90 days is not judged like one about to renew, nor a self-serve account like an
enterprise one. :class:`Scorecards` holds a default model and any number of
:class:`Scorecard` entries, each for a stage, a segment or both; every account is scored
by exactly one of them, chosen by this rule (the first that matches wins):

1. the scorecard for the account's stage **and** segment;
2. the scorecard for its stage (any segment);
3. the scorecard for its segment (any stage);
4. the default model (scorecard name ``"default"``).

The stages are those of :func:`custsuccess.metrics.lifecycle.lifecycle_stages`.
Per-segment tier thresholds (``segment_thresholds``) then re-tier the accounts of a
segment, whichever scorecard scored them. The result, :class:`ScorecardReport`, says
which scorecard scored each account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import Dataset, require_dataset, to_datetime64
from custsuccess.errors import ValidationError
from custsuccess.health.model import HealthModel, _threshold
from custsuccess.health.report import TIERS, HealthReport, tier_codes, tier_names
from custsuccess.metrics.lifecycle import STAGES, lifecycle_stages

if TYPE_CHECKING:
    from custsuccess.health.report import Explanation

__all__ = ["DEFAULT_SCORECARD", "Scorecard", "ScorecardReport", "Scorecards"]

#: The name of the default model's scorecard in reports.
DEFAULT_SCORECARD: Final = "default"


def _optional_name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValidationError(
            f"Scorecard.{attribute.name} must be a non-empty string or None, got {value!r}"
        )


@attrs.frozen(slots=True)
class Scorecard:
    """A health model for the accounts of a ``stage`` and/or a ``segment`` (None: any)."""

    name: str
    model: HealthModel
    stage: str | None = attrs.field(default=None, kw_only=True, validator=_optional_name)
    segment: str | None = attrs.field(default=None, kw_only=True, validator=_optional_name)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name == DEFAULT_SCORECARD:
            raise ValidationError(
                f"Scorecard.name must be a non-empty string other than "
                f"{DEFAULT_SCORECARD!r}, got {self.name!r}"
            )
        if not isinstance(self.model, HealthModel):
            raise ValidationError(
                f"scorecard {self.name!r}: model must be a HealthModel, got "
                f"{type(self.model).__name__}"
            )
        if self.stage is not None and self.stage not in STAGES:
            raise ValidationError(
                f"scorecard {self.name!r}: stage must be one of {STAGES} or None, "
                f"got {self.stage!r}"
            )
        if self.stage is None and self.segment is None:
            raise ValidationError(
                f"scorecard {self.name!r}: give a stage, a segment or both (the default "
                "model covers every other account)"
            )


@attrs.frozen(slots=True, eq=False)
class ScorecardReport:
    """Health of every scored account, each by its own scorecard.

    ``scorecard`` names the scorecard that scored each row (``"default"`` for the default
    model), ``stage`` its lifecycle stage; ``score``, ``tier_code`` and ``good`` /
    ``poor`` (per row) are the final figures after per-segment thresholds. ``reports``
    holds each scorecard's own :class:`HealthReport` (its rows only), for explanations.
    Roll-ups and renewals (:mod:`custsuccess.metrics.accounts`,
    :mod:`custsuccess.metrics.renewals`) accept this report like a HealthReport.
    """

    as_of: np.datetime64
    customer_ids: npt.NDArray[np.str_]
    index: npt.NDArray[np.intp]
    score: npt.NDArray[np.float64]
    tier_code: npt.NDArray[np.int8]
    good: npt.NDArray[np.float64]
    poor: npt.NDArray[np.float64]
    scorecard: npt.NDArray[np.object_]
    stage: npt.NDArray[np.object_]
    reports: Mapping[str, HealthReport]
    dataset: Dataset | None = attrs.field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.customer_ids)

    @property
    def tier(self) -> npt.NDArray[np.str_]:
        return tier_names(self.tier_code)

    def tier_counts(self) -> dict[str, int]:
        counts = np.bincount(self.tier_code, minlength=4)
        out = {name: int(counts[i]) for i, name in enumerate(TIERS)}
        if counts[3]:
            out["unscored"] = int(counts[3])
        return out

    def row(self, customer_id: str) -> int:
        i = int(np.searchsorted(self.customer_ids, customer_id)) if len(self) else 0
        if i < len(self) and self.customer_ids[i] == customer_id:
            return i
        raise ValidationError(f"customer {customer_id!r} is not in this report")

    def scorecard_of(self, customer_id: str) -> str:
        """The name of the scorecard that scored ``customer_id``."""
        return str(self.scorecard[self.row(customer_id)])

    def explain(self, customer_id: str) -> Explanation:
        """The explanation from the scorecard that scored the account (its tier is the
        final one, after per-segment thresholds)."""
        i = self.row(customer_id)
        explanation = self.reports[str(self.scorecard[i])].explain(customer_id)
        return attrs.evolve(explanation, tier=str(self.tier[i]))

    def by_owner(self, dataset: Dataset | None = None) -> Any:
        """Each owner's book of business (see :meth:`HealthReport.by_owner`)."""
        from custsuccess.metrics.accounts import rollup_by_owner

        return rollup_by_owner(self, dataset)  # type: ignore[arg-type]


class Scorecards:
    """A default model plus scorecards per stage and/or segment (see the module docs).

    Parameters
    ----------
    default
        The model for accounts no scorecard matches.
    scorecards
        :class:`Scorecard` entries; two for the same (stage, segment) are an error.
    segment_thresholds
        Segment name -> ``(good, poor)`` tier thresholds applied to that segment's
        accounts after scoring.
    onboarding_days, renewal_window_days, trial_plans
        How stages are decided (:func:`~custsuccess.metrics.lifecycle.lifecycle_stages`).

    Examples
    --------
    Onboarding accounts are judged on onboarding alone; everyone else on recency; the
    enterprise segment needs 80 to be good and is poor under 60:

    >>> from datetime import datetime, timedelta, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> from custsuccess.health.rules import OnboardingRule, RecencyRule
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records(
    ...     [Customer("big", t, segment="enterprise"), Customer("fresh", t + timedelta(days=80)),
    ...      Customer("small", t)],
    ...     events=[Event(c, "login", t + timedelta(days=85)) for c in ("big", "small")])
    >>> cards = Scorecards(
    ...     HealthModel([RecencyRule()]),
    ...     [Scorecard("onboarding", HealthModel([OnboardingRule()]), stage="onboarding")],
    ...     segment_thresholds={"enterprise": (80, 60)})
    >>> report = cards.score(ds, t + timedelta(days=100))
    >>> report.scorecard.tolist(), report.stage.tolist()
    (['default', 'onboarding', 'default'], ['adoption', 'onboarding', 'adoption'])

    Both older accounts logged in 15 days ago: recency 100 x (30 - 15) / 29 = 51.7, average
    under the default thresholds (70, 40) but poor under the enterprise ones:

    >>> report.score.round(1).tolist()[0::2], report.tier.tolist()[0::2]
    ([51.7, 51.7], ['poor', 'average'])
    """

    __slots__ = ("_cards", "_default", "_onboarding", "_renewal", "_thresholds", "_trial")

    def __init__(
        self,
        default: HealthModel,
        scorecards: Iterable[Scorecard] = (),
        *,
        segment_thresholds: Mapping[str, tuple[float, float]] | None = None,
        onboarding_days: int = 90,
        renewal_window_days: int = 90,
        trial_plans: Iterable[str] = (),
    ) -> None:
        if not isinstance(default, HealthModel):
            raise ValidationError(
                f"Scorecards: default must be a HealthModel, got {type(default).__name__}"
            )
        cards = list(scorecards)
        for i, card in enumerate(cards):
            if not isinstance(card, Scorecard):
                raise ValidationError(
                    f"Scorecards: scorecards[{i}] must be a Scorecard, got {type(card).__name__}"
                )
        names = [c.name for c in cards]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValidationError(f"Scorecards: duplicate scorecard name(s) {dup}")
        keys = [(c.stage, c.segment) for c in cards]
        clash = sorted({str(k) for k in keys if keys.count(k) > 1})
        if clash:
            raise ValidationError(
                f"Scorecards: two scorecards for the same (stage, segment): {clash}"
            )
        thresholds: dict[str, tuple[float, float]] = {}
        for segment, pair in (segment_thresholds or {}).items():
            if not isinstance(segment, str) or not segment:
                raise ValidationError(
                    f"Scorecards: segment_thresholds keys must be segment names, got {segment!r}"
                )
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValidationError(
                    f"Scorecards: segment_thresholds[{segment!r}] must be (good, poor), "
                    f"got {pair!r}"
                )
            good = _threshold(pair[0], f"segment_thresholds[{segment!r}] good")
            poor = _threshold(pair[1], f"segment_thresholds[{segment!r}] poor")
            if poor > good:
                raise ValidationError(
                    f"Scorecards: segment_thresholds[{segment!r}]: poor ({poor:g}) must not "
                    f"be above good ({good:g})"
                )
            thresholds[segment] = (good, poor)
        self._default = default
        self._cards = tuple(cards)
        self._thresholds = thresholds
        self._onboarding = onboarding_days
        self._renewal = renewal_window_days
        self._trial = tuple(trial_plans)

    @property
    def scorecards(self) -> tuple[Scorecard, ...]:
        return self._cards

    def choose(self, stage: str | None, segment: str | None) -> str:
        """The name of the scorecard for an account of ``stage`` and ``segment``."""
        for want in ((stage, segment), (stage, None), (None, segment)):
            if want == (None, None):
                continue
            for card in self._cards:
                if (card.stage, card.segment) == want:
                    return card.name
        return DEFAULT_SCORECARD

    def score(
        self,
        dataset: Dataset,
        as_of: datetime | np.datetime64 | str,
        *,
        include_churned: bool = False,
    ) -> ScorecardReport:
        """Score every account with its scorecard (see the module docs)."""
        require_dataset(dataset, "dataset", "Scorecards.score()")
        t = to_datetime64(as_of, "as_of")
        stages = lifecycle_stages(
            dataset,
            as_of=t,
            onboarding_days=self._onboarding,
            renewal_window_days=self._renewal,
            trial_plans=self._trial,
        )
        segments = dataset.customers.segment
        # the scorecard of every (stage code, segment code) pair: a small table
        stage_names: list[str | None] = [*STAGES, None]
        segment_names: list[str | None] = [*segments.categories, None]
        table = np.array(
            [[self.choose(st, sg) for sg in segment_names] for st in stage_names], dtype=object
        )
        card_of = table[stages.code, segments.codes]  # -1 picks the trailing None entries
        models = {DEFAULT_SCORECARD: self._default, **{c.name: c.model for c in self._cards}}
        parts: dict[str, HealthReport] = {}
        for name in sorted(set(card_of.tolist())):
            report = models[name].score(dataset, t, include_churned=include_churned)
            mine = card_of[report.index] == name
            parts[name] = report.take(np.flatnonzero(mine))
        index = np.sort(np.concatenate([p.index for p in parts.values()])) if parts else (
            np.empty(0, dtype=np.intp)
        )
        m = index.size
        score = np.full(m, np.nan)
        good = np.zeros(m)
        poor = np.zeros(m)
        for report in parts.values():
            rows = np.searchsorted(index, report.index)
            score[rows] = report.score
            good[rows] = report.good
            poor[rows] = report.poor
        seg_codes = segments.codes[index]
        for segment, (g, p) in self._thresholds.items():
            code = segments.code_of(segment)
            if code >= 0:
                good[seg_codes == code] = g
                poor[seg_codes == code] = p
        tier = np.full(m, 3, dtype=np.int8)
        for g, p in {(float(a), float(b)) for a, b in zip(good, poor, strict=True)}:
            rows = (good == g) & (poor == p)
            tier[rows] = tier_codes(score[rows], g, p)
        return ScorecardReport(
            as_of=t,
            customer_ids=dataset.customer_ids[index],
            index=index.astype(np.intp),
            score=score,
            tier_code=tier,
            good=good,
            poor=poor,
            scorecard=card_of[index],
            stage=stages.stage[index],
            reports=parts,
            dataset=dataset.until(t),
        )
