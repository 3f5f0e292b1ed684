"""Accounts: the account hierarchy and roll-ups of a health report to parents, owners
and segments.

A roll-up sums, per group, the accounts of a :class:`~custsuccess.health.HealthReport`
(the accounts scored at its ``as_of``):

* ``accounts``: how many; ``good`` / ``average`` / ``poor`` / ``unscored``: per tier;
* ``mrr``: their MRR at ``as_of`` (the sum of their running subscriptions);
* ``health``: the MRR-weighted mean score ``sum(mrr_i * score_i) / sum(mrr_i)`` over the
  scored accounts (the plain mean where none of them pays, NaN where none is scored), so
  a large account in trouble weighs more than a small one;
* ``mrr_at_risk``: the MRR of the accounts in the poor tier.

A parent's roll-up covers the parent and every account below it, at any depth (the
hierarchy is ``Customer.parent_id``; cycles are rejected when the dataset is built).
Everything is whole-array numpy: the only loop runs over the levels of the hierarchy.
Formulas are on the documentation page ``docs/accounts.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import to_pandas_renamed
from custsuccess.dataset import require_dataset
from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset
    from custsuccess.health.report import HealthReport

__all__ = [
    "Rollup",
    "ancestors",
    "report_dataset",
    "report_mrr",
    "rollup",
    "rollup_by_owner",
    "rollup_by_parent",
    "rollup_by_segment",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@attrs.frozen(slots=True, eq=False)
class Rollup:
    """Per group (``keys``, labelled by ``by``), the figures described in the module docs.

    ``keys`` is an object array; None is the group of accounts without a value (no owner,
    no segment).
    """

    by: str
    keys: npt.NDArray[np.object_]
    accounts: I64
    good: I64
    average: I64
    poor: I64
    unscored: I64
    mrr: F64
    health: F64
    mrr_at_risk: F64

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, key: str | None) -> dict[str, Any]:
        """The figures of the group ``key`` as a dict; a ValidationError when absent."""
        found = [i for i, k in enumerate(self.keys.tolist()) if k == key]
        if not found:
            raise ValidationError(f"no {self.by} {key!r} in this roll-up")
        i = found[0]
        return {
            self.by: key,
            "accounts": int(self.accounts[i]),
            "good": int(self.good[i]),
            "average": int(self.average[i]),
            "poor": int(self.poor[i]),
            "unscored": int(self.unscored[i]),
            "mrr": float(self.mrr[i]),
            "health": float(self.health[i]),
            "mrr_at_risk": float(self.mrr_at_risk[i]),
        }

    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by the group key."""
        names = ("accounts", "good", "average", "poor", "unscored", "mrr", "health",
                 "mrr_at_risk")
        return to_frame(
            {name: getattr(self, name) for name in names},
            ["(none)" if k is None else str(k) for k in self.keys.tolist()],
            self.by,
        )


def report_dataset(report: HealthReport, dataset: Dataset | None, what: str) -> Dataset:
    """The dataset ``report`` was scored from: ``dataset`` when given (it must hold the
    report's accounts at the same indexes), else the one the report remembers."""
    from custsuccess.health.report import HealthReport
    from custsuccess.health.scorecards import ScorecardReport

    if not isinstance(report, (HealthReport, ScorecardReport)):
        raise ValidationError(
            f"{what} needs a HealthReport or ScorecardReport, got {type(report).__name__}"
        )
    if dataset is None:
        dataset = getattr(report, "dataset", None)
        if dataset is None:
            raise ValidationError(
                f"{what}: this report does not carry its dataset; pass the dataset it was "
                "scored from"
            )
    dataset = require_dataset(dataset, "dataset", what)
    n = dataset.n_customers
    if len(report) and (
        int(report.index.max()) >= n
        or not np.array_equal(dataset.customer_ids[report.index], report.customer_ids)
    ):
        raise ValidationError(
            f"{what}: the dataset is not the one this report was scored from (its customer "
            "ids do not match the report's)"
        )
    return dataset


def report_mrr(report: HealthReport, dataset: Dataset) -> F64:
    """Each report row's MRR at the report's ``as_of``."""
    from custsuccess.metrics.revenue import customer_mrr

    mrr: F64 = customer_mrr(dataset.until(report.as_of), report.as_of)[report.index]
    return mrr


def ancestors(dataset: Dataset) -> tuple[I64, I64]:
    """Every (account, ancestor-or-self) pair of the hierarchy, as two index arrays.

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records([Customer("group", t), Customer("eu", t, parent_id="group"),
    ...                            Customer("fr", t, parent_id="eu")])
    >>> rows, heads = ancestors(ds)
    >>> sorted((str(ds.customer_ids[r]), str(ds.customer_ids[h])) for r, h in zip(rows, heads))
    [('eu', 'eu'), ('eu', 'group'), ('fr', 'eu'), ('fr', 'fr'), ('fr', 'group'), ('group', 'group')]
    """
    require_dataset(dataset, "dataset", "ancestors()")
    parent = dataset.customers.parent.astype(np.int64)
    n = parent.size
    rows = [np.arange(n, dtype=np.int64)]
    heads = [np.arange(n, dtype=np.int64)]
    current = np.arange(n, dtype=np.int64)
    step = parent
    member = np.arange(n, dtype=np.int64)
    while True:
        up = step[current]
        keep = up >= 0
        if not keep.any():
            break
        member, current = member[keep], up[keep]
        rows.append(member)
        heads.append(current)
    return np.concatenate(rows), np.concatenate(heads)


def _aggregate(
    by: str,
    keys: npt.NDArray[np.object_],
    rows: I64,
    groups: I64,
    report: HealthReport,
    mrr: F64,
) -> Rollup:
    g = len(keys)

    def total(weights: F64 | None = None) -> F64:
        w = None if weights is None else weights[rows]
        counted: F64 = np.bincount(groups, weights=w, minlength=g).astype(np.float64)
        return counted

    code = report.tier_code.astype(np.int64)
    counts = np.zeros((4, g), dtype=np.int64)
    np.add.at(counts, (code[rows], groups), 1)
    score = report.score
    scored = ~np.isnan(score)
    safe = np.where(scored, score, 0.0)
    weighted = total(mrr * safe)
    paying = total(np.where(scored, mrr, 0.0))
    plain = total(safe)
    n_scored = total(scored.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        health = np.where(paying > 0, weighted / paying, plain / n_scored)
    return Rollup(
        by=by,
        keys=keys,
        accounts=np.bincount(groups, minlength=g).astype(np.int64),
        good=counts[0],
        average=counts[1],
        poor=counts[2],
        unscored=counts[3],
        mrr=total(mrr),
        health=health,
        mrr_at_risk=total(np.where(code == 2, mrr, 0.0)),
    )


def rollup_by_parent(report: HealthReport, dataset: Dataset | None = None) -> Rollup:
    """Per account that has accounts below it: the figures over itself and every
    account below it, at any depth (keys: the parent's customer id).

    Examples
    --------
    A group with two subsidiaries, one of them with a branch; scores and MRR by hand:

    >>> from datetime import datetime, timezone
    >>> from custsuccess import Customer, Dataset, Event, Subscription
    >>> from custsuccess.health import HealthModel
    >>> from custsuccess.health.rules import RecencyRule
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> customers = [Customer("group", t, owner="ann"),
    ...              Customer("eu", t, parent_id="group", owner="ann"),
    ...              Customer("fr", t, parent_id="eu", owner="bob"),
    ...              Customer("us", t, parent_id="group", owner="bob")]
    >>> subs = [Subscription(f"s-{c}", c, "pro", m, "USD", t)
    ...         for c, m in (("group", 100.0), ("eu", 300.0), ("fr", 100.0), ("us", 0.0))]
    >>> from datetime import timedelta
    >>> events = [Event("group", "login", t + timedelta(days=30)),   # recent: 100
    ...           Event("eu", "login", t + timedelta(days=1)),       # 30 days ago: 0
    ...           Event("fr", "login", t + timedelta(days=16)),      # 15 days ago: 51.7
    ...           Event("us", "login", t + timedelta(days=31))]      # today: 100
    >>> report = HealthModel([RecencyRule()]).score(
    ...     Dataset.from_records(customers, subs, events), t + timedelta(days=31))
    >>> report.score.round(1).tolist()  # eu, fr, group, us
    [0.0, 51.7, 100.0, 100.0]
    >>> parents = rollup_by_parent(report)
    >>> parents.keys.tolist(), parents.accounts.tolist(), parents.mrr.tolist()
    (['eu', 'group'], [2, 4], [400.0, 500.0])

    ``eu`` with ``fr``: (300 x 0 + 100 x 51.7) / 400 = 12.9; the group: (100 x 100 +
    300 x 0 + 100 x 51.7 + 0 x 100) / 500 = 30.3; eu's 300 is at risk (poor):

    >>> parents.health.round(1).tolist(), parents.mrr_at_risk.tolist(), parents.poor.tolist()
    ([12.9, 30.3], [300.0, 300.0], [1, 1])
    """
    ds = report_dataset(report, dataset, "rollup_by_parent")
    mrr = report_mrr(report, ds)
    rows_all, heads_all = ancestors(ds)
    # keep pairs whose account is in the report; heads that have at least one child
    n = ds.n_customers
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[report.index] = np.arange(len(report), dtype=np.int64)
    has_child = np.zeros(n, dtype=bool)
    parent = ds.customers.parent
    has_child[parent[parent >= 0]] = True
    keep = (row_of[rows_all] >= 0) & has_child[heads_all]
    heads = np.flatnonzero(has_child)
    group_of = np.full(n, -1, dtype=np.int64)
    group_of[heads] = np.arange(heads.size, dtype=np.int64)
    keys = ds.customer_ids[heads].astype(object)
    return _aggregate(
        "parent_id", keys, row_of[rows_all[keep]], group_of[heads_all[keep]], report, mrr
    )


def _by_categorical(
    report: HealthReport, dataset: Dataset | None, by: str, what: str
) -> Rollup:
    ds = report_dataset(report, dataset, what)
    column = ds.customers.owner if by == "owner" else ds.customers.segment
    codes = column.codes[report.index].astype(np.int64)
    present = np.unique(codes)
    keys = np.array(
        [None if c < 0 else column.categories[c] for c in present.tolist()], dtype=object
    )
    groups = np.searchsorted(present, codes).astype(np.int64)
    # named groups in name order, the group without a value last
    if present.size and present[0] < 0:
        keys = np.concatenate([keys[1:], keys[:1]])
        groups = np.where(groups == 0, present.size - 1, groups - 1)
    rows = np.arange(len(report), dtype=np.int64)
    return _aggregate(by, keys, rows, groups, report, report_mrr(report, ds))


def rollup_by_owner(report: HealthReport, dataset: Dataset | None = None) -> Rollup:
    """Each owner's book of business (``Customer.owner``); accounts without an owner are
    the last group, with key None."""
    return _by_categorical(report, dataset, "owner", "rollup_by_owner")


def rollup_by_segment(report: HealthReport, dataset: Dataset | None = None) -> Rollup:
    """The figures per customer segment (key None: accounts without a segment)."""
    return _by_categorical(report, dataset, "segment", "rollup_by_segment")


def rollup(report: HealthReport, dataset: Dataset | None = None, *, by: str = "owner") -> Rollup:
    """Roll ``report`` up ``by`` ``"owner"``, ``"parent"`` or ``"segment"``."""
    if by == "owner":
        return rollup_by_owner(report, dataset)
    if by == "parent":
        return rollup_by_parent(report, dataset)
    if by == "segment":
        return rollup_by_segment(report, dataset)
    raise ValidationError(f"rollup: by must be 'owner', 'parent' or 'segment', got {by!r}")
