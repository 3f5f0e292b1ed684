"""The churn database: one row per churned customer, with reason, tenure and engagement.

A customer has *churned* as of ``as_of`` when it had at least one subscription started at
or before ``as_of`` and none is active at ``as_of``; it churned at the end of its last
subscription (``churned_at``). A customer who cancelled and later subscribed again, and is
active at ``as_of``, has not churned. Nothing after ``as_of`` is read:
:func:`records` works on ``dataset.until(as_of)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._readonly import readonly_field
from custsuccess.churn._windows import (
    DEFAULT_ACTIVITY_KINDS,
    NO_TIME,
    US_PER_DAY,
    ChurnState,
    churn_state,
    count_in_windows,
    last_before,
    scatter,
    us,
)
from custsuccess.churn.reasons import UNCLASSIFIED
from custsuccess.dataset import Categorical, Dataset, require_dataset, to_datetime64
from custsuccess.errors import PluginError, ValidationError
from custsuccess.typing import ChurnedAccounts, ChurnReasonClassifier, ReasonResult, Reasons

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd

    from custsuccess.plugins import Contribution, Registry

__all__ = ["ChurnRecords", "churned_accounts", "records"]

HOOK: Final = "register_churn_reasons"
US_PER_WEEK: Final = 7 * US_PER_DAY
F64 = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]

#: Columns of :class:`ChurnRecords` in the order :meth:`ChurnRecords.to_records` gives.
COLUMNS: Final = (
    "customer_id",
    "started_at",
    "churned_at",
    "tenure_days",
    "reason",
    "classifier",
    "evidence",
    "activity_slope",
    "recent_activity_rate",
    "lifetime_activity_rate",
    "recent_vs_lifetime",
    "last_activity_at",
    "inactivity_days",
    "mrr_lost",
    "currency",
    "segment",
    "plan",
)


@attrs.frozen(slots=True, eq=False)
class ChurnRecords:
    """The churned customers as of ``as_of``, one row each, as numpy columns.

    ``customer``: customer index in the dataset the records were computed on;
    ``customer_id``; ``started_at``: start of the first subscription; ``churned_at``:
    end of the last one; ``tenure_days``: ``churned_at - started_at`` in days;
    ``reason`` / ``classifier``: the reason and the classifier that decided it
    (``"unclassified"`` for both when none did); ``evidence``: why, formatted on demand;
    ``activity_slope``: least-squares slope of weekly activity counts over the
    subscription (events per week, per week); ``recent_activity_rate`` and
    ``lifetime_activity_rate``: activity events per day in the last ``recent_days``
    before churn and over the whole subscription, and ``recent_vs_lifetime`` their
    ratio; ``last_activity_at``: the last activity before churn (NaT: none);
    ``inactivity_days``: the period of non-use before cancelling; ``mrr_lost``: MRR of
    the subscriptions that ended at ``churned_at``, in their ``currency``; ``segment``
    and ``plan`` (the plan of the last subscription). Every array is read-only.
    """

    as_of: np.datetime64
    customer: npt.NDArray[np.intp] = attrs.field(converter=readonly_field)
    customer_id: npt.NDArray[np.str_] = attrs.field(converter=readonly_field)
    started_at: TimeArray = attrs.field(converter=readonly_field)
    churned_at: TimeArray = attrs.field(converter=readonly_field)
    tenure_days: F64 = attrs.field(converter=readonly_field)
    reason: Categorical
    classifier: Categorical
    evidence: Reasons
    activity_slope: F64 = attrs.field(converter=readonly_field)
    recent_activity_rate: F64 = attrs.field(converter=readonly_field)
    lifetime_activity_rate: F64 = attrs.field(converter=readonly_field)
    recent_vs_lifetime: F64 = attrs.field(converter=readonly_field)
    last_activity_at: TimeArray = attrs.field(converter=readonly_field)
    inactivity_days: F64 = attrs.field(converter=readonly_field)
    mrr_lost: F64 = attrs.field(converter=readonly_field)
    currency: Categorical
    segment: Categorical
    plan: Categorical

    def __len__(self) -> int:
        return len(self.customer)

    def take(self, index: Any) -> ChurnRecords:
        """The rows at ``index`` (integer array, slice or boolean mask)."""
        values: dict[str, Any] = {}
        for field in attrs.fields(ChurnRecords):
            value = getattr(self, field.name)
            values[field.name] = value if field.name == "as_of" else (
                value.take(index) if isinstance(value, (Categorical, Reasons)) else value[index]
            )
        return ChurnRecords(**values)

    def evidence_text(self) -> npt.NDArray[np.object_]:
        """The evidence of every row as text (None where there is none)."""
        return np.array([self.evidence.format(i) for i in range(len(self))], dtype=object)

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """The columns as plain numpy arrays (categories decoded, evidence formatted)."""
        out: dict[str, npt.NDArray[Any]] = {}
        for name in COLUMNS:
            value = getattr(self, name)
            if isinstance(value, Categorical):
                out[name] = value.decode()
            elif isinstance(value, Reasons):
                out[name] = self.evidence_text()
            else:
                out[name] = value
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per row: times as ISO 8601 UTC text, NaN and NaT as None."""
        cols = self.columns()
        plain: dict[str, list[Any]] = {}
        for name, col in cols.items():
            if col.dtype.kind == "M":
                text = np.datetime_as_string(col, unit="us", timezone="UTC").astype(object)
                text[np.isnat(col)] = None
                plain[name] = text.tolist()
            elif col.dtype.kind == "f":
                obj = col.astype(object)
                obj[np.isnan(col)] = None
                plain[name] = obj.tolist()
            else:
                plain[name] = col.tolist()
        return [dict(zip(COLUMNS, row, strict=True)) for row in zip(*plain.values(), strict=True)]

    def to_pandas(self) -> pd.DataFrame:
        """A pandas DataFrame (needs the ``pandas`` extra): UTC-aware times, categorical
        text columns, evidence formatted."""
        import pandas as pd

        data: dict[str, Any] = {}
        for name in COLUMNS:
            value = getattr(self, name)
            if isinstance(value, Categorical):
                data[name] = pd.Categorical.from_codes(
                    value.codes, categories=pd.Index(list(value.categories), dtype=object)
                )
            elif isinstance(value, Reasons):
                data[name] = self.evidence_text()
            elif value.dtype.kind == "M":
                data[name] = pd.to_datetime(value).tz_localize("UTC")
            else:
                data[name] = value
        frame: pd.DataFrame = pd.DataFrame(data)
        return frame

    def __repr__(self) -> str:
        return f"<ChurnRecords as_of={self.as_of} rows={len(self)}>"


def churned_accounts(dataset: Dataset, as_of: datetime | np.datetime64 | str) -> ChurnedAccounts:
    """The churned customers of ``dataset`` as of ``as_of``, as classifiers receive them.

    >>> from custsuccess.churn._examples import small_dataset
    >>> churned = churned_accounts(small_dataset(), "2024-12-31T00:00:00+00:00")
    >>> churned.customer.tolist(), churned.cancel_reason.decode().tolist()
    ([0, 1, 3], ['too expensive', None, None])
    """
    require_dataset(dataset, "dataset", "churned_accounts()")
    at = to_datetime64(as_of)
    view = dataset.until(at)
    return _accounts(churn_state(view, at))


def _accounts(state: ChurnState) -> ChurnedAccounts:
    index = np.flatnonzero(state.churned).astype(np.intp)
    return ChurnedAccounts(
        index,
        state.churned_at[index].view("datetime64[us]"),
        state.started_at[index].view("datetime64[us]"),
        state.cancel_reason().take(index),
    )


def records(
    dataset: Dataset,
    as_of: datetime | np.datetime64 | str,
    *,
    registry: Registry | None = None,
    classifiers: Sequence[ChurnReasonClassifier] | None = None,
    activity_kinds: Sequence[str] = DEFAULT_ACTIVITY_KINDS,
    recent_days: float = 90.0,
) -> ChurnRecords:
    """The churn database as of ``as_of``: one row per churned customer.

    Parameters
    ----------
    dataset
        The customers; only what happened at or before ``as_of`` is read.
    as_of
        The moment of the analysis (timezone-aware datetime, ISO text with an offset,
        or ``datetime64`` read as UTC).
    registry
        Where the churn-reason classifiers come from (``registry.churn_reasons()``);
        default :meth:`custsuccess.plugins.Registry.default`.
    classifiers
        Use exactly these classifiers instead of a registry's.
    activity_kinds
        Event kinds that count as using the product (engagement and inactivity).
    recent_days
        Length of the "recent" window of ``recent_activity_rate``.

    Notes
    -----
    Classifiers are asked in order of ``precedence`` (lowest first, ties by name), each
    about the accounts not yet claimed; the first claim decides the reason. A classifier
    that raises or returns the wrong shape is a :class:`~custsuccess.errors.PluginError`
    naming it.

    Examples
    --------
    >>> from custsuccess.churn._examples import small_dataset
    >>> recs = records(small_dataset(), "2024-12-31T00:00:00+00:00")
    >>> recs.customer_id.tolist(), recs.reason.decode().tolist()
    (['acme', 'bolt', 'dune'], ['too expensive', 'never_onboarded', 'disengaged'])
    >>> recs.tenure_days.tolist(), recs.mrr_lost.tolist()
    ([182.0, 60.0, 304.0], [100.0, 50.0, 20.0])
    >>> recs.evidence.format(2)
    'no activity in the 60 days before cancelling'
    """
    require_dataset(dataset, "dataset", "records()")
    if isinstance(recent_days, bool) or not isinstance(recent_days, (int, float)) or not (
        recent_days > 0
    ):
        raise ValidationError(f"recent_days must be a number > 0, got {recent_days!r}")
    kinds = _activity_kinds(activity_kinds)
    at = to_datetime64(as_of)
    view = dataset.until(at)
    state = churn_state(view, at)
    churned = _accounts(state)
    index = churned.customer
    m = len(index)
    reason, classifier, evidence = _classify(view, churned, _contributions(registry, classifiers))
    start = us(churned.started_at)
    end = us(churned.churned_at)
    tenure = (end - start) / US_PER_DAY
    engagement = _engagement(view, index, start, end, kinds, int(recent_days * US_PER_DAY))
    currency = state.currency().take(index)
    return ChurnRecords(
        as_of=at,
        customer=index,
        customer_id=view.customer_ids[index] if m else np.empty(0, dtype="U1"),
        started_at=churned.started_at,
        churned_at=churned.churned_at,
        tenure_days=tenure,
        reason=reason,
        classifier=classifier,
        evidence=evidence,
        mrr_lost=state.mrr_lost[index],
        currency=currency,
        segment=view.customers.segment.take(index),
        plan=state.plan().take(index),
        **engagement,
    )


def _activity_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = (kinds,)
    out = tuple(str(k) for k in kinds)
    if not out or not all(out):
        raise ValidationError(f"activity_kinds must name at least one event kind, got {kinds!r}")
    return out


def _engagement(
    view: Dataset,
    index: npt.NDArray[np.intp],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    kinds: tuple[str, ...],
    recent_us: int,
) -> dict[str, Any]:
    """Activity trend and inactivity gap of the churners ``index`` (whole-array)."""
    n = view.n_customers
    events = view.events_of(*kinds, properties=())
    lo = scatter(n, index, start, 0)
    hi = scatter(n, index, end, 0)
    lifetime = count_in_windows(events, lo, hi)[index]
    recent_lo = np.maximum(start, end - recent_us)
    recent = count_in_windows(events, scatter(n, index, recent_lo, 0), hi)[index]
    tenure_days = (end - start) / US_PER_DAY
    recent_days = (end - recent_lo) / US_PER_DAY
    with np.errstate(divide="ignore", invalid="ignore"):
        lifetime_rate = np.where(tenure_days > 0, lifetime / tenure_days, np.nan)
        recent_rate = np.where(recent_days > 0, recent / recent_days, np.nan)
        ratio = np.where(lifetime_rate > 0, recent_rate / lifetime_rate, np.nan)
    # Weekly counts in W whole weeks ending at churn; OLS slope of count on week number:
    # sum_w (w - wbar) y_w / sum_w (w - wbar)^2, and sum_w (w - wbar) y_w is the sum over
    # the events of (week of the event - wbar), so one pass over the events suffices.
    weeks = (end - start) // US_PER_WEEK
    first = end - weeks * US_PER_WEEK
    first_c = scatter(n, index, first, 0)
    weeks_c = scatter(n, index, weeks, 0)
    t = us(events.time)
    c = events.customer
    inside = (t >= first_c[c]) & (t < hi[c])
    cc = c[inside]
    week_of = (t[inside] - first_c[cc]) // US_PER_WEEK
    centred = week_of - (weeks_c[cc] - 1) / 2.0
    sxy = np.bincount(cc, weights=centred, minlength=n)[index]
    sxx = weeks * (weeks.astype(np.float64) ** 2 - 1) / 12.0
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(weeks >= 2, sxy / sxx, np.nan)
    last = last_before(events, hi)[index]
    none = last == NO_TIME
    gap = (end - np.where(none, start, last)) / US_PER_DAY
    return {
        "activity_slope": slope,
        "recent_activity_rate": recent_rate,
        "lifetime_activity_rate": lifetime_rate,
        "recent_vs_lifetime": ratio,
        "last_activity_at": last.view("datetime64[us]"),
        "inactivity_days": gap,
    }


# --------------------------------------------------------------------------- classifying


def _contributions(
    registry: Registry | None, classifiers: Sequence[ChurnReasonClassifier] | None
) -> list[Contribution[ChurnReasonClassifier]]:
    from custsuccess.plugins import Contribution, Registry

    if classifiers is not None:
        if registry is not None:
            raise ValidationError("pass either registry= or classifiers=, not both")
        found: dict[str, Contribution[ChurnReasonClassifier]] = {}
        for i, clf in enumerate(classifiers):
            plugin = f"classifiers[{i}]"
            name = getattr(clf, "name", None)
            precedence = getattr(clf, "precedence", None)
            if not isinstance(name, str) or not name:
                raise PluginError(
                    f"{plugin}: a churn reason classifier ({type(clf).__name__}) has an "
                    f"invalid name {name!r}: expected a non-empty string",
                    plugin=plugin,
                    hook=HOOK,
                )
            if isinstance(precedence, bool) or not isinstance(precedence, int):
                raise PluginError(
                    f"{plugin}: churn reason classifier {name!r} has precedence = "
                    f"{precedence!r}: expected an int",
                    plugin=plugin,
                    contribution=name,
                    hook=HOOK,
                )
            if not callable(getattr(clf, "classify", None)):
                raise PluginError(
                    f"{plugin}: churn reason classifier {name!r} has no callable 'classify'",
                    plugin=plugin,
                    contribution=name,
                    hook=HOOK,
                )
            if name in found:
                raise ValidationError(
                    f"classifiers: the name {name!r} is used by {found[name].plugin} and "
                    f"{plugin}: names must be unique"
                )
            found[name] = Contribution(name, plugin, HOOK, clf)
        chosen = list(found.values())
    else:
        reg = Registry.default() if registry is None else registry
        chosen = list(reg.churn_reasons().values())
    return sorted(chosen, key=lambda c: (c.value.precedence, c.name))


def _classify(
    view: Dataset,
    churned: ChurnedAccounts,
    contributions: list[Contribution[ChurnReasonClassifier]],
) -> tuple[Categorical, Categorical, Reasons]:
    from custsuccess.plugins import guarded

    m = len(churned)
    decided = np.full(m, -1, dtype=np.int64)
    results: list[ReasonResult] = []
    for k, contribution in enumerate(contributions):
        if not (decided < 0).any():
            break
        with guarded(contribution, "classify()"):
            result = contribution.value.classify(view, churned)
        _check_result(result, contribution, m)
        results.append(result)
        claim = (result.reason.codes >= 0) & (decided < 0)
        decided[claim] = k
    names = [c.name for c in contributions[: len(results)]]
    # Reasons: map each classifier's categories into one sorted vocabulary.
    labels = sorted({UNCLASSIFIED}.union(*(r.reason.categories for r in results)))
    position = {label: i for i, label in enumerate(labels)}
    reason = np.full(m, position[UNCLASSIFIED], dtype=np.int32)
    for k, result in enumerate(results):
        rows = np.flatnonzero(decided == k)
        remap = np.array([position[c] for c in result.reason.categories], dtype=np.int32)
        reason[rows] = remap[result.reason.codes[rows]]
    # Classifier names, in a sorted vocabulary too.
    clf_labels = sorted({UNCLASSIFIED, *names})
    clf_pos = np.array([clf_labels.index(name) for name in names] + [
        clf_labels.index(UNCLASSIFIED)
    ], dtype=np.int32)
    classifier = clf_pos[decided]  # -1 picks UNCLASSIFIED
    evidence = _merge_evidence(results, decided, m)
    return (
        Categorical(reason, tuple(labels)),
        Categorical(classifier.astype(np.int32), tuple(clf_labels)),
        evidence,
    )


def _check_result(result: object, contribution: Contribution[Any], m: int) -> None:
    from custsuccess.plugins import check_array

    def garbage(problem: str) -> PluginError:
        return PluginError(
            f"plugin {contribution.plugin!r}: churn reason classifier {contribution.name!r} "
            f"(hook {contribution.hook}) returned garbage: {problem}",
            plugin=contribution.plugin,
            contribution=contribution.name,
            hook=contribution.hook,
        )

    if not isinstance(result, ReasonResult):
        raise garbage(f"a {type(result).__name__}, expected a ReasonResult")
    reason, evidence = result.reason, result.evidence
    if not isinstance(reason, Categorical):
        raise garbage(f"reason is a {type(reason).__name__}, expected a Categorical")
    if not isinstance(reason.categories, tuple) or not all(
        isinstance(c, str) and c for c in reason.categories
    ):
        raise garbage(
            f"reason.categories must be a tuple of non-empty str, got {reason.categories!r}"
        )
    check_array(reason.codes, contribution, (m,), -1, len(reason.categories) - 1,
                what="reason.codes", kinds="iu")
    if not isinstance(evidence, Reasons):
        raise garbage(f"evidence is a {type(evidence).__name__}, expected a Reasons")
    problem = evidence.problem(m)  # here, not as a KeyError in to_records() later
    if problem is not None:
        raise garbage(f"evidence: {problem}")


def _merge_evidence(results: list[ReasonResult], decided: npt.NDArray[np.int64], m: int) -> Reasons:
    """One :class:`Reasons` whose row i is the evidence of the classifier that decided i."""
    templates: list[str] = []
    codes = np.full(m, -1, dtype=np.int32)
    parts: dict[str, list[tuple[npt.NDArray[np.intp], npt.NDArray[Any]]]] = {}
    for k, result in enumerate(results):
        rows = np.flatnonzero(decided == k)
        ev = result.evidence
        if rows.size:
            own = ev.codes[rows].astype(np.int32)
            codes[rows] = np.where(own >= 0, own + len(templates), -1)
            for key, detail in ev.details.items():
                parts.setdefault(key, []).append((rows, detail[rows]))
        templates.extend(ev.templates)
    details: dict[str, npt.NDArray[Any]] = {}
    for key, pieces in parts.items():
        dtypes = {values.dtype for _, values in pieces}
        kinds = {d.kind for d in dtypes}
        if len(kinds) == 1 and kinds <= set("biufUM"):
            dtype = np.result_type(*dtypes)
            column = np.full(m, np.nan) if dtype.kind == "f" else np.zeros(m, dtype=dtype)
        else:
            column = np.full(m, None, dtype=object)
        for rows, values in pieces:
            column[rows] = values
        details[key] = column
    return Reasons(tuple(templates), codes, details)

