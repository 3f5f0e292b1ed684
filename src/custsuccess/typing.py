"""The contracts between custsuccess and its plugins.

A plugin contributes objects that satisfy one of these protocols, through the hooks in
:mod:`custsuccess.hookspecs`. Every contribution has a unique dotted ``name``
(``usage.recency``) and a one-line ``description``, and works on a whole
:class:`~custsuccess.dataset.Dataset` at once, returning numpy arrays with one entry per
customer (or per churned customer): the same code serves one account and a million.

Human-readable reasons are produced lazily from :class:`Reasons` (a template per reason
code plus numeric details), so scoring a million accounts formats no strings.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt
from typing_extensions import Protocol, runtime_checkable

from custsuccess._readonly import readonly_field, readonly_mapping

if TYPE_CHECKING:
    from custsuccess.dataset import Categorical, Dataset
    from custsuccess.health import HealthReport

__all__ = [
    "ChurnReasonClassifier",
    "ChurnedAccounts",
    "HealthRule",
    "Metric",
    "Playbook",
    "ReasonResult",
    "Reasons",
    "RegisterChurnReason",
    "RegisterHealthRule",
    "RegisterMetric",
    "RegisterPlaybook",
    "RuleResult",
    "TierChange",
]


@attrs.frozen(slots=True, eq=False)
class Reasons:
    """Per-row human reasons, formatted only when asked for.

    ``codes[i]`` picks a template from ``templates`` (-1: no reason); the template is
    formatted with ``details`` (name -> array) at row ``i``. The arrays are read-only.

    >>> r = Reasons(("no activity for {days:.0f} days", "active today"),
    ...             np.array([0, 1, -1]), {"days": np.array([41.0, 0.0, 3.0])})
    >>> r.format(0), r.format(1), r.format(2)
    ('no activity for 41 days', 'active today', None)
    """

    templates: tuple[str, ...]
    codes: npt.NDArray[np.integer[Any]] = attrs.field(converter=readonly_field)
    details: Mapping[str, npt.NDArray[Any]] = attrs.field(
        factory=dict, converter=readonly_mapping
    )

    def __len__(self) -> int:
        return len(self.codes)

    def format(self, i: int) -> str | None:
        """The reason of row ``i`` as text, or None."""
        code = int(self.codes[i])
        if code < 0:
            return None
        values = {
            k: v[i].item() if hasattr(v[i], "item") else v[i] for k, v in self.details.items()
        }
        return self.templates[code].format(**values)

    def problem(self, n: int) -> str | None:
        """What makes these reasons unusable for ``n`` rows, or None when they are fine.

        Checked: ``templates`` is a tuple of str whose fields (``{days:.0f}``) all name a
        detail; ``codes`` is an integer array of shape ``(n,)`` with values from -1 to
        ``len(templates) - 1``; every detail is an array of shape ``(n,)``; and each
        template used formats on the first row using it. The host runs this where a
        plugin hands reasons over, so a fault is reported there, naming the plugin,
        instead of as a KeyError when a reason is formatted later.

        >>> Reasons(("{days:.0f} days idle",), np.array([0, -1]), {}).problem(2)
        "template 0 '{days:.0f} days idle' names detail 'days', which is not among the details []"
        >>> Reasons(("ok",), np.array([0, 1])).problem(2)
        'codes[1] = 1 is outside -1..0'
        """
        # typed as what a plugin may really hand over, not what it should
        templates: object = self.templates
        codes: object = self.codes
        details: object = self.details
        if not isinstance(templates, tuple) or not all(isinstance(t, str) for t in templates):
            return f"templates must be a tuple of str, got {templates!r}"
        if not isinstance(codes, np.ndarray):
            return f"codes is a {type(codes).__name__}, expected a numpy integer array"
        if codes.dtype.kind not in "iu":
            return f"codes has dtype {codes.dtype}, expected integers"
        if codes.shape != (n,):
            return f"codes has shape {codes.shape}, expected ({n},)"
        if not isinstance(details, Mapping):
            return f"details is a {type(details).__name__}, expected a mapping"
        for key, detail in details.items():
            if not isinstance(key, str):
                return f"details has a key {key!r}, expected str"
            if not isinstance(detail, np.ndarray) or detail.shape != (n,):
                shape = getattr(detail, "shape", type(detail).__name__)
                return f"details[{key!r}] has shape {shape}, expected ({n},)"
        if n:
            outside = np.flatnonzero((codes < -1) | (codes >= len(templates)))
            if outside.size:
                i = int(outside[0])
                return f"codes[{i}] = {int(codes[i])} is outside -1..{len(templates) - 1}"
        for j, template in enumerate(templates):
            missing = _template_problem(template, tuple(sorted(details)))
            if missing is not None:
                return f"template {j} {template!r} {missing}"
        used = np.bincount(codes.astype(np.intp) + 1, minlength=len(templates) + 1)[1:] if n else ()
        for j in np.flatnonzero(used).tolist():
            row = int(np.argmax(codes == j))
            try:
                self.format(row)
            except Exception as exc:
                return (
                    f"template {j} {self.templates[j]!r} fails on row {row}: "
                    f"{type(exc).__name__}: {exc}"
                )
        return None

    def take(self, index: Any) -> Reasons:
        """The rows at ``index``."""
        return Reasons(
            self.templates, self.codes[index], {k: v[index] for k, v in self.details.items()}
        )

    @classmethod
    def none(cls, n: int) -> Reasons:
        """``n`` rows with no reason."""
        return cls((), np.full(n, -1, dtype=np.int8))


@functools.lru_cache(maxsize=256)
def _template_problem(template: str, names: tuple[str, ...]) -> str | None:
    """Why ``template`` cannot be formatted with details ``names``, or None."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"is not a format string: {exc}"
    for field in fields:
        name = re.split(r"[.\[]", field, maxsplit=1)[0]
        if not name or name.isdigit():
            return f"has a positional field {{{field}}}: name a detail instead"
        if name not in names:
            return f"names detail {name!r}, which is not among the details {list(names)}"
    return None


@attrs.frozen(slots=True, eq=False)
class RuleResult:
    """What a health rule says about every customer of a dataset.

    ``score``: float64, one per customer, in [0, 100]; NaN where the rule is not
    applicable (it is then left out of that account's weighted mean).
    ``reasons``: why, one per customer. The arrays are read-only.
    """

    score: npt.NDArray[np.float64] = attrs.field(converter=readonly_field)
    reasons: Reasons


@runtime_checkable
class HealthRule(Protocol):
    """A health rule: scores every customer 0-100, or "not applicable" (NaN).

    ``evaluate`` receives a dataset view that already ends at ``as_of``
    (``dataset.until(as_of)``): it must not look past it.
    """

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult: ...


@attrs.frozen(slots=True, eq=False)
class ChurnedAccounts:
    """The churned customers a churn-reason classifier is asked about.

    ``customer``: customer indexes into the dataset; ``churned_at``: when the customer's
    last active subscription ended; ``started_at``: when its first subscription started;
    ``cancel_reason``: the reason the customer gave, if any (code -1: none given).
    The arrays are read-only: a classifier cannot change what the next one sees.
    """

    customer: npt.NDArray[np.intp] = attrs.field(converter=readonly_field)
    churned_at: npt.NDArray[np.datetime64] = attrs.field(converter=readonly_field)
    started_at: npt.NDArray[np.datetime64] = attrs.field(converter=readonly_field)
    cancel_reason: Categorical

    def __len__(self) -> int:
        return len(self.customer)


@attrs.frozen(slots=True, eq=False)
class ReasonResult:
    """A classifier's verdict on each churned account.

    ``reason``: the reason label per account (code -1: this classifier makes no claim);
    ``evidence``: why, per account.
    """

    reason: Categorical
    evidence: Reasons


@runtime_checkable
class ChurnReasonClassifier(Protocol):
    """Says why churned accounts left. Classifiers are asked in order of ``precedence``
    (lowest first); the first one that claims an account decides its reason."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def precedence(self) -> int: ...
    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult: ...


@runtime_checkable
class Metric(Protocol):
    """A named metric computable on a dataset. ``compute`` returns the metric's own
    result type (a number, an array or a table), documented by the metric.

    The host checks the result (:func:`custsuccess.plugins.check_metric_result`): real
    numbers, no infinities unless the metric has a true ``allow_inf`` attribute."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    def compute(self, dataset: Dataset, **options: Any) -> object: ...


@attrs.frozen(slots=True)
class TierChange:
    """An account that moved between health tiers between two reports."""

    customer_id: str
    previous_tier: str
    tier: str
    previous_score: float
    score: float


class RegisterHealthRule(Protocol):
    """The ``register`` callback of ``register_health_rules``."""

    def __call__(self, rule: HealthRule, /) -> None: ...


class RegisterChurnReason(Protocol):
    """The ``register`` callback of ``register_churn_reasons``."""

    def __call__(self, classifier: ChurnReasonClassifier, /) -> None: ...


class RegisterMetric(Protocol):
    """The ``register`` callback of ``register_metrics``."""

    def __call__(self, metric: Metric, /) -> None: ...


@runtime_checkable
class Playbook(Protocol):
    """A recommended next action for accounts of a health report.

    ``recommend`` returns a boolean mask, one entry per customer of the report, marking the
    accounts the playbook is recommended for. ``priority`` orders playbooks when several
    apply (lowest first).
    """

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def priority(self) -> int: ...
    def recommend(self, dataset: Dataset, report: HealthReport) -> npt.NDArray[np.bool_]: ...


class RegisterPlaybook(Protocol):
    """The ``register`` callback of ``register_playbooks``."""

    def __call__(self, playbook: Playbook, /) -> None: ...
