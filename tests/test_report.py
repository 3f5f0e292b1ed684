"""The review report's page: self-contained, optional sections, text from the data kept
as text, and its figures equal to the library's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event, Subscription, report
from custsuccess.demo import generate
from custsuccess.health import HealthModel
from custsuccess.plugins import Registry

REGISTRY = Registry(entry_points=False)


def day(m: int, d: int) -> datetime:
    return datetime(2024, m, d, tzinfo=timezone.utc)


def small() -> Dataset:
    """Two accounts, no NPS answer, no churn: the NPS and churn sections have nothing."""
    customers = [Customer("a<script>alert(1)</script>", day(1, 1), name="A & B"),
                 Customer("b", day(1, 1), name="Bee\x1b[31m")]
    subs = [Subscription("s1", customers[0].id, "pro", 100.0, "USD", day(1, 2)),
            Subscription("s2", "b", "pro", 50.0, "USD", day(1, 3))]
    events = [Event(customers[0].id, "login", day(3, 1)), Event("b", "login", day(3, 2))]
    return Dataset.from_records(customers, subs, events)


def test_page_is_self_contained() -> None:
    page = report.html(generate(300, seed=2), registry=REGISTRY)
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert "<script" not in page
    assert "<link" not in page
    assert "<img" not in page
    # the only URL is the SVG namespace, an identifier that is never fetched
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in page  # and the page forbids loading anything


def test_sections_are_optional_and_extendable() -> None:
    extra = report.Section("owners", "Owners' books", lambda r: f"<p>{r.accounts} owned</p>")
    empty = report.Section("none", "Nothing", lambda r: None)
    page = report.html(small(), "2024-03-05T00:00:00Z", registry=REGISTRY,
                       extra_sections=[extra, empty])
    ids = re.findall(r'<section id="([\w-]+)"', page)
    assert "nps" not in ids  # no answers
    assert "none" not in ids
    assert ids[0] == "summary"
    assert ids[-1] == "owners"
    assert "<p>2 owned</p>" in page
    assert '<a href="#owners">Owners&#x27; books</a>' in page


def test_text_from_the_data_stays_text() -> None:
    page = report.html(small(), "2024-03-05T00:00:00Z", registry=REGISTRY)
    assert "<script>alert(1)</script>" not in page
    assert "a&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A &amp; B" in page
    assert "\x1b" not in page
    assert "Bee\\x1b[31m" in page


def test_review_figures_equal_the_library() -> None:
    ds = generate(300, seed=4)
    t = np.datetime64("2026-10-31T00:00:00", "us")
    r = report.review(ds, t, registry=REGISTRY)
    health = HealthModel.default(REGISTRY).score(ds, t)
    assert r.accounts == len(health)
    assert r.tier_counts == health.tier_counts()
    assert [a["customer_id"] for a in r.call_first] == health.at_risk(10).customer_ids.tolist()
    assert r.tier_trend[-1] == ("2026-10-31", health.tier_counts())
    # MRR of the scored accounts: their MRR at as_of, summed by hand
    from custsuccess.metrics import customer_mrr

    assert r.mrr == pytest.approx(float(customer_mrr(ds.until(t), t)[health.index].sum()))
    for m in r.mrr_months:  # each month's movements add up
        assert m["opening"] + m["new"] + m["expansion"] + m["reactivation"] - m[
            "contraction"] - m["churn"] == pytest.approx(m["closing"])


def test_report_command_writes_the_page(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    run = [sys.executable, "-m", "custsuccess"]
    subprocess.run([*run, "demo", "--demo-size", "150", "--db", str(db)], check=True,
                   capture_output=True, env=env, timeout=300)
    out = tmp_path / "review.html"
    done = subprocess.run([*run, "report", "--html", str(out), "--db", str(db)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"Wrote {out}: the review as of 2026-10-31 00:00 UTC")
    page = out.read_text(encoding="utf-8")
    assert '<section id="call-first"' in page
    bad = subprocess.run([*run, "report", "--html", str(tmp_path / "no" / "dir" / "x.html"),
                          "--db", str(db)], capture_output=True, text=True, env=env,
                         timeout=300, check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith("custsuccess: error: ")


def test_owner_and_renewal_sections_when_the_data_has_them() -> None:
    from datetime import timedelta

    from custsuccess.metrics.accounts import rollup_by_owner
    from custsuccess.metrics.renewals import upcoming_renewals

    t = day(1, 1)
    ds = Dataset.from_records(
        [Customer("a", t, owner="ann"), Customer("b", t, owner="bob"),
         Customer("c", t, owner="ann")],
        [Subscription("sa", "a", "pro", 1000.0, "USD", t, renews_at=t + timedelta(days=380)),
         Subscription("sb", "b", "pro", 500.0, "USD", t, renews_at=t + timedelta(days=400)),
         Subscription("sc", "c", "pro", 200.0, "USD", t, renews_at=t + timedelta(days=500))],
        [Event(c, "login", t + timedelta(days=d)) for c, d in (("a", 320), ("b", 100),
                                                               ("c", 300))],
    )
    as_of = "2024-12-01T00:00:00Z"
    r = report.review(ds, as_of, registry=REGISTRY)
    health = HealthModel.default(REGISTRY).score(ds, as_of)
    books = rollup_by_owner(health, ds)
    assert r.owners is not None
    assert {o["owner"]: o["accounts"] for o in r.owners} == {"ann": 2, "bob": 1}
    assert [o["poor"] for o in r.owners] == [books.row(k)["poor"] for k in ("ann", "bob")]
    due = upcoming_renewals(health, ds, within_days=90)  # sa (Jan 15) and sb (Feb 4) only
    assert r.renewals is not None
    assert [x["customer_id"] for x in r.renewals] == due.customer_ids.tolist() == ["a", "b"]
    page = report.render(r)
    ids = re.findall(r'<section id="([\w-]+)"', page)
    assert ids.index("call-first") < ids.index("renewals") < ids.index("owners")
    # without owners or renewals in the data (the small dataset), both are left out
    plain = report.html(small(), "2024-03-05T00:00:00Z", registry=REGISTRY)
    assert '<section id="owners"' not in plain
    assert '<section id="renewals"' not in plain
