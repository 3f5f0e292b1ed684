"""The scoring engine: :class:`HealthModel`.

A model is a set of health rules with weights, two tier thresholds and a set of
playbooks. :meth:`HealthModel.score` evaluates every rule on the dataset as it stood at
``as_of``, combines the applicable ones into a weighted mean, puts each account in a tier
and attaches the playbooks that apply.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from os import PathLike
from typing import TYPE_CHECKING, Any, Final, overload

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._readonly import readonly
from custsuccess.dataset import Dataset, require_dataset, to_datetime64
from custsuccess.errors import PluginError, ValidationError
from custsuccess.health._kernels import shared_cache, subscriptions
from custsuccess.health.report import HealthReport, tier_codes
from custsuccess.typing import Reasons, RuleResult

if TYPE_CHECKING:
    from custsuccess.distributed.dataset import PartitionedDataset
    from custsuccess.distributed.health import DistributedHealthReport
    from custsuccess.health.contacts import ContactBudget
    from custsuccess.health.learn import LearnedScorer
    from custsuccess.models import Customer, Event, Subscription
    from custsuccess.plugins import Contribution, Registry
    from custsuccess.typing import HealthRule, Playbook

__all__ = ["DEFAULT_GOOD", "DEFAULT_POOR", "ON_PLUGIN_ERROR", "HealthModel"]

class _Default:
    """The type of :data:`_DEFAULT`: "argument not given" (None means something)."""

    __slots__ = ()


_DEFAULT: Final = _Default()

#: Default tier thresholds: ``score >= 70`` is good, ``score < 40`` is poor.
DEFAULT_GOOD: Final = 70.0
DEFAULT_POOR: Final = 40.0
#: The policies of ``HealthModel(on_plugin_error=...)``.
ON_PLUGIN_ERROR: Final = ("raise", "skip")

_RULE_HOOK: Final = "register_health_rules"
_PLAYBOOK_HOOK: Final = "register_playbooks"
_CONFIG_KEYS: Final = ("tiers", "rules", "playbooks")


def _contribution(value: Any, hook: str, what: str, position: int) -> Contribution[Any]:
    from custsuccess.plugins import Contribution

    if isinstance(value, Contribution):
        return value
    name = getattr(value, "name", None)
    method = "evaluate" if hook == _RULE_HOOK else "recommend"
    if not isinstance(name, str) or not name or not callable(getattr(value, method, None)):
        raise ValidationError(
            f"{what}[{position}] is not a {what[:-1]}: expected an object with a str 'name' "
            f"and a {method}() method, got {value!r}"
        )
    return Contribution(name, type(value).__module__, hook, value)


def _weight(value: Any, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{label} must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ValidationError(f"{label} must be >= 0, got {value!r}")
    return float(value)


def _threshold(value: Any, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{label} must be a number from 0 to 100, got {value!r}")
    if not 0 <= value <= 100:
        raise ValidationError(f"{label} must be a number from 0 to 100, got {value!r}")
    return float(value)


class HealthModel:
    """Health rules with weights, tier thresholds and playbooks.

    Score of an account, with ``w_i`` the weights and ``s_i`` the scores of the rules
    that apply to it (not NaN)::

        score = sum(w_i * s_i) / sum(w_i)

    Parameters
    ----------
    rules
        Health rules (objects satisfying :class:`custsuccess.typing.HealthRule`, or the
        registry's :class:`~custsuccess.plugins.Contribution` records of them).
    weights
        Weight per rule name (default: the rule's ``default_weight``, else 1). Weights
        must be >= 0 and not all 0; a rule of weight 0 is switched off (not evaluated).
    good
        Tier threshold: ``score >= good`` is good (default 70).
    poor
        Tier threshold: ``score < poor`` is poor (default 40; ``0 <= poor <= good <= 100``);
        the rest is average.
    playbooks
        Playbooks (:class:`custsuccess.typing.Playbook`) attached to reports.
    contact_budget
        At most this many asks (calls, surveys, referrals) per account in one report:
        a :class:`~custsuccess.health.contacts.ContactBudget` (default: one ask, the
        highest-priority one), or None for no limit.
    registry
        The registry whose ``health_tier_changed`` hook
        :meth:`HealthReport.changes_since` notifies.
    on_plugin_error
        What a rule or playbook that fails (raises, or returns something unusable) does
        to :meth:`score`: ``"raise"`` (the default) raises its
        :class:`~custsuccess.errors.PluginError`; ``"skip"`` warns
        (:class:`~custsuccess.plugins.PluginWarning`, naming the plugin), leaves the rule
        out of every account's weighted mean (its scores are NaN, as if it applied to
        nobody) or recommends the playbook to nobody, and lists it in the report's
        ``skipped_rules`` / ``skipped_playbooks``.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> from custsuccess.health.rules import NpsRule, RecencyRule
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records(
    ...     [Customer("a", t0), Customer("b", t0)],
    ...     events=[Event("a", "login", t0), Event("b", "nps_response", t0, value=3)],
    ... )
    >>> model = HealthModel([RecencyRule(), NpsRule()], weights={"usage.recency": 3})
    >>> report = model.score(ds, "2024-01-11T00:00:00Z")

    Recency 10 days: 100 * (30 - 10) / 29 = 69.0; b's detractor answer, 10 days old:
    50 - 50 * 0.5 ** (10 / 90) = 3.7, so b scores (3 * 69.0 + 3.7) / 4 = 52.7:

    >>> report.score.round(1).tolist(), report.tier.tolist()
    ([69.0, 52.7], ['average', 'average'])
    >>> [(r.rule, round(r.effect, 1), r.reason) for r in report.explain("b").rules]
    [('usage.recency', 14.2, 'no activity since signup 10 days ago'),
     ('survey.nps', -11.6, 'detractor (answered 3) 10 days ago')]
    """

    __slots__ = (
        "_budget", "_good", "_learned", "_on_plugin_error", "_playbooks", "_poor",
        "_registry", "_rule_names", "_rules",
        "_weight_array", "_weights",
    )

    def __init__(
        self,
        rules: Iterable[HealthRule | Contribution[HealthRule]],
        weights: Mapping[str, float] | None = None,
        *,
        good: float = DEFAULT_GOOD,
        poor: float = DEFAULT_POOR,
        playbooks: Iterable[Playbook | Contribution[Playbook]] = (),
        registry: Registry | None = None,
        learned: LearnedScorer | None = None,
        on_plugin_error: str = "raise",
        contact_budget: ContactBudget | _Default | None = _DEFAULT,
    ) -> None:
        if on_plugin_error not in ON_PLUGIN_ERROR:
            raise ValidationError(
                f"on_plugin_error must be one of {list(ON_PLUGIN_ERROR)}, got {on_plugin_error!r}"
            )
        self._on_plugin_error = on_plugin_error
        contributions = [
            _contribution(r, _RULE_HOOK, "rules", i) for i, r in enumerate(rules)
        ]
        names = [c.name for c in contributions]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValidationError(f"rules: duplicate rule name(s) {dup}")
        if not contributions:
            raise ValidationError("rules: a health model needs at least one rule")
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValidationError(
                f"weights: unknown rule name(s) {unknown}; the rules are {sorted(names)}"
            )
        resolved: dict[str, float] = {}
        for c in contributions:
            if c.name in weights:
                resolved[c.name] = _weight(weights[c.name], f"weight of rule {c.name!r}")
            else:
                default = getattr(c.value, "default_weight", 1.0)
                resolved[c.name] = _weight(default, f"default_weight of rule {c.name!r}")
        if not any(resolved.values()):
            raise ValidationError(
                "weights: every rule has weight 0; at least one rule needs a positive weight"
            )
        self._rules = tuple(c for c in contributions if resolved[c.name] > 0)
        self._rule_names = tuple(c.name for c in self._rules)
        self._weights = {c.name: resolved[c.name] for c in self._rules}
        self._weight_array = np.array([self._weights[c.name] for c in self._rules])
        self._weight_array.flags.writeable = False
        self._good = _threshold(good, "tiers.good")
        self._poor = _threshold(poor, "tiers.poor")
        if self._poor > self._good:
            raise ValidationError(
                f"tiers out of order: poor ({poor!r}) must not be above good ({good!r})"
            )
        pbs = [_contribution(p, _PLAYBOOK_HOOK, "playbooks", i) for i, p in enumerate(playbooks)]
        pnames = [p.name for p in pbs]
        pdup = sorted({n for n in pnames if pnames.count(n) > 1})
        if pdup:
            raise ValidationError(f"playbooks: duplicate playbook name(s) {pdup}")
        self._playbooks = tuple(
            sorted(pbs, key=lambda p: (int(getattr(p.value, "priority", 100)), p.name))
        )
        self._registry = registry
        self._learned = learned
        if learned is not None and tuple(learned.rule_names) != self._rule_names:
            raise ValidationError(
                f"learned model: fitted on rules {list(learned.rule_names)}, but the model "
                f"has {list(self._rule_names)}"
            )
        from custsuccess.health.contacts import DEFAULT_CONTACT_BUDGET, ContactBudget

        if isinstance(contact_budget, _Default):
            contact_budget = DEFAULT_CONTACT_BUDGET
        if contact_budget is not None and not isinstance(contact_budget, ContactBudget):
            raise ValidationError(
                f"contact_budget must be a ContactBudget or None, got {contact_budget!r}"
            )
        self._budget = contact_budget

    # ----------------------------------------------------------------- properties

    @property
    def learned(self) -> LearnedScorer | None:
        """The fitted logistic regression of a learned model (:func:`learn`), or None
        for a model of weighted rules."""
        return self._learned

    @property
    def rules(self) -> tuple[HealthRule, ...]:
        """The rules that are evaluated (weight > 0), in order."""
        return tuple(c.value for c in self._rules)

    @property
    def rule_names(self) -> tuple[str, ...]:
        return self._rule_names

    @property
    def weights(self) -> Mapping[str, float]:
        """Weight per rule name."""
        return dict(self._weights)

    @property
    def thresholds(self) -> tuple[float, float]:
        """``(good, poor)``."""
        return self._good, self._poor

    @property
    def playbooks(self) -> tuple[Playbook, ...]:
        """The playbooks, in priority order."""
        return tuple(c.value for c in self._playbooks)

    @property
    def registry(self) -> Registry | None:
        return self._registry

    @property
    def on_plugin_error(self) -> str:
        """``"raise"`` or ``"skip"``: see the class documentation."""
        return self._on_plugin_error

    def __repr__(self) -> str:
        if self._learned is not None:
            return (
                f"<HealthModel learned: {len(self._learned.names)} features, horizon "
                f"{self._learned.horizon_days:g} days, base rate {self._learned.base_rate:.3f}, "
                f"good>={self._good:.1f} poor<{self._poor:.1f}>"
            )
        rules = ", ".join(f"{n}={w:g}" for n, w in self._weights.items())
        return f"<HealthModel good>={self._good:g} poor<{self._poor:g} rules: {rules}>"

    # ----------------------------------------------------------------- builders

    @classmethod
    def default(
        cls, registry: Registry | None = None, *, on_plugin_error: str = "raise"
    ) -> HealthModel:
        """Every rule and playbook of ``registry`` (default: :meth:`Registry.default`,
        the built-ins and installed plugins), each rule at its ``default_weight``, with
        the default thresholds."""
        return cls.from_config({}, registry=registry, on_plugin_error=on_plugin_error)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        registry: Registry | None = None,
        on_plugin_error: str = "raise",
    ) -> HealthModel:
        """A model from a mapping (parsed TOML or JSON); see ``docs/health.md``.

        Keys: ``tiers`` (``good``, ``poor``), ``rules`` (rule name -> ``weight`` and/or
        ``params``; rules not named keep their default weight, weight 0 switches one
        off) and ``playbooks`` (a list of playbook names to use; default all). Every
        mistake is a ValidationError naming the key and the value.

        >>> from custsuccess.plugins import Registry
        >>> m = HealthModel.from_config(
        ...     {"tiers": {"good": 75, "poor": 45},
        ...      "rules": {"usage.recency": {"weight": 4, "params": {"zero_score_days": 45}},
        ...                "advocacy.referrals": {"weight": 0}}},
        ...     registry=Registry(entry_points=False))
        >>> m.thresholds, m.weights["usage.recency"], "advocacy.referrals" in m.weights
        ((75.0, 45.0), 4.0, False)
        >>> m.rules[m.rule_names.index("usage.recency")].zero_score_days
        45
        >>> HealthModel.from_config({"rules": {"usage.recnecy": {"weight": 1}}},
        ...                         registry=Registry(entry_points=False))
        Traceback (most recent call last):
        custsuccess.errors.ValidationError: health config: unknown rule 'usage.recnecy' ...
        """
        if not isinstance(config, Mapping):
            raise ValidationError(f"health config must be a mapping, got {type(config).__name__}")
        unknown = sorted(set(config) - set(_CONFIG_KEYS))
        if unknown:
            raise ValidationError(
                f"health config: unknown key(s) {unknown}; expected {list(_CONFIG_KEYS)}"
            )
        if registry is None:
            from custsuccess.plugins import Registry

            registry = Registry.default()
        available = dict(registry.health_rules())
        rules_cfg = config.get("rules", {})
        if not isinstance(rules_cfg, Mapping):
            raise ValidationError(
                f"health config: 'rules' must be a table of rule name -> settings, "
                f"got {rules_cfg!r}"
            )
        weights: dict[str, float] = {}
        rules: list[Contribution[Any]] = []
        for name in rules_cfg:
            if name not in available:
                raise ValidationError(
                    f"health config: unknown rule {name!r} in 'rules'; known rules: "
                    f"{', '.join(sorted(available))}"
                )
        for name, contribution in available.items():
            settings = rules_cfg.get(name, {})
            if not isinstance(settings, Mapping):
                raise ValidationError(
                    f"health config: rules.{name!r} must be a table with 'weight' and/or "
                    f"'params', got {settings!r}"
                )
            extra = sorted(set(settings) - {"weight", "params"})
            if extra:
                raise ValidationError(
                    f"health config: rules.{name!r} has unknown key(s) {extra}; expected "
                    "'weight' and/or 'params'"
                )
            if "weight" in settings:
                weights[name] = _weight(
                    settings["weight"], f"health config: rules.{name!r}.weight"
                )
            params = settings.get("params", {})
            if params:
                contribution = _with_params(contribution, params)
            rules.append(contribution)
        tiers = config.get("tiers", {})
        if not isinstance(tiers, Mapping):
            raise ValidationError(f"health config: 'tiers' must be a table, got {tiers!r}")
        extra = sorted(set(tiers) - {"good", "poor"})
        if extra:
            raise ValidationError(
                f"health config: tiers has unknown key(s) {extra}; expected 'good', 'poor'"
            )
        good = _threshold(tiers.get("good", DEFAULT_GOOD), "health config: tiers.good")
        poor = _threshold(tiers.get("poor", DEFAULT_POOR), "health config: tiers.poor")
        if poor > good:
            raise ValidationError(
                f"health config: tiers out of order: poor ({poor:g}) must not be above "
                f"good ({good:g})"
            )
        all_playbooks = dict(registry.playbooks())
        chosen = config.get("playbooks")
        if chosen is None:
            playbooks = list(all_playbooks.values())
        else:
            if isinstance(chosen, str) or not isinstance(chosen, Sequence):
                raise ValidationError(
                    f"health config: 'playbooks' must be a list of playbook names, got {chosen!r}"
                )
            missing = [p for p in chosen if p not in all_playbooks]
            if missing:
                raise ValidationError(
                    f"health config: unknown playbook(s) {missing}; known playbooks: "
                    f"{', '.join(sorted(all_playbooks))}"
                )
            playbooks = [all_playbooks[p] for p in chosen]
        try:
            return cls(rules, weights, good=good, poor=poor, playbooks=playbooks,
                       registry=registry, on_plugin_error=on_plugin_error)
        except ValidationError as exc:
            raise ValidationError(f"health config: {exc}") from None

    @classmethod
    def from_toml(
        cls, path: str | PathLike[str], *, registry: Registry | None = None
    ) -> HealthModel:
        """A model from a TOML file: the whole file, or its ``[health]`` table when it
        has one (see :meth:`from_config`)."""
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover (3.10)
            import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"health config {str(path)!r} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ValidationError(f"health config {str(path)!r} cannot be read: {exc}") from None
        health = data.get("health", data)
        return cls.from_config(health, registry=registry)

    def to_config(self) -> dict[str, Any]:
        """This model as a mapping :meth:`from_config` reads back (rule parameters of
        attrs-based rules included; the registry's other rules with weight 0)."""
        rules: dict[str, Any] = {}
        for c in self._rules:
            entry: dict[str, Any] = {"weight": self._weights[c.name]}
            if attrs.has(type(c.value)):
                entry["params"] = {
                    k: _plain(v) for k, v in attrs.asdict(c.value, recurse=False).items()
                }
            rules[c.name] = entry
        if self._registry is not None:  # switched off (weight 0), or not chosen
            for name in self._registry.health_rules():
                rules.setdefault(name, {"weight": 0.0})
        return {
            "tiers": {"good": self._good, "poor": self._poor},
            "rules": rules,
            "playbooks": [p.name for p in self._playbooks],
        }

    def with_learned(self, learned: LearnedScorer) -> HealthModel:
        """This model's rules and playbooks with ``learned`` scoring the accounts; the
        tier thresholds are the learned model's (see :func:`custsuccess.health.learn`)."""
        return HealthModel(
            self._rules, self._weights, good=learned.good_score, poor=learned.poor_score,
            playbooks=self._playbooks, registry=self._registry, learned=learned,
            on_plugin_error=self._on_plugin_error, contact_budget=self._budget,
        )  # fmt: skip

    def rules_only(self) -> HealthModel:
        """This model without its learned part: the weighted rules and default tiers."""
        if self._learned is None:
            return self
        return HealthModel(self._rules, self._weights, playbooks=self._playbooks,
                           registry=self._registry, on_plugin_error=self._on_plugin_error,
                           contact_budget=self._budget)

    def with_tiers(self, *, good_ratio: float, poor_ratio: float) -> HealthModel:
        """A learned model with other tier rules: poor at ``poor_ratio`` times the base
        rate's risk or more, good at ``good_ratio`` times it or less."""
        if self._learned is None:
            raise ValidationError("with_tiers: only a learned model has risk-ratio tiers")
        return self.with_learned(self._learned.with_tiers(good_ratio, poor_ratio))

    def save(self, path: str | PathLike[str]) -> None:
        """Write the model (rules, tiers, playbooks and the learned part) as JSON text
        that :meth:`load` reads back."""
        from custsuccess.health.learn import dumps

        data: dict[str, Any] = {"format": "custsuccess.health_model", "version": 1,
                                "config": self.to_config()}
        if self._learned is not None:
            data["learned"] = self._learned.to_dict()
        with open(path, "w", encoding="utf-8") as f:
            f.write(dumps(data))

    @classmethod
    def load(
        cls, path: str | PathLike[str], *, registry: Registry | None = None
    ) -> HealthModel:
        """A model written by :meth:`save` (its rules come from ``registry``)."""
        import json

        from custsuccess.health.learn import LearnedScorer

        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            raise ValidationError(f"health model {str(path)!r} cannot be read: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != "custsuccess.health_model":
            raise ValidationError(f"{str(path)!r} is not a saved custsuccess health model")
        model = cls.from_config(data.get("config", {}), registry=registry)
        if "learned" in data:
            model = model.with_learned(LearnedScorer.from_dict(data["learned"]))
        return model

    # ----------------------------------------------------------------- scoring

    @overload
    def score(
        self,
        dataset: Dataset,
        as_of: datetime | np.datetime64 | str,
        *,
        include_churned: bool = False,
    ) -> HealthReport: ...
    @overload
    def score(
        self,
        dataset: PartitionedDataset,
        as_of: datetime | np.datetime64 | str,
        *,
        include_churned: bool = False,
    ) -> DistributedHealthReport: ...
    def score(
        self,
        dataset: Dataset | PartitionedDataset,
        as_of: datetime | np.datetime64 | str,
        *,
        include_churned: bool = False,
    ) -> HealthReport | DistributedHealthReport:
        """Score the accounts of ``dataset`` as they stood at ``as_of``.

        Only data at or before ``as_of`` is seen (``dataset.until(as_of)``): later
        events, subscriptions and cancellations change nothing. The accounts scored are
        those created at or before ``as_of`` that are customers then: with a subscription
        running at ``as_of``, or with no subscription at all (non-subscription
        businesses, trials). ``include_churned`` also scores accounts whose
        subscriptions had all ended.

        A :class:`~custsuccess.distributed.PartitionedDataset` is scored partition by
        partition on its Dask workers: the result is a
        :class:`~custsuccess.distributed.DistributedHealthReport` with the same numbers.

        Warns :class:`~custsuccess.io.quality.BlindModelWarning` when the model cannot
        see the accounts' activity: no events, none of a kind any rule reads, or more than
        half of the scored accounts without such an event.
        """
        if getattr(dataset, "_custsuccess_partitioned", False):
            from custsuccess.distributed.health import score as score_partitioned

            return score_partitioned(
                self, dataset, as_of, include_churned=include_churned  # type: ignore[arg-type]
            )
        dataset = require_dataset(dataset, "dataset", "score()")
        t = to_datetime64(as_of, "as_of")
        view = dataset.until(t)
        report = self._score_view(view, t, include_churned)
        from custsuccess.io.quality import warn_if_blind

        warn_if_blind(view, self.rules, report.index)
        return report

    def _score_view(self, view: Dataset, t: np.datetime64, include_churned: bool) -> HealthReport:
        """Score ``view``, a dataset that already ends at ``t``."""
        n = view.n_customers
        skipped: list[str] = []
        with shared_cache():
            columns: list[npt.NDArray[np.float64]] = []
            reasons: list[Reasons] = []
            for contribution in self._rules:
                try:
                    result = self._evaluate(contribution, view, t, n)
                except PluginError as exc:
                    if self._on_plugin_error == "raise":
                        raise
                    _warn_skipped(exc)
                    skipped.append(contribution.name)
                    result = RuleResult(np.full(n, np.nan), Reasons.none(n))
                columns.append(result.score)
                reasons.append(result.reasons)
            rows = self._population(view, t, include_churned)
            index = np.arange(n, dtype=np.intp) if rows is None else rows
            report = self._assemble(view, t, index, columns, tuple(reasons))
            if skipped:
                report = attrs.evolve(report, skipped_rules=tuple(skipped))
            if self._learned is not None:
                report = self._learned_report(view, t, index, columns, report)
            if self._playbooks:
                report = self._recommend(view, report)
        return report

    def score_one(
        self,
        customer: Customer,
        subscriptions: Iterable[Subscription] = (),
        events: Iterable[Event] = (),
        as_of: datetime | np.datetime64 | str | None = None,
    ) -> HealthReport:
        """Score one account from plain records: a one-row :class:`HealthReport`.

        Builds a one-customer dataset and runs the same array code as :meth:`score`
        (with ``include_churned=True``: the account asked about is scored even when its
        subscriptions have ended), so the numbers equal those of a batch.
        """
        from custsuccess.health.single import one_customer_dataset

        if as_of is None:
            raise ValidationError("score_one: as_of is required")
        t = to_datetime64(as_of, "as_of")
        # built already cut at as_of: what dataset.until(as_of) would show
        view = one_customer_dataset(customer, subscriptions, events, as_of=t)
        if view.customers.created_at[0] > t:
            raise ValidationError(
                f"score_one: customer {customer.id!r} was created at "
                f"{customer.created_at.isoformat()}, after as_of {t}Z"
            )
        return self._score_view(view, t, include_churned=True)

    # ----------------------------------------------------------------- internals

    def _evaluate(
        self, contribution: Contribution[Any], view: Dataset, t: np.datetime64, n: int
    ) -> RuleResult:
        try:
            result = contribution.value.evaluate(view, t)
        except Exception:
            from custsuccess.plugins import guarded

            with guarded(contribution, "evaluate()"):  # wraps it into a PluginError
                raise
        if not isinstance(result, RuleResult):
            got = type(result).__name__
            raise _garbage(contribution, f"returned a {got}, expected a RuleResult")
        score = result.score
        if not (
            isinstance(score, np.ndarray)
            and score.shape == (n,)
            and score.dtype.kind == "f"
            and (n == 0 or not (np.fmin.reduce(score) < 0 or np.fmax.reduce(score) > 100))
            # fmin / fmax skip NaN (allowed) and catch infinities; all-NaN gives NaN: passes
        ):
            from custsuccess.plugins import check_array  # the full check: says what is wrong

            check_array(
                score, contribution, (n,), 0, 100, allow_nan=True, what="score", kinds="f"
            )
        reasons: object = result.reasons
        if not isinstance(reasons, Reasons):
            got = type(reasons).__name__
            raise _garbage(contribution, f"reasons are a {got}, expected Reasons of length {n}")
        problem = reasons.problem(n)  # here, not as a KeyError in explain() later
        if problem is not None:
            raise _garbage(contribution, f"reasons: {problem}")
        if score.dtype != np.float64:  # e.g. float32 from a plugin: one dtype for the report
            return RuleResult(score.astype(np.float64), reasons)
        return result

    @staticmethod
    def _population(
        view: Dataset, t: np.datetime64, include_churned: bool
    ) -> npt.NDArray[np.intp] | None:
        n = view.n_customers
        keep = view.customers.created_at <= t
        if not include_churned:
            subs = subscriptions(view)
            has_sub = np.zeros(n, dtype=bool)
            has_sub[subs.customer] = True
            running = np.zeros(n, dtype=bool)
            running[subs.customer[subs.active_at(t)]] = True
            keep &= running | ~has_sub
        if keep.all():
            return None
        return np.flatnonzero(keep)

    def _assemble(
        self,
        view: Dataset,
        t: np.datetime64,
        index: npt.NDArray[np.intp],
        columns: list[npt.NDArray[np.float64]],
        reasons: tuple[Reasons, ...],
    ) -> HealthReport:
        w = self._weight_array
        # (rules x accounts), C order: each rule's scores contiguous; the report holds
        # its transpose, an (accounts x rules) view.
        k, m = len(columns), index.size
        if m == columns[0].size:
            stacked = np.array(columns, dtype=np.float64)
        else:  # take each column's rows straight into place: no (rules x all) temporary
            stacked = np.empty((k, m))
            for j, column in enumerate(columns):
                np.take(column, index, out=stacked[j])
        # Elementwise matrix operations, then the rules added one after the other
        # (accumulate is sequential; a reduce may sum pairwise, by how the memory is
        # laid out): the same floating-point operations in the same order whatever the
        # number of rows, so one account scores exactly as in a batch.
        applicable = ~np.isnan(stacked)
        weights = w[:, None] * applicable
        points = w[:, None] * np.where(applicable, stacked, 0.0)
        den = np.add.accumulate(weights, axis=0, out=weights)[-1].copy()
        num = np.add.accumulate(points, axis=0, out=points)[-1].copy()
        del weights, points, applicable
        with np.errstate(invalid="ignore", divide="ignore"):
            total = num / den
            inverse = 1.0 / den
        total[den == 0] = np.nan
        # rounding can push a mean of 100s past 100
        np.minimum(np.maximum(total, 0.0, out=total), 100.0, out=total)
        contributions = stacked * (w[:, None] * inverse)
        # the report hands out transposed views: freeze the memory they share
        readonly(stacked)
        readonly(contributions)
        return HealthReport(
            as_of=t,
            customer_ids=view.customer_ids[index],
            index=index,
            score=total,
            tier_code=tier_codes(total, self._good, self._poor),
            rule_names=self.rule_names,
            weights=w,
            rule_scores=stacked.T,
            contributions=contributions.T,
            rule_reasons=reasons,
            reason_rows=index,
            good=self._good,
            poor=self._poor,
            playbooks=(),
            recommended=np.zeros((m, 0), dtype=bool),
            registry=self._registry,
            dataset=view,
        )

    def _learned_report(
        self,
        view: Dataset,
        t: np.datetime64,
        index: npt.NDArray[np.intp],
        columns: list[npt.NDArray[np.float64]],
        report: HealthReport,
    ) -> HealthReport:
        """The report with the learned probability, score and tier, and the features
        the explanations need."""
        from custsuccess.health.features import features_at, segment_values

        scorer = self._learned
        assert scorer is not None
        everyone = index.size == view.n_customers
        feats = features_at(
            view, t, scorer.kinds, None, window_days=scorer.window_days, rule_columns=columns
        )
        if not everyone:
            used_set = set(scorer._positions().tolist())
            feats = [f[index] if p in used_set else f for p, f in enumerate(feats)]
        segment = None
        if scorer.segments and scorer.segment_by is not None:
            values = segment_values(view, scorer.segment_by)
            segment = scorer.segment_codes(None if values is None else values[index],
                                           index.size)
        probability = special_expit(scorer.log_odds_of(feats, segment))
        score = scorer.score_of(probability)
        probability.flags.writeable = False
        score.flags.writeable = False
        used = tuple(feats[p] for p in scorer._positions().tolist())
        for f in used:
            f.flags.writeable = False
        return attrs.evolve(
            report,
            score=score,
            tier_code=tier_codes(score, self._good, self._poor),
            churn_probability=probability,
            learned_features=used,
            learned_segment=segment,
            scorer=scorer,
        )

    def _recommend(self, view: Dataset, report: HealthReport) -> HealthReport:
        m = len(report)
        masks = np.zeros((m, len(self._playbooks)), dtype=bool)
        skipped: list[str] = []
        for j, contribution in enumerate(self._playbooks):
            try:
                masks[:, j] = self._recommend_one(contribution, view, report, m)
            except PluginError as exc:
                if self._on_plugin_error == "raise":
                    raise
                _warn_skipped(exc)
                skipped.append(contribution.name)  # recommended to nobody
        names = tuple(c.name for c in self._playbooks)
        if self._budget is not None:
            masks = self._budget.trim(masks, names)
        return attrs.evolve(
            report, playbooks=names, recommended=masks, skipped_playbooks=tuple(skipped)
        )

    @staticmethod
    def _recommend_one(
        contribution: Contribution[Any], view: Dataset, report: HealthReport, m: int
    ) -> npt.NDArray[np.bool_]:
        try:
            mask = contribution.value.recommend(view, report)
        except Exception:
            from custsuccess.plugins import guarded

            with guarded(contribution, "recommend()"):  # wraps it into a PluginError
                raise
        if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (m,)):
            from custsuccess.plugins import check_array  # the full check: says what is wrong

            check_array(mask, contribution, (m,), what="recommendation", kinds="b")
        out: npt.NDArray[np.bool_] = mask
        return out


def _warn_skipped(error: PluginError) -> None:
    from custsuccess.plugins import PluginWarning

    frame, level = sys._getframe(1), 2  # point the warning at the caller of score()
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        "custsuccess."
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(f"{error}; skipped (on_plugin_error='skip')", PluginWarning, stacklevel=level)


def special_expit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    from scipy import special

    out: npt.NDArray[np.float64] = special.expit(x)
    return out


def _garbage(contribution: Contribution[Any], problem: str) -> PluginError:
    return PluginError(
        f"plugin {contribution.plugin!r}: health rule {contribution.name!r} "
        f"(hook {contribution.hook}) returned garbage: {problem}",
        plugin=contribution.plugin,
        contribution=contribution.name,
        hook=contribution.hook,
    )


def _with_params(contribution: Contribution[Any], params: Any) -> Contribution[Any]:
    name = contribution.name
    label = f"health config: rules.{name!r}.params"
    if not isinstance(params, Mapping):
        raise ValidationError(f"{label} must be a table of parameter -> value, got {params!r}")
    rule = contribution.value
    if not attrs.has(type(rule)):
        raise ValidationError(
            f"{label}: rule {name!r} (plugin {contribution.plugin!r}) takes no parameters"
        )
    fields = {f.name for f in attrs.fields(type(rule)) if f.init}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ValidationError(
            f"{label}: unknown parameter(s) {unknown}; rule {name!r} takes "
            f"{', '.join(sorted(fields))}"
        )
    try:
        new = attrs.evolve(rule, **params)
    except ValidationError as exc:
        raise ValidationError(f"{label}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{label}: {exc}") from None
    return attrs.evolve(contribution, value=new)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
