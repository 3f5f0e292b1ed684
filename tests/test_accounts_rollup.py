"""Roll-ups of a health report to owners, parents (any depth) and segments, by hand."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Event, Subscription, ValidationError
from custsuccess.health import HealthModel
from custsuccess.health.rules import RecencyRule
from custsuccess.metrics.accounts import (
    ancestors,
    rollup,
    rollup_by_owner,
    rollup_by_segment,
)

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=31)


def recency(days_ago: float) -> float:
    """RecencyRule's default score, worked by hand: 100 at <= 1 day, 0 at >= 30."""
    return 100.0 * min(max((30 - days_ago) / 29, 0.0), 1.0)


def book() -> Dataset:
    """group > eu > fr, group > us; plus solo (no owner) and trial (no subscription).

    Last logins (days before AS_OF) and MRR: group 1 (100), eu 30 (300), fr 15 (100),
    us 0 (0), solo 25 (50), trial 10 (no subscription).
    """
    customers = [
        Customer("group", T0, owner="ann", segment="enterprise"),
        Customer("eu", T0, parent_id="group", owner="ann", segment="enterprise"),
        Customer("fr", T0, parent_id="eu", owner="bob", segment="mid"),
        Customer("us", T0, parent_id="group", owner="bob", segment="mid"),
        Customer("solo", T0, segment="mid"),
        Customer("trial", T0, owner="ann"),
    ]
    mrr = {"group": 100.0, "eu": 300.0, "fr": 100.0, "us": 0.0, "solo": 50.0}
    subs = [Subscription(f"s-{c}", c, "pro", m, "USD", T0) for c, m in mrr.items()]
    last = {"group": 1, "eu": 30, "fr": 15, "us": 0, "solo": 25, "trial": 10}
    events = [Event(c, "login", AS_OF - timedelta(days=d)) for c, d in last.items()]
    return Dataset.from_records(customers, subs, events)


def test_the_scores_used_below() -> None:
    report = HealthModel([RecencyRule()]).score(book(), AS_OF)
    expected = {"eu": recency(30), "fr": recency(15), "group": recency(1), "solo": recency(25),
                "trial": recency(10), "us": recency(0)}
    assert dict(zip(report.customer_ids.tolist(), report.score.tolist(), strict=True)) == (
        pytest.approx(expected)
    )
    # tiers: eu 0 poor, fr 51.7 average, group 100 good, solo 17.2 poor, trial 69.0 average,
    # us 100 good
    assert report.tier.tolist() == ["poor", "average", "good", "poor", "average", "good"]


def test_by_owner_is_each_owners_book() -> None:
    report = HealthModel([RecencyRule()]).score(book(), AS_OF)
    books = report.by_owner()
    assert books.keys.tolist() == ["ann", "bob", None]
    assert books.accounts.tolist() == [3, 2, 1]  # ann: group, eu, trial; bob: fr, us
    assert books.mrr.tolist() == [400.0, 100.0, 50.0]
    assert (books.good.tolist(), books.average.tolist(), books.poor.tolist()) == (
        [1, 1, 0], [1, 1, 0], [1, 0, 1])
    # ann: (100 x 100 + 300 x 0 + 0 x trial) / 400 = 25; bob: (100 x fr + 0 x us) / 100
    assert books.health[0] == pytest.approx(25.0)
    assert books.health[1] == pytest.approx(recency(15))
    assert books.mrr_at_risk.tolist() == [300.0, 0.0, 50.0]
    assert books.row("ann")["mrr_at_risk"] == 300.0
    with pytest.raises(ValidationError, match=r"no owner 'zoe' in this roll-up"):
        books.row("zoe")


def test_parents_roll_up_every_level_below() -> None:
    report = HealthModel([RecencyRule()]).score(book(), AS_OF)
    parents = report.by_parent()
    assert parents.keys.tolist() == ["eu", "group"]
    assert parents.accounts.tolist() == [2, 4]
    assert parents.mrr.tolist() == [400.0, 500.0]
    eu = (300 * recency(30) + 100 * recency(15)) / 400
    group = (100 * recency(1) + 300 * recency(30) + 100 * recency(15) + 0 * recency(0)) / 500
    assert parents.health.tolist() == pytest.approx([eu, group])
    assert parents.mrr_at_risk.tolist() == [300.0, 300.0]
    assert parents.good.tolist() == [0, 2]


def test_segments_and_the_generic_entry_point() -> None:
    report = HealthModel([RecencyRule()]).score(book(), AS_OF)
    segments = rollup_by_segment(report)
    assert segments.keys.tolist() == ["enterprise", "mid", None]
    assert segments.mrr.tolist() == [400.0, 150.0, 0.0]
    # no paying account in the last group (trial): the plain mean of its scores
    assert segments.health[2] == pytest.approx(recency(10))
    assert rollup(report, by="segment").keys.tolist() == segments.keys.tolist()
    with pytest.raises(ValidationError, match=r"by must be 'owner', 'parent' or 'segment'"):
        rollup(report, by="region")


def test_unscored_accounts_count_but_do_not_weigh() -> None:
    ds = Dataset.from_records(
        [Customer("a", T0, owner="ann"), Customer("b", T0, owner="ann")],
        [Subscription("sa", "a", "p", 10.0, "USD", T0),
         Subscription("sb", "b", "p", 90.0, "USD", T0)],
        [Event("a", "nps_response", T0 + timedelta(days=1), value=10)],
    )
    from custsuccess.health.rules import NpsRule

    report = HealthModel([NpsRule()]).score(ds, AS_OF)  # b never answered: unscored
    books = rollup_by_owner(report)
    assert books.unscored.tolist() == [1]
    assert books.health[0] == pytest.approx(report.score[0])  # a alone
    assert math.isfinite(books.health[0])


def test_the_dataset_must_match_the_report() -> None:
    report = HealthModel([RecencyRule()]).score(book(), AS_OF)
    other = Dataset.from_records([Customer("zzz", T0)])
    with pytest.raises(ValidationError, match=r"not the one this report was scored from"):
        rollup_by_owner(report, other)
    bare = report.take(slice(None))
    object.__setattr__(bare, "dataset", None)
    with pytest.raises(ValidationError, match=r"does not carry its dataset; pass the dataset"):
        rollup_by_owner(bare)
    assert rollup_by_owner(bare, book()).keys.tolist() == ["ann", "bob", None]
    with pytest.raises(ValidationError, match=r"needs a HealthReport or ScorecardReport"):
        rollup_by_owner("report")  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.sampled_from(["ann", "bob", None]),
                          st.floats(0, 500, allow_nan=False), st.integers(0, 40)),
                min_size=1, max_size=25))
def test_totals_add_up_and_roots_hold_their_whole_tree(
    rows: list[tuple[int, str | None, float, int]]
) -> None:
    ids = [f"c{i:02d}" for i in range(len(rows))]
    customers = [
        Customer(cid, T0, owner=owner,
                 parent_id=None if i == 0 or seed % 4 == 0 else ids[seed % i])
        for i, (cid, (seed, owner, _, _)) in enumerate(zip(ids, rows, strict=True))
    ]
    subs = [Subscription(f"s{cid}", cid, "p", round(m, 2), "USD", T0)
            for cid, (_, _, m, _) in zip(ids, rows, strict=True)]
    events = [Event(cid, "login", AS_OF - timedelta(days=d))
              for cid, (_, _, _, d) in zip(ids, rows, strict=True)]
    ds = Dataset.from_records(customers, subs, events)
    report = HealthModel([RecencyRule()]).score(ds, AS_OF)
    books = report.by_owner()
    total = float(sum(s.mrr for s in subs))
    assert books.mrr.sum() == pytest.approx(total)
    assert books.accounts.sum() == len(ids)
    assert (books.good + books.average + books.poor + books.unscored).tolist() == (
        books.accounts.tolist())
    finite = books.health[~np.isnan(books.health)]
    assert ((finite >= 0) & (finite <= 100 + 1e-9)).all()
    # each root's roll-up covers exactly its tree
    members, heads = ancestors(ds)
    parents = report.by_parent()
    for key, accounts, mrr in zip(parents.keys.tolist(), parents.accounts.tolist(),
                                  parents.mrr.tolist(), strict=True):
        head = int(ds.index_of(key)[0])
        tree = members[heads == head]
        assert accounts == tree.size
        assert mrr == pytest.approx(float(sum(subs[int(k)].mrr for k in tree)))
