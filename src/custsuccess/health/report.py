"""The result of scoring: :class:`HealthReport`, and :class:`Explanation` of one account.

A report holds one row per scored account, as numpy arrays: the score, the tier, every
rule's score, weighted contribution and reason, and the recommended playbooks. Text
(reasons) is formatted only when asked for (:meth:`HealthReport.explain`,
:meth:`HealthReport.to_records`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._readonly import readonly, readonly_field, readonly_optional
from custsuccess.errors import ValidationError
from custsuccess.typing import Reasons, TierChange

if TYPE_CHECKING:
    import pandas as pd

    from custsuccess.dataset import Dataset
    from custsuccess.health.learn import LearnedScorer
    from custsuccess.metrics.accounts import Rollup
    from custsuccess.plugins import Registry

__all__ = ["TIERS", "Explanation", "HealthReport", "RuleContribution"]

#: The tiers, best first; ``"unscored"`` marks an account no rule applies to.
TIERS: Final = ("good", "average", "poor")
_TIER_NAMES: Final = np.array([*TIERS, "unscored"])
UNSCORED: Final = 3

F64 = npt.NDArray[np.float64]


def _num(x: Any) -> float | None:
    value = float(x)
    return None if math.isnan(value) else value


@attrs.frozen(slots=True)
class RuleContribution:
    """One rule's part in one account's score.

    ``share``: the rule's weight divided by the sum of the weights of the rules that
    apply to the account (0 when it does not apply); ``contribution = share * score``
    (the contributions add up to the account's score); ``effect = share * (score - 50)``,
    the points the rule moves the score away from a neutral 50 (the effects add up to
    ``score - 50``).
    """

    rule: str
    applicable: bool
    score: float | None
    weight: float
    share: float
    contribution: float | None
    effect: float | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen(slots=True)
class Explanation:
    """Why an account has its score: its rules, largest effect first (see
    :meth:`HealthReport.explain`)."""

    customer_id: str
    score: float | None
    tier: str
    rules: tuple[RuleContribution, ...]
    playbooks: tuple[str, ...]
    churn_probability: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "customer_id": self.customer_id,
            "score": self.score,
            "tier": self.tier,
            "rules": [r.to_dict() for r in self.rules],
            "playbooks": list(self.playbooks),
        }
        if self.churn_probability is not None:
            out["churn_probability"] = self.churn_probability
        return out

    def __str__(self) -> str:
        score = "n/a" if self.score is None else f"{self.score:.1f}"
        if self.churn_probability is not None:  # a learned model: log-odds contributions
            lines = [
                f"{self.customer_id}: {score} ({self.tier}), churn probability "
                f"{self.churn_probability:.1%}"
            ]
            for r in self.rules[:8]:
                lines.append(f"  {r.contribution:+6.2f}  {r.reason}")
            if self.playbooks:
                lines.append("  next: " + ", ".join(self.playbooks))
            return "\n".join(lines)
        lines = [f"{self.customer_id}: {score} ({self.tier})"]
        for r in self.rules:
            if not r.applicable:
                why = f": {r.reason}" if r.reason else ""
                lines.append(f"  {r.rule:<26} not applicable{why}")
                continue
            lines.append(
                f"  {r.rule:<26} {r.effect:+6.1f}  (score {r.score:5.1f}, "
                f"share {r.share:.0%}){': ' + r.reason if r.reason else ''}"
            )
        if self.playbooks:
            lines.append("  next: " + ", ".join(self.playbooks))
        return "\n".join(lines)


def _readonly_columns(columns: tuple[F64, ...] | None) -> tuple[F64, ...] | None:
    """A tuple of read-only arrays (the learned model's feature columns)."""
    return None if columns is None else tuple(readonly_field(c) for c in columns)


@attrs.frozen(slots=True, eq=False)
class HealthReport:
    """Health of every scored account at ``as_of``.

    Row ``i`` is the account ``customer_ids[i]``, which is customer ``index[i]`` of the
    scored dataset. Arrays:

    * ``score``: float64, 0-100 (NaN only when no rule applies to the account);
    * ``tier``: ``"good"`` / ``"average"`` / ``"poor"`` (``"unscored"`` when the score is
      NaN); ``tier_code``: 0 / 1 / 2 / 3 for the same;
    * ``rule_scores``: float64 (accounts x rules), NaN where a rule does not apply;
    * ``contributions``: float64 (accounts x rules), ``share * rule score`` (NaN where
      the rule does not apply); each row adds up to ``score``;
    * ``reasons``: one :class:`~custsuccess.typing.Reasons` per rule (made on first use
      from ``rule_reasons``, whose rows ``reason_rows`` are this report's rows: text is
      formatted only for the rows asked about);
    * ``recommended``: bool (accounts x playbooks), the playbooks of ``playbooks``
      recommended for each account.

    ``skipped_rules`` and ``skipped_playbooks`` name the rules and playbooks that failed
    and were left out under ``HealthModel(on_plugin_error="skip")``: a skipped rule's
    scores are NaN (it counts in no account's mean), a skipped playbook is recommended
    to nobody.

    Every array is read-only (playbooks and other readers share them): copy one to
    change it.
    """

    as_of: np.datetime64
    customer_ids: npt.NDArray[np.str_] = attrs.field(converter=readonly_field)
    index: npt.NDArray[np.intp] = attrs.field(converter=readonly_field)
    score: F64 = attrs.field(converter=readonly_field)
    tier_code: npt.NDArray[np.int8] = attrs.field(converter=readonly_field)
    rule_names: tuple[str, ...]
    weights: F64 = attrs.field(converter=readonly_field)
    rule_scores: F64 = attrs.field(converter=readonly_field)
    contributions: F64 = attrs.field(converter=readonly_field)
    rule_reasons: tuple[Reasons, ...] = attrs.field(repr=False)
    reason_rows: npt.NDArray[np.intp] = attrs.field(repr=False, converter=readonly_field)
    good: float
    poor: float
    playbooks: tuple[str, ...] = ()
    recommended: npt.NDArray[np.bool_] = attrs.field(
        factory=lambda: np.zeros((0, 0), bool), converter=readonly_field
    )
    registry: Registry | None = attrs.field(default=None, repr=False)
    skipped_rules: tuple[str, ...] = ()
    skipped_playbooks: tuple[str, ...] = ()
    churn_probability: F64 | None = attrs.field(
        default=None, repr=False, converter=readonly_optional
    )
    learned_features: tuple[F64, ...] | None = attrs.field(
        default=None, repr=False, converter=_readonly_columns
    )
    learned_segment: npt.NDArray[np.intp] | None = attrs.field(
        default=None, repr=False, converter=readonly_optional
    )
    scorer: LearnedScorer | None = attrs.field(default=None, repr=False)
    #: The dataset view the report was scored from (for roll-ups), when known.
    dataset: Dataset | None = attrs.field(default=None, repr=False, kw_only=True)
    _lazy: dict[str, Any] = attrs.field(factory=dict, init=False, repr=False)

    @property
    def tier(self) -> npt.NDArray[np.str_]:
        """``"good"`` / ``"average"`` / ``"poor"`` per account (``"unscored"`` where the
        score is NaN), made from ``tier_code`` on first use."""
        tier = self._lazy.get("tier")
        if tier is None:
            tier = self._lazy["tier"] = readonly(tier_names(self.tier_code))
        out: npt.NDArray[np.str_] = tier
        return out

    @property
    def reasons(self) -> tuple[Reasons, ...]:
        """One :class:`~custsuccess.typing.Reasons` per rule, aligned with the rows."""
        reasons = self._lazy.get("reasons")
        if reasons is None:
            reasons = self._lazy["reasons"] = tuple(
                r.take(self.reason_rows) for r in self.rule_reasons
            )
        out: tuple[Reasons, ...] = reasons
        return out

    def reason(self, i: int, j: int) -> str | None:
        """The reason of rule ``j`` for row ``i``, as text."""
        return self.rule_reasons[j].format(int(self.reason_rows[i]))

    def __len__(self) -> int:
        return len(self.customer_ids)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.tier_counts().items())
        skipped = ", ".join((*self.skipped_rules, *self.skipped_playbooks))
        note = f" skipped: {skipped}" if skipped else ""
        return f"<HealthReport as_of={self.as_of} accounts={len(self)} {counts}{note}>"

    def _repr_html_(self) -> str:
        """Notebooks: the tier counts and the lowest scores, as tables."""
        from custsuccess._html import MAX_ROWS, cell, table

        tiers = table(f"Health at {self.as_of}: {len(self):,} accounts", ["tier", "accounts"],
                      [[t, cell(n)] for t, n in self.tier_counts().items()])
        low = self.at_risk(MAX_ROWS)
        rows = [[cell(c), cell(float(s)), cell(t)] for c, s, t in zip(
            low.customer_ids.tolist(), low.score.tolist(), low.tier.tolist(), strict=True)]
        return tiers + table("Lowest scores", ["customer_id", "score", "tier"], rows,
                             more=len(self) - len(low))

    # ----------------------------------------------------------------- lookup

    def row(self, customer_id: str) -> int:
        """The row of ``customer_id``; a ValidationError when it is not in the report."""
        ids = self.customer_ids
        i = int(np.searchsorted(ids, customer_id)) if ids.size else 0
        if i < ids.size and ids[i] == customer_id:
            return i
        found = np.flatnonzero(ids == customer_id)  # reports taken out of id order
        if found.size:
            return int(found[0])
        raise ValidationError(
            f"customer {customer_id!r} is not in this health report ({len(self)} accounts "
            "scored; customers created after as_of and churned customers are left out)"
        )

    def rule_score(self, rule: str) -> F64:
        """The scores of ``rule`` (all NaN when the report has no such rule)."""
        if rule in self.rule_names:
            column: F64 = self.rule_scores[:, self.rule_names.index(rule)]
            return column
        return np.full(len(self), np.nan)

    def recommendations(self, customer_id: str) -> tuple[str, ...]:
        """The playbooks recommended for ``customer_id``, in priority order."""
        i = self.row(customer_id)
        return tuple(p for p, on in zip(self.playbooks, self.recommended[i], strict=True) if on)

    # ----------------------------------------------------------------- views

    def take(self, rows: Any) -> HealthReport:
        """The report restricted to ``rows`` (an index array, slice or mask)."""
        return attrs.evolve(
            self,
            customer_ids=self.customer_ids[rows],
            index=self.index[rows],
            score=self.score[rows],
            tier_code=self.tier_code[rows],
            rule_scores=self.rule_scores[rows],
            contributions=self.contributions[rows],
            reason_rows=self.reason_rows[rows],
            recommended=self.recommended[rows],
            churn_probability=None if self.churn_probability is None
            else self.churn_probability[rows],
            learned_features=None if self.learned_features is None
            else tuple(f[rows] for f in self.learned_features),
            learned_segment=None if self.learned_segment is None
            else self.learned_segment[rows],
        )

    def at_risk(self, n: int = 10) -> HealthReport:
        """The ``n`` accounts with the lowest scores, lowest first (ties by customer id).

        Accounts without a score are left out.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValidationError(f"at_risk(n): n must be an int >= 0, got {n!r}")
        scored = np.flatnonzero(~np.isnan(self.score))
        n = min(int(n), scored.size)
        if n == 0:
            return self.take(np.empty(0, dtype=np.intp))
        s = self.score[scored]
        if n < scored.size:
            cut = np.partition(s, n - 1)[n - 1]
            scored = scored[s <= cut]
            s = self.score[scored]
        order = np.lexsort((self.customer_ids[scored], s))[:n]
        return self.take(scored[order])

    def tier_counts(self) -> dict[str, int]:
        """Accounts per tier: ``good``, ``average``, ``poor`` (and ``unscored`` if any)."""
        counts = np.bincount(self.tier_code, minlength=4)
        out = {name: int(counts[i]) for i, name in enumerate(TIERS)}
        if counts[UNSCORED]:
            out["unscored"] = int(counts[UNSCORED])
        return out

    # ----------------------------------------------------------------- explanation

    def explain(self, customer_id: str) -> Explanation:
        """Every rule's part in the account's score, largest ``|effect|`` first.

        The rules that do not apply to the account come last.
        """
        i = self.row(customer_id)
        if self.scorer is not None and self.learned_features is not None:
            return self._explain_learned(i)
        scores = self.rule_scores[i]
        contribs = self.contributions[i]
        applicable = ~np.isnan(scores)
        total = float(self.weights[applicable].sum())
        items = []
        for j, name in enumerate(self.rule_names):
            ok = bool(applicable[j])
            share = float(self.weights[j]) / total if ok and total > 0 else 0.0
            items.append(
                RuleContribution(
                    rule=name,
                    applicable=ok,
                    score=_num(scores[j]),
                    weight=float(self.weights[j]),
                    share=share,
                    contribution=_num(contribs[j]) if ok else None,
                    effect=share * (float(scores[j]) - 50.0) if ok else None,
                    reason=(
                        "skipped: its plugin failed" if name in self.skipped_rules
                        else self.reason(i, j)
                    ),
                )
            )
        items.sort(key=lambda r: (not r.applicable, -abs(r.effect or 0.0)))
        return Explanation(
            customer_id=str(self.customer_ids[i]),
            score=_num(self.score[i]),
            tier=str(_TIER_NAMES[self.tier_code[i]]),
            rules=tuple(items),
            playbooks=self.recommendations(str(self.customer_ids[i])),
        )

    def _explain_learned(self, i: int) -> Explanation:
        scorer = self.scorer
        assert scorer is not None
        assert self.learned_features is not None
        seg = (
            np.full(1, -1, dtype=np.intp) if self.learned_segment is None
            else self.learned_segment[i : i + 1]
        )
        # the account's used features, placed where the scorer's specs expect them
        columns = [np.full(1, np.nan) for _ in scorer.specs]
        for p, f in zip(scorer._positions().tolist(), self.learned_features, strict=True):
            columns[p] = f[i : i + 1]
        effects = scorer.effects(scorer.design(columns, seg))[0]
        k = len(scorer.names)
        raw = np.array([float(f[i]) for f in self.learned_features])
        missing = np.isnan(raw)
        total = float(np.abs(effects).sum())
        coef = scorer.coef[1 : 1 + k]
        items = [
            RuleContribution(
                rule=name,
                applicable=not bool(missing[j]),
                score=_num(raw[j]),
                weight=float(coef[j]),
                share=abs(float(effects[j])) / total if total > 0 else 0.0,
                contribution=float(effects[j]),
                effect=-float(effects[j]),
                reason=scorer.describe(name, float(raw[j])),
            )
            for j, name in enumerate(scorer.names)
        ]
        items.sort(key=lambda r: -abs(r.contribution or 0.0))
        p = None if self.churn_probability is None else float(self.churn_probability[i])
        return Explanation(
            customer_id=str(self.customer_ids[i]),
            score=_num(self.score[i]),
            tier=str(_TIER_NAMES[self.tier_code[i]]),
            rules=tuple(items),
            playbooks=self.recommendations(str(self.customer_ids[i])),
            churn_probability=p,
        )

    # ----------------------------------------------------------------- export

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per account (NaN as None). A Python loop: for exports of a
        few thousand rows, not for a million."""
        scores = self.rule_scores.tolist()
        contribs = self.contributions.tolist()
        recommended = self.recommended.tolist()
        out = []
        for i, (cid, score, tier) in enumerate(
            zip(self.customer_ids.tolist(), self.score.tolist(), self.tier.tolist(), strict=True)
        ):
            rules = {}
            for j, name in enumerate(self.rule_names):
                s = scores[i][j]
                rules[name] = {
                    "score": None if s != s else s,
                    "contribution": None if contribs[i][j] != contribs[i][j] else contribs[i][j],
                    "reason": self.reason(i, j),
                }
            out.append(
                {
                    "customer_id": cid,
                    "as_of": str(self.as_of) + "Z",
                    "score": None if score != score else score,
                    "tier": tier,
                    "rules": rules,
                    "playbooks": [
                        p for p, on in zip(self.playbooks, recommended[i], strict=True) if on
                    ],
                }
            )
        return out

    def to_pandas(self, *, reasons: bool = False) -> pd.DataFrame:
        """A DataFrame indexed by ``customer_id``: ``score``, ``tier``, one column per
        rule score, ``playbooks`` (comma-separated) and, with ``reasons``, one
        ``<rule>:reason`` column per rule. Needs pandas (``pip install custsuccess[pandas]``).
        """
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover (pandas is installed in the test env)
            raise ImportError(
                "HealthReport.to_pandas needs pandas: pip install 'custsuccess[pandas]'"
            ) from None
        columns: dict[str, Any] = {"score": self.score, "tier": self.tier}
        for j, name in enumerate(self.rule_names):
            columns[name] = self.rule_scores[:, j]
        columns["playbooks"] = self._playbook_text()
        if reasons:
            for j, name in enumerate(self.rule_names):
                columns[f"{name}:reason"] = [self.reason(i, j) for i in range(len(self))]
        frame: pd.DataFrame = pd.DataFrame(
            columns, index=pd.Index(self.customer_ids, name="customer_id")
        )
        return frame

    def _playbook_text(self) -> npt.NDArray[np.object_]:
        """Per row, the recommended playbooks joined by commas (one string per distinct
        combination, so a million rows cost no per-row Python)."""
        m, p = self.recommended.shape
        if p == 0:
            return np.full(m, "", dtype=object)
        bits = self.recommended.astype(np.int64) @ (np.int64(1) << np.arange(p, dtype=np.int64))
        patterns, inverse = np.unique(bits, return_inverse=True)
        names = self.playbooks
        text = np.array(
            [",".join(n for j, n in enumerate(names) if int(b) >> j & 1) for b in patterns],
            dtype=object,
        )
        out: npt.NDArray[np.object_] = text[inverse.reshape(-1)]
        return out

    # ----------------------------------------------------------------- roll-ups

    def by_owner(self, dataset: Dataset | None = None) -> Rollup:
        """Each success manager's book of business: accounts, tier counts, MRR,
        MRR-weighted health and MRR at risk per ``Customer.owner`` (see
        :func:`custsuccess.metrics.accounts.rollup_by_owner`). ``dataset`` defaults to the
        one the report was scored from."""
        from custsuccess.metrics.accounts import rollup_by_owner

        return rollup_by_owner(self, dataset)

    def by_parent(self, dataset: Dataset | None = None) -> Rollup:
        """The same figures per parent account, over the parent and every account below
        it (:func:`custsuccess.metrics.accounts.rollup_by_parent`)."""
        from custsuccess.metrics.accounts import rollup_by_parent

        return rollup_by_parent(self, dataset)

    # ----------------------------------------------------------------- changes

    def changes_since(
        self, previous: HealthReport, *, notify: bool = True, registry: Registry | None = None
    ) -> tuple[TierChange, ...]:
        """Accounts in both reports whose tier differs, ordered by customer id.

        With ``notify`` (the default) the changes are also sent to the
        ``health_tier_changed`` hook of ``registry`` (default: the registry of the model
        that made this report; nothing is sent when there is none or nothing changed).
        """
        if not isinstance(previous, HealthReport):
            raise ValidationError(
                f"changes_since(previous) needs a HealthReport, got {type(previous).__name__}"
            )
        common, here, there = np.intersect1d(
            self.customer_ids, previous.customer_ids, assume_unique=True, return_indices=True
        )
        moved = np.flatnonzero(self.tier_code[here] != previous.tier_code[there])
        changes = tuple(
            TierChange(
                customer_id=str(common[k]),
                previous_tier=str(_TIER_NAMES[previous.tier_code[there[k]]]),
                tier=str(_TIER_NAMES[self.tier_code[here[k]]]),
                previous_score=float(previous.score[there[k]]),
                score=float(self.score[here[k]]),
            )
            for k in moved.tolist()
        )
        target = registry if registry is not None else self.registry
        if notify and changes and target is not None:
            target.notify_tier_changed(changes)
        return changes


def tier_codes(score: F64, good: float, poor: float) -> npt.NDArray[np.int8]:
    """0 good (``score >= good``), 1 average, 2 poor (``score < poor``), 3 unscored (NaN)."""
    # 1, minus 1 when good, plus 1 when poor (comparisons with NaN are False)
    code: npt.NDArray[np.int8] = (score < poor).view(np.int8) + np.int8(1)
    code -= (score >= good).view(np.int8)
    code[np.isnan(score)] = UNSCORED
    return code


def tier_names(code: npt.NDArray[np.int8]) -> npt.NDArray[np.str_]:
    names: npt.NDArray[np.str_] = _TIER_NAMES[code]
    return names
