"""The data-quality report: what came in, what was refused, and what the health model can see.

:meth:`Dataset.describe() <custsuccess.dataset.Dataset.describe>` returns a
:class:`DataQuality`; a dataset read by :func:`custsuccess.io.read_dataset` also carries
one :class:`SourceReport` per source (rows read, rejected with reasons and the first
offending rows, rows skipped on purpose). :class:`BlindModelWarning` is what
:meth:`HealthModel.score <custsuccess.health.HealthModel.score>` warns when the model cannot
see the activity it scores.

This module needs numpy only (no pyarrow): any dataset can be described.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = [
    "BlindModelWarning",
    "DataQuality",
    "KindUsage",
    "Rejection",
    "SourceReport",
    "blind_reasons",
    "describe",
    "rule_kinds",
    "warn_if_blind",
]

#: An account "without activity" has no event of a kind any rule reads; more than this
#: share of scored accounts without activity makes the model blind.
BLIND_SHARE: Final = 0.5
_EXAMPLES: Final = 5

#: Kinds read by built-in rules that do not name them in an attribute.
_RULE_CLASS_KINDS: Final[Mapping[str, tuple[str, ...]]] = {
    "NpsRule": ("nps_response",),
    "SupportResponsivenessRule": ("support_request", "support_reply"),
    "PaymentFailuresRule": ("payment_failed",),
    "ReferralsRule": ("referral",),
    "BreadthRule": ("feature_used",),
}


class BlindModelWarning(UserWarning):
    """The health model is scoring accounts it cannot see: there are no events, none of a
    kind any rule reads, or most accounts have no activity. Scores then reflect missing
    data, not customers: map the events (see "Bring your own data") before acting."""


@attrs.frozen(slots=True)
class Rejection:
    """Rows of a source refused for one reason: ``examples`` are (row, value) pairs of
    the first ones (rows count from 0, the first data row)."""

    reason: str
    column: str | None
    count: int
    examples: tuple[tuple[int, Any], ...]


@attrs.frozen(slots=True)
class SourceReport:
    """What one source gave: ``rows_read`` source rows, ``rows_out`` rows (events,
    subscriptions...) kept in the dataset, ``rejected`` refused rows by reason, and
    ``skipped`` rows left out on purpose by the mapping (``skip_missing``)."""

    name: str
    table: str
    rows_read: int
    rows_out: int
    rejected: tuple[Rejection, ...] = ()
    skipped: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def rows_rejected(self) -> int:
        return sum(r.count for r in self.rejected)


@attrs.frozen(slots=True)
class KindUsage:
    """One event kind: how many events and customers have it, and the rules reading it."""

    kind: str
    events: int
    customers: int
    rules: tuple[str, ...]


@attrs.frozen(slots=True)
class DataQuality:
    """The quality report of a dataset (see :func:`describe`); ``str()`` renders it."""

    sources: tuple[SourceReport, ...]
    customers: int
    subscriptions: int
    events: int
    customers_without_events: int
    customers_without_events_examples: tuple[str, ...]
    kinds: tuple[KindUsage, ...]
    unread_rules: Mapping[str, tuple[str, ...]]
    first: np.datetime64 | None
    last: np.datetime64 | None
    currencies: Mapping[str, tuple[int, float]]
    warnings: tuple[str, ...]

    def __str__(self) -> str:
        lines: list[str] = []
        if self.sources:
            lines.append("Sources")
            for s in self.sources:
                lines.append(
                    f"  {s.name}: {s.rows_read} rows read -> {s.rows_out} {s.table}, "
                    f"{s.rows_rejected} rejected"
                )
                for r in s.rejected:
                    shown = ", ".join(f"row {row}: {value!r}" for row, value in r.examples)
                    column = f" [{r.column}]" if r.column else ""
                    lines.append(f"    rejected {r.count}{column}: {r.reason} ({shown})")
                for reason, count in s.skipped.items():
                    lines.append(f"    skipped {count}: {reason}")
        lines.append(
            f"Dataset: {self.customers} customers, {self.subscriptions} subscriptions, "
            f"{self.events} events"
        )
        if self.first is not None:
            lines.append(f"Time range: {self.first}Z .. {self.last}Z")
        if self.currencies:
            money = ", ".join(
                f"{c} ({n} subscriptions, MRR {m:,.2f})" for c, (n, m) in self.currencies.items()
            )
            lines.append(f"Currencies: {money}")
        shown = ", ".join(self.customers_without_events_examples)
        lines.append(
            f"Customers without events: {self.customers_without_events}"
            + (f" (e.g. {shown})" if shown else "")
        )
        if self.kinds:
            lines.append("Event kinds")
            for k in self.kinds:
                rules = ", ".join(k.rules) if k.rules else "no rule"
                lines.append(
                    f"  {k.kind}: {k.events} events, {k.customers} customers; read by {rules}"
                )
        for rule, kinds in self.unread_rules.items():
            lines.append(f"Rule {rule} reads {', '.join(kinds)}: none in the data")
        for warning in self.warnings:
            lines.append(f"Warning: {warning}")
        return "\n".join(lines)


def rule_kinds(rule: Any) -> tuple[str, ...] | None:
    """The event kinds a health rule reads, or None when it does not say.

    A rule may declare them as ``kinds_read``; built-in rules are known by their
    ``activity_kinds`` and ``milestones`` settings and their class.
    """
    declared = getattr(rule, "kinds_read", None)
    if declared is not None:
        return tuple(str(k) for k in declared)
    found: list[str] = []
    for attribute in ("activity_kinds", "milestones"):
        value = getattr(rule, attribute, None)
        if isinstance(value, (tuple, list)):
            found.extend(str(v) for v in value if isinstance(v, str))
    found.extend(_RULE_CLASS_KINDS.get(type(rule).__name__, ()))
    return tuple(dict.fromkeys(found)) or None


def _rules_of(model: Any) -> list[tuple[str, tuple[str, ...] | None]]:
    if model is None:
        from custsuccess.health import HealthModel

        model = HealthModel.default()
    return [(str(getattr(r, "name", type(r).__name__)), rule_kinds(r)) for r in model.rules]


def describe(
    dataset: Dataset, *, model: Any = None, sources: Sequence[SourceReport] = ()
) -> DataQuality:
    """The quality report of ``dataset``: its sources' reports (when read through
    :mod:`custsuccess.io`), sizes, customers without events, each event kind with the
    rules of ``model`` (the default health model when None) that read it, the time range,
    and subscriptions and MRR per currency."""
    events = dataset.events
    subs = dataset.subscriptions
    n = dataset.n_customers
    counts = np.bincount(events.customer, minlength=n) if n else np.zeros(0, np.int64)
    silent = np.flatnonzero(counts == 0)
    rules = _rules_of(model)
    readers: dict[str, list[str]] = {}
    for name, kinds in rules:
        for kind in kinds or ():
            readers.setdefault(kind, []).append(name)
    usage = []
    if len(events):
        per_kind = np.bincount(events.kind, minlength=len(events.kinds))
        for code in np.flatnonzero(per_kind).tolist():
            kind = events.kinds[code]
            who = np.unique(events.customer[events.kind == code]).size
            usage.append(
                KindUsage(kind, int(per_kind[code]), int(who), tuple(readers.get(kind, ())))
            )
    seen = {k.kind for k in usage}
    unread = {
        name: kinds for name, kinds in rules if kinds and not any(k in seen for k in kinds)
    }
    times = [
        t[~np.isnat(t)]
        for t in (dataset.customers.created_at, subs.started_at, subs.ended_at, events.time)
    ]
    present = [t for t in times if t.size]
    first = min(t.min() for t in present) if present else None
    last = max(t.max() for t in present) if present else None
    currencies: dict[str, tuple[int, float]] = {}
    if len(subs):
        for code, name in enumerate(subs.currency.categories):
            mask = subs.currency.codes == code
            active = mask & np.isnat(subs.ended_at)
            currencies[name] = (int(mask.sum()), float(subs.mrr[active].sum()))
    warnings = list(blind_reasons(dataset, [k for _, k in rules]))
    if len(currencies) > 1:
        warnings.append(
            f"{len(currencies)} currencies ({', '.join(currencies)}): MRR metrics add "
            "amounts as they are; convert to one currency in the mapping (scale) or "
            "report per currency"
        )
    return DataQuality(
        tuple(sources),
        n,
        len(subs),
        len(events),
        int(silent.size),
        tuple(str(dataset.customer_ids[i]) for i in silent[:_EXAMPLES]),
        tuple(usage),
        unread,
        first,
        last,
        currencies,
        tuple(warnings),
    )


def blind_reasons(
    dataset: Dataset,
    kinds_per_rule: Iterable[tuple[str, ...] | None],
    accounts: npt.NDArray[np.intp] | None = None,
) -> list[str]:
    """Why a health model reading ``kinds_per_rule`` is blind on ``dataset`` (empty when
    it is not): no events; no event of a kind any rule reads; or more than half of
    ``accounts`` (customer indexes; all by default) without such an event."""
    events = dataset.events
    total = dataset.n_customers if accounts is None else len(accounts)
    if total == 0:
        return []
    if len(events) == 0:
        return [
            f"there are no events, so the {total} accounts are scored on missing data; "
            "map the product's events (logins, feature use, support, NPS)"
        ]
    read = sorted({k for kinds in kinds_per_rule for k in (kinds or ())})
    codes = [c for c in (events.kind_code(k) for k in read) if c >= 0]
    readable = np.isin(events.kind, codes)
    if not readable.any():
        seen = sorted({events.kinds[c] for c in np.unique(events.kind).tolist()})
        return [
            f"none of the {len(events)} events is of a kind a rule reads (rules read "
            f"{', '.join(read)}; the events are {', '.join(seen)}); map the source's event "
            "types to these kinds"
        ]
    active = np.zeros(dataset.n_customers, dtype=bool)
    active[events.customer[readable]] = True
    chosen = active if accounts is None else active[accounts]
    silent = int((~chosen).sum())
    if silent > BLIND_SHARE * total:
        return [
            f"{silent} of {total} accounts have no event of a kind the rules read; their "
            "scores reflect missing data (are their events mapped to the right customer ids?)"
        ]
    return []


def warn_if_blind(
    dataset: Dataset, rules: Iterable[Any], accounts: npt.NDArray[np.intp] | None = None
) -> None:
    """Warn :class:`BlindModelWarning` when :func:`blind_reasons` finds a reason."""
    import warnings

    for reason in blind_reasons(dataset, [rule_kinds(r) for r in rules], accounts):
        warnings.warn(f"the health model is blind: {reason}", BlindModelWarning, stacklevel=3)
