"""The demo's owners, hierarchy, annual contracts, users and (opt-in) service events:
present, seeded, and leaving the demo's other figures as they were."""

from __future__ import annotations

import numpy as np
import pytest

from custsuccess import Registry
from custsuccess.demo import OWNERS, generate
from custsuccess.metrics.service import csat, resolution_times
from custsuccess.metrics.users import user_activity


def test_accounts_contracts_and_users_are_generated() -> None:
    ds = generate(2000, seed=3)
    owners = ds.customers.owner
    assert set(owners.categories) == set(OWNERS)
    segment = ds.customers.segment.decode()
    unowned = owners.codes < 0
    assert unowned.any()
    assert set(segment[unowned].tolist()) == {"smb"}  # only small accounts go without
    parent = ds.customers.parent
    has = parent >= 0
    assert has.sum() > 10
    assert (parent[has] < np.flatnonzero(has)).all()  # a parent comes first: no cycle
    assert set(segment[parent[has]].tolist()) == {"enterprise"}
    subs = ds.subscriptions
    annual = subs.interval_months == 12
    assert annual.any()
    assert (subs.interval_months[~annual] == 1).all()
    assert (~np.isnat(subs.renews_at) == annual).all()
    assert (subs.renews_at[annual] > subs.started_at[annual]).all()
    users = ds.events.property("user_id")
    assert (users.codes >= 0).mean() > 0.5
    ua = user_activity(ds)
    assert (ua.known_users <= np.minimum(ds.customers.attributes["seats"], 40)).all()
    assert ua.champion_quiet.any()


def test_the_additions_leave_the_other_columns_as_they_were() -> None:
    plain = generate(500, seed=1)
    again = generate(500, seed=1)
    assert plain.equals(again)
    columns = plain.to_columns()
    assert columns["customers"]["id"][0] == "cus_0000000"
    # the events are the same as without users: only the user_id column was added
    with_service = generate(500, seed=1, service_events=True)
    base = plain.events
    kinds = with_service.events.kind
    kept = np.isin(kinds, np.arange(len(plain.kinds)))
    assert np.array_equal(with_service.events.time[kept], base.time)
    assert np.array_equal(with_service.events.customer[kept], base.customer)


def test_service_events_when_asked() -> None:
    ds = generate(2000, seed=3, service_events=True)
    assert ds.kinds[-2:] == ("csat_response", "support_resolved")
    r = resolution_times(ds)
    assert r.n_resolved.sum() > 0
    assert (r.n_resolved <= r.n_tickets).all()
    s = csat(ds)
    assert s.n > 0
    assert 0 < s.share_good < 1


def test_the_demo_command_shows_the_books_and_renewals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from custsuccess.cli import main
    from custsuccess.cli.demo import demo_report
    from custsuccess.demo import DEFAULT_END
    from custsuccess.metrics import customer_mrr

    assert main(["demo", "--customers", "300", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "Books of business" in out
    assert "Renewals in the next 90 days:" in out
    ds = generate(300, seed=0)
    figures = demo_report(ds, DEFAULT_END, registry=Registry(entry_points=False))
    assert [b[0] for b in figures.books][-1] is None
    assert sum(b[1] for b in figures.books) == sum(figures.tier_counts.values())
    scored_mrr = customer_mrr(ds.until(DEFAULT_END), DEFAULT_END).sum()
    assert sum(b[2] for b in figures.books) == pytest.approx(scored_mrr)
    count, renewing, poor = figures.renewals
    assert count >= 0
    assert 0 <= poor <= renewing
