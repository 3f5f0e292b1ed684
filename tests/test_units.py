"""One units rule: rates are fractions in results, JSON and CSV; the command line shows a
field in percent only when the result declares it a fraction (never from its name)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from custsuccess.cli import main
from custsuccess.demo import generate
from custsuccess.metrics import compute, customer_flow, retention_rate
from custsuccess.plugins import Registry
from custsuccess.units import UNITS, as_percent, units_of

# a and b pay from January; in February c starts (30) and b leaves (50):
# February: CS = 2, CN = 1, lost = 1, CE = 2 -> retention (2 - 1) / 2 = 0.5, churn 1 / 2
CUSTOMERS = "id,created_at\na,2024-01-01\nb,2024-01-01\nc,2024-01-01\n"
SUBSCRIPTIONS = """id,customer_id,plan,mrr,currency,started_at,ended_at
s1,a,pro,100,USD,2024-01-02,
s2,b,pro,50,USD,2024-01-05,2024-02-20
s3,c,pro,30,USD,2024-02-03,
"""


@pytest.fixture
def source(tmp_path: Path) -> list[str]:
    (tmp_path / "c.csv").write_text(CUSTOMERS)
    (tmp_path / "s.csv").write_text(SUBSCRIPTIONS)
    return [f"--customers={tmp_path / 'c.csv'}", f"--subscriptions={tmp_path / 's.csv'}",
            "--as-of", "2024-03-01"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_retention_rate_is_a_fraction() -> None:
    assert retention_rate(110, 20, 100) == pytest.approx(0.9)  # the source's "90 %"
    assert as_percent(retention_rate(110, 20, 100)) == pytest.approx(90.0)


def test_named_retention_rate_printed_in_percent_and_stored_as_fraction(
    source: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    table = run(["metrics", "retention_rate", *source], capsys)
    feb = next(line for line in table.splitlines() if line.strip().startswith("2024-02"))
    assert feb.split()[-2:] == ["50.0%", "50.0%"]  # churn_rate, retention_rate
    assert "5000" not in table
    payload = json.loads(run(["metrics", "retention_rate", *source, "--format", "json"], capsys))
    entry = payload["metrics"]["retention_rate"]
    rows = {r["period"]: r for r in entry["rows"]}
    assert rows["2024-02"]["retention_rate"] == pytest.approx(0.5)
    assert entry["units"]["retention_rate"] == "fraction"
    assert entry["units"]["lost"] == "count"
    out = run(["metrics", "retention_rate", *source, "--format", "csv"], capsys)
    cells = {(r["row"], r["column"]): r["value"] for r in csv.DictReader(io.StringIO(out))}
    assert float(cells[("2024-02", "retention_rate")]) == pytest.approx(0.5)


def test_mrr_movements_churn_is_money_not_a_rate(
    source: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # a column named "churn" holds MRR lost: 50 in February, printed as money
    table = run(["metrics", "mrr_movements", *source], capsys)
    lines = table.splitlines()
    header = next(line for line in lines if line.strip().startswith("period")).split()
    feb = next(line for line in lines if line.strip().startswith("2024-02")).split()
    row = dict(zip(header, feb, strict=True))
    assert (row["opening"], row["new"], row["churn"], row["closing"]) == ("150", "30", "50", "130")
    assert "%" not in table


def test_dashboard_rates_are_fractions_with_declared_units(
    source: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    payload = json.loads(run(["metrics", *source, "--format", "json"], capsys))
    feb = next(p for p in payload["periods"] if p["period"] == "2024-02")
    assert (feb["churn_rate"], feb["retention_rate"]) == (pytest.approx(0.5), pytest.approx(0.5))
    assert payload["units"]["retention_rate"] == "fraction"
    assert payload["units"]["churned_mrr"] == "money"
    table = run(["metrics", *source], capsys)
    assert "50.0%" in table


def test_every_builtin_metric_declares_the_unit_of_its_numbers() -> None:
    """No number of a built-in metric's result is left for a reader to guess."""
    ds = generate(150, seed=1)
    registry = Registry(entry_points=False)
    undeclared = []
    for name, contribution in registry.metrics().items():
        result = compute(name, ds, registry=registry)
        if not attrs.has(type(result)):
            flags = isinstance(result, np.ndarray) and result.dtype == np.bool_
            if not flags and getattr(contribution.value, "unit", None) not in UNITS:
                undeclared.append(name)
            continue
        declared = units_of(result)
        kind: Any = type(result)
        for field in attrs.fields(kind):
            value = getattr(result, field.name)
            numeric = (isinstance(value, np.ndarray) and value.dtype.kind in "fiu"
                       and field.name not in ("customer", "period", "kind", "channel")) or (
                isinstance(value, (int, float)) and not isinstance(value, bool))
            if numeric and declared.get(field.name) not in UNITS:
                undeclared.append(f"{name}.{field.name}")
    assert undeclared == []


def test_rates_stay_fractions_per_period() -> None:
    flow = customer_flow(generate(200, seed=2), start="2025-01-01T00:00:00Z",
                         end="2026-06-30T00:00:00Z")
    ok = flow.retention_rate[~np.isnan(flow.retention_rate)]
    assert ok.size
    assert np.all((ok >= 0) & (ok <= 1))
    # (CE - CN) / CS from the counts, computed independently
    expected = (flow.customers_end - flow.new) / flow.customers_start
    np.testing.assert_allclose(flow.retention_rate, expected, equal_nan=True)
