"""Point-in-time features and churn labels: :func:`training_frame`.

One row per (account, observation date ``t``): what was known about the account at ``t``
(every feature reads ``dataset.until(t)`` only) and, for training and validation, the
label "churned within ``(t, t + horizon]``". The same features feed the learned model
(:func:`custsuccess.health.learn`), its scoring, the backtest and the driver analysis.

Features (the churn-analysis literature's behavioural metrics, plus account facts):

* per event kind ``k`` present in the data, custom kinds included (window ``w`` = 28 days):

  - ``k.per_month``: events of ``k`` in ``(t - w, t]``, scaled to a month
    (``* 30.44 / w``); an account younger than the window is scaled by its age instead
    (``* 30.44 / max(1, age)``), so a new account is not read as a quiet one;
  - ``k.active_days``: distinct day slots with an event of ``k`` in the window (scaled
    the same way to ``w`` days for a young account);
  - ``k.days_since``: days since the account's latest ``k`` event (since signup when it
    has none);
  - ``k.change``: ``log1p(count in the window) - log1p(count in the window before)``,
    0 for an account younger than two windows (no baseline);

* ``tenure_days``; ``mrr`` (running subscriptions at ``t``) and ``mrr_change``
  (``log1p(mrr) - log1p(mrr 90 days earlier)``); ``nps.latest`` (the latest answer of the
  last 365 days, NaN without one); ``support.requests`` and ``support.unanswered``
  (requests of the last 90 days, and those without a reply by ``t``);
  ``payments.failed`` (last 90 days);
* ``rule:<name>``: every health rule's score (NaN where it does not apply).

Day slots are those of the rules: slot ``d`` is ``(t - (d + 1) days, t - d days]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import BUILTIN_KINDS, Dataset, require_dataset, to_datetime64
from custsuccess.errors import ValidationError
from custsuccess.health._kernels import (
    DAY_US,
    NONE_US,
    age_days,
    ends_of,
    kind_events,
    shared_cache,
    subscriptions,
)

if TYPE_CHECKING:
    import pandas as pd

    from custsuccess.health.model import HealthModel

__all__ = ["MONTH_DAYS", "WINDOW_DAYS", "FeatureSpec", "TrainingFrame", "training_frame"]

#: The trailing window of the behavioural metrics, in days.
WINDOW_DAYS: Final = 28
#: Days in an average month (365.25 / 12): counts are scaled to this.
MONTH_DAYS: Final = 365.25 / 12
_MRR_LOOKBACK_DAYS: Final = 90.0
_SUPPORT_DAYS: Final = 90.0
_NPS_MAX_AGE_DAYS: Final = 365.0

F64 = npt.NDArray[np.float64]
Moments = datetime | np.datetime64 | str


@attrs.frozen(slots=True)
class FeatureSpec:
    """What a feature means, for people and for the learned model.

    ``label``: its name in words (``"messages"``); ``unit``: how a value reads
    (``"{:.1f} a month"``); ``transform``: ``"log1p"`` for counts and durations with fat
    tails, ``"identity"`` otherwise.
    """

    name: str
    label: str
    unit: str
    transform: str = "identity"

    def describe(self, value: float) -> str:
        """``"messages: 9.6 a month"``."""
        if math.isnan(value):
            return f"{self.label}: none"
        return f"{self.label}: {self.unit.format(value)}"


def _kind_specs(kind: str) -> list[FeatureSpec]:
    words = kind.replace("_", " ")
    return [
        FeatureSpec(f"{kind}.per_month", words, "{:.1f} a month", "log1p"),
        FeatureSpec(f"{kind}.active_days", f"days with {words}", "{:.0f} of the last 28",
                    "log1p"),
        FeatureSpec(f"{kind}.days_since", f"days since last {words}", "{:.0f}", "log1p"),
        FeatureSpec(f"{kind}.change", f"{words} against the 28 days before",
                    "{:+.2f} (log ratio)"),
    ]


_ACCOUNT_SPECS: Final = (
    FeatureSpec("tenure_days", "account age", "{:.0f} days", "log1p"),
    FeatureSpec("mrr", "MRR", "{:,.0f}", "log1p"),
    FeatureSpec("mrr_change", "MRR change over 90 days", "{:+.2f} (log ratio)"),
    FeatureSpec("nps.latest", "latest NPS answer", "{:.0f}"),
    FeatureSpec("support.requests", "support requests in 90 days", "{:.0f}", "log1p"),
    FeatureSpec("support.unanswered", "unanswered support requests", "{:.0f}", "log1p"),
    FeatureSpec("payments.failed", "failed payments in 90 days", "{:.0f}", "log1p"),
)


def feature_specs(kinds: Sequence[str], rule_names: Sequence[str]) -> tuple[FeatureSpec, ...]:
    """The specs of every feature for ``kinds`` and ``rule_names``, in frame order."""
    specs: list[FeatureSpec] = []
    for kind in kinds:
        specs.extend(_kind_specs(kind))
    specs.extend(_ACCOUNT_SPECS)
    specs.extend(FeatureSpec(f"rule:{r}", f"{r} score", "{:.0f}") for r in rule_names)
    return tuple(specs)


def kinds_present(dataset: Dataset) -> tuple[str, ...]:
    """The event kinds with at least one event in ``dataset`` (its vocabulary order)."""
    ev = dataset.events
    counts = np.bincount(ev.kind, minlength=len(ev.kinds)) if len(ev) else np.zeros(0)
    return tuple(k for k, c in zip(ev.kinds, counts.tolist(), strict=False) if c > 0)


def _kind_columns(view: Dataset, kind: str, now: int, age: F64, window: int) -> list[F64]:
    n = view.n_customers
    ev = kind_events(view, kind)
    if not len(ev):  # most kinds of one account: nothing to count
        zero = np.zeros(n)
        return [zero, zero.copy(), age.copy(), zero.copy()]
    cust = ev.customer
    t = ev.time.view(np.int64)
    w_us = window * DAY_US
    recent = t > now - w_us
    previous = (t > now - 2 * w_us) & ~recent
    c_recent = np.bincount(cust[recent], minlength=n).astype(np.float64)
    c_prev = np.bincount(cust[previous], minlength=n).astype(np.float64)
    # distinct day slots: within a customer time ascends, so equal slots are adjacent
    rc = cust[recent]
    slot = (now - t[recent]) // DAY_US
    new = np.ones(rc.size, dtype=bool)
    if rc.size > 1:
        new[1:] = (rc[1:] != rc[:-1]) | (slot[1:] != slot[:-1])
    active = np.bincount(rc[new], minlength=n).astype(np.float64)
    last = np.full(n, NONE_US, dtype=np.int64)
    if cust.size:
        ends = ends_of(cust)
        last[cust[ends]] = t[ends]
    since = np.where(last == NONE_US, age, (now - last) / DAY_US)
    observed = np.clip(age, 1.0, float(window))
    per_month = c_recent * (MONTH_DAYS / observed)
    active_scaled = active * (window / observed)
    change = np.log1p(c_recent) - np.log1p(c_prev)
    change[age < 2 * window] = 0.0
    return [per_month, active_scaled, since, change]


def _mrr_at(view: Dataset, at_us: int) -> F64:
    subs = subscriptions(view)
    at = np.int64(at_us).astype("datetime64[us]")
    running = subs.active_at(at)
    out: F64 = np.bincount(subs.customer[running], weights=subs.mrr[running],
                           minlength=view.n_customers).astype(np.float64)
    return out


def _account_columns(view: Dataset, now: int, age: F64) -> list[F64]:
    n = view.n_customers
    mrr = _mrr_at(view, now)
    before = _mrr_at(view, now - int(_MRR_LOOKBACK_DAYS * DAY_US))
    mrr_change = np.where(before > 0, np.log1p(mrr) - np.log1p(before), 0.0)
    nps = kind_events(view, "nps_response")
    latest = np.full(n, np.nan)
    if len(nps):
        ends = ends_of(nps.customer)
        fresh = nps.time.view(np.int64)[ends] > now - _NPS_MAX_AGE_DAYS * DAY_US
        latest[nps.customer[ends[fresh]]] = nps.value[ends[fresh]]
    req = kind_events(view, "support_request")
    rep = kind_events(view, "support_reply")
    in90 = req.time.view(np.int64) > now - int(_SUPPORT_DAYS * DAY_US)
    requests = np.bincount(req.customer[in90], minlength=n).astype(np.float64)
    replies = np.bincount(
        rep.customer[rep.time.view(np.int64) > now - int(_SUPPORT_DAYS * DAY_US)], minlength=n
    ).astype(np.float64)
    unanswered = np.maximum(requests - replies, 0.0)
    fails = kind_events(view, "payment_failed")
    failed = np.bincount(
        fails.customer[fails.time.view(np.int64) > now - int(_SUPPORT_DAYS * DAY_US)],
        minlength=n,
    ).astype(np.float64)
    return [age.copy(), mrr, mrr_change, latest, requests, unanswered, failed]


def features_at(
    view: Dataset,
    t: np.datetime64,
    kinds: Sequence[str],
    model: HealthModel | None,
    *,
    window_days: int = WINDOW_DAYS,
    rule_columns: Sequence[F64] | None = None,
) -> list[F64]:
    """Every feature of every customer of ``view`` (a dataset ending at ``t``), in the
    order of :func:`feature_specs` (``kinds``, then account facts, then ``model``'s rules;
    ``rule_columns`` when the rules were evaluated already)."""
    now = int(t.astype("datetime64[us]").view(np.int64))
    with shared_cache(reuse=True):
        age = np.maximum(age_days(view, now), 0.0)
        columns: list[F64] = []
        for kind in kinds:
            columns.extend(_kind_columns(view, kind, now, age, window_days))
        columns.extend(_account_columns(view, now, age))
        if rule_columns is not None:
            columns.extend(rule_columns)
        elif model is not None:
            n = view.n_customers
            for contribution in model._rules:
                columns.append(model._evaluate(contribution, view, t, n).score)
    return columns


def paying_at(dataset: Dataset, t: np.datetime64) -> npt.NDArray[np.bool_]:
    """Per customer: a subscription running at ``t`` (as the data stood at ``t``)."""
    subs = dataset.until(t).subscriptions
    out = np.zeros(dataset.n_customers, dtype=bool)
    out[subs.customer[subs.active_at(t)]] = True
    return out


def churned_within(
    dataset: Dataset, t: np.datetime64, horizon_days: float
) -> npt.NDArray[np.bool_]:
    """Per customer: no subscription running at ``t + horizon_days`` (the data up to then)."""
    end = t + np.timedelta64(round(horizon_days * DAY_US), "us")
    return ~paying_at(dataset, end)


@attrs.frozen(slots=True, eq=False)
class TrainingFrame:
    """Rows of (account, observation date): features known at the date and the label.

    ``customer``: customer index in the dataset; ``customer_ids``; ``as_of``: the row's
    observation date; ``features``: name -> float64 column (NaN: unknown);
    ``specs``: name -> :class:`FeatureSpec`; ``churned``: the label (churned within
    ``(as_of, as_of + horizon_days]``); ``segment``: the account's segment (None when not
    asked for); ``kinds`` and ``rule_names``: what the features were generated for.
    """

    customer: npt.NDArray[np.intp]
    customer_ids: npt.NDArray[np.str_]
    as_of: npt.NDArray[np.datetime64]
    features: Mapping[str, F64]
    specs: Mapping[str, FeatureSpec]
    churned: npt.NDArray[np.bool_]
    horizon_days: float
    kinds: tuple[str, ...]
    rule_names: tuple[str, ...]
    segment: npt.NDArray[np.object_] | None = None

    def __len__(self) -> int:
        return len(self.customer)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.features)

    def matrix(self, names: Sequence[str] | None = None) -> F64:
        """The features as a (rows x features) float64 array."""
        cols = [self.features[n] for n in (names or self.names)]
        return np.column_stack(cols) if cols else np.empty((len(self), 0))

    def take(self, rows: Any) -> TrainingFrame:
        """The rows at ``rows`` (index array or mask)."""
        return attrs.evolve(
            self,
            customer=self.customer[rows],
            customer_ids=self.customer_ids[rows],
            as_of=self.as_of[rows],
            features={k: v[rows] for k, v in self.features.items()},
            churned=self.churned[rows],
            segment=None if self.segment is None else self.segment[rows],
        )

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame: ``customer_id``, ``as_of``, the features, ``churned``."""
        import pandas as pd

        cols: dict[str, Any] = {"customer_id": self.customer_ids, "as_of": self.as_of}
        if self.segment is not None:
            cols["segment"] = self.segment
        cols.update(self.features)
        cols["churned"] = self.churned
        frame: pd.DataFrame = pd.DataFrame(cols)
        return frame

    def __repr__(self) -> str:
        dates = np.unique(self.as_of).size
        rate = float(self.churned.mean()) if len(self) else math.nan
        return (
            f"<TrainingFrame rows={len(self)} dates={dates} features={len(self.features)} "
            f"churn_rate={rate:.3f}>"
        )


def _dates(observation_dates: Moments | Iterable[Moments]) -> list[np.datetime64]:
    if isinstance(observation_dates, (str, datetime, np.datetime64)):
        items: list[Any] = [observation_dates]
    else:
        items = list(observation_dates)
    if not items:
        raise ValidationError("observation_dates: give at least one date")
    return sorted({to_datetime64(d, f"observation_dates[{i}]") for i, d in enumerate(items)})


def check_horizon(horizon_days: Any, where: str) -> float:
    if (
        isinstance(horizon_days, bool)
        or not isinstance(horizon_days, (int, float))
        or not math.isfinite(horizon_days)
        or horizon_days <= 0
    ):
        raise ValidationError(f"{where}: horizon_days must be a number > 0, got {horizon_days!r}")
    return float(horizon_days)


def training_frame(
    dataset: Dataset,
    observation_dates: Moments | Iterable[Moments],
    horizon_days: float = 90.0,
    *,
    model: HealthModel | None = None,
    kinds: Sequence[str] | None = None,
    window_days: int = WINDOW_DAYS,
    segment_by: str | None = None,
    censor: bool = True,
) -> TrainingFrame:
    """Point-in-time features and churn labels, one row per (paying account, date).

    For each observation date ``t`` the rows are the accounts with a subscription running
    at ``t``; the features read ``dataset.until(t)`` only; the label is "churned within
    ``(t, t + horizon_days]``": no subscription running at ``t + horizon_days``. A date
    whose horizon runs past :attr:`Dataset.observation_end` is left out (its labels are
    censored, not "retained"); with ``censor=False`` it is kept with label False (for
    scoring, where the label is not used).

    Parameters
    ----------
    model
        The health model whose rule scores are features (default
        :meth:`HealthModel.default`); its registry's rules, evaluated at ``t``.
    kinds
        The event kinds to make behavioural metrics for (default: every kind with an event
        in the dataset, custom kinds included).
    window_days
        The trailing window of the behavioural metrics (default 28).
    segment_by
        ``"segment"``, ``"plan"`` or the name of a customer attribute: the frame carries
        each row's value (for per-segment models).

    >>> from custsuccess.demo import generate
    >>> from custsuccess.health import HealthModel
    >>> from custsuccess.plugins import Registry
    >>> ds = generate(300, seed=3)
    >>> model = HealthModel.default(Registry(entry_points=False))
    >>> frame = training_frame(ds, ["2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z"], 90,
    ...                        model=model)
    >>> frame
    <TrainingFrame rows=255 dates=2 features=73 churn_rate=0.098>
    """
    from custsuccess.health.model import HealthModel

    require_dataset(dataset, "dataset", "training_frame()")
    horizon = check_horizon(horizon_days, "training_frame")
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ValidationError(
            f"training_frame: window_days must be a whole number >= 1, got {window_days!r}"
        )
    dates = _dates(observation_dates)
    if model is None:
        model = HealthModel.default()
    kinds = kinds_present(dataset) if kinds is None else tuple(kinds)
    specs = feature_specs(kinds, model.rule_names)
    seg_values = segment_values(dataset, segment_by)
    end = dataset.observation_end
    h = np.timedelta64(round(horizon * DAY_US), "us")
    parts: list[tuple[npt.NDArray[np.intp], np.datetime64, list[F64], npt.NDArray[np.bool_]]] = []
    for t in dates:
        if censor and (end is None or t + h > end):
            continue
        view = dataset.until(t)
        rows = np.flatnonzero(paying_at(dataset, t) & (dataset.customers.created_at <= t))
        columns = features_at(view, t, kinds, model, window_days=window_days)
        label = churned_within(dataset, t, horizon)[rows] if censor else np.zeros(rows.size, bool)
        parts.append((rows, t, [c[rows] for c in columns], label))
    if not parts:
        raise ValidationError(
            f"training_frame: every observation date's horizon ({horizon:g} days) runs past "
            f"the observation end of the data ({end}Z): no label is known"
        )
    customer = np.concatenate([p[0] for p in parts]).astype(np.intp)
    as_of = np.concatenate([np.full(p[0].size, p[1], dtype="datetime64[us]") for p in parts])
    features = {
        s.name: np.concatenate([p[2][j] for p in parts]) for j, s in enumerate(specs)
    }
    churned = np.concatenate([p[3] for p in parts])
    return TrainingFrame(
        customer=customer,
        customer_ids=dataset.customer_ids[customer],
        as_of=as_of,
        features=features,
        specs={s.name: s for s in specs},
        churned=churned,
        horizon_days=horizon,
        kinds=tuple(kinds),
        rule_names=model.rule_names,
        segment=None if seg_values is None else seg_values[customer],
    )


def segment_values(dataset: Dataset, segment_by: str | None) -> npt.NDArray[np.object_] | None:
    """Per customer, its value of ``segment_by`` (None when ``segment_by`` is None)."""
    if segment_by is None:
        return None
    c = dataset.customers
    if segment_by == "segment":
        return c.segment.decode()
    if segment_by == "plan":
        return c.plan.decode()
    if segment_by in c.attributes:
        return np.asarray(c.attributes[segment_by]).astype(str).astype(object)
    raise ValidationError(
        f"segment_by: {segment_by!r} is not 'segment', 'plan' or a customer attribute "
        f"({', '.join(sorted(c.attributes)) or 'none'})"
    )


BUILTIN: Final = frozenset(BUILTIN_KINDS)
