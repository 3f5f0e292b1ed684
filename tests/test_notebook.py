"""Notebooks: results show as compact HTML tables (``_repr_html_``), and ``to_pandas()``
is the one name for a DataFrame (``to_frame()`` still works, with a DeprecationWarning)."""

from __future__ import annotations

from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Subscription
from custsuccess.clv import BetaGeoModel
from custsuccess.demo import generate
from custsuccess.health import HealthModel, backtest
from custsuccess.metrics import customer_flow, mrr_movements
from custsuccess.plugins import Registry


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.open: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)
        self._in = tag in ("td", "th")
        if self._in:
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag  # well formed
        self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.cells[-1] += data


def cells(markup: str) -> list[str]:
    parser = _Cells()
    parser.feed(markup)
    assert parser.open == []
    return parser.cells


def t(m: int, d: int = 1) -> datetime:
    return datetime(2024, m, d, tzinfo=timezone.utc)


def flow_dataset() -> Dataset:
    # February: 2 paying at the start (a, b), c new, b lost -> retention (2 - 1) / 2
    return Dataset.from_records([Customer(c, t(1)) for c in "abc"], [
        Subscription("s1", "a", "pro", 100.0, "USD", t(1, 2)),
        Subscription("s2", "b", "pro", 50.0, "USD", t(1, 3), t(2, 20)),
        Subscription("s3", "c", "pro", 30.0, "USD", t(2, 3))])


def test_metric_result_table_in_declared_units() -> None:
    flow = customer_flow(flow_dataset(), start=t(1), end=t(2, 28))
    got = cells(flow._repr_html_())
    header = got[:7]
    assert header == ["", "customers_start", "new", "lost", "customers_end", "churn_rate",
                      "retention_rate"]
    assert got[7 * 2:7 * 3] == ["2024-02", "2", "1", "1", "2", "50.0%", "50.0%"]
    moves = mrr_movements(flow_dataset(), start=t(1), end=t(2, 28))
    feb = cells(moves._repr_html_())
    i = feb.index("2024-02")
    headers = feb[:feb.index("2024-01")]
    row = dict(zip(headers, feb[i:i + len(headers)], strict=True))
    assert (row["churn"], row["new"], row["closing"]) == ("50.00", "30.00", "130.00")


def test_health_report_and_backtest_tables() -> None:
    ds = generate(250, seed=6)
    model = HealthModel.default(Registry(entry_points=False))
    report = model.score(ds, "2026-10-31T00:00:00Z")
    got = cells(report._repr_html_())
    for tier, n in report.tier_counts().items():
        assert got[got.index(tier) + 1] == f"{n:,}"
    lowest = report.at_risk(1)
    assert str(lowest.customer_ids[0]) in got
    assert f"{float(lowest.score[0]):,.4g}" in got
    result = backtest(model, ds, "2026-06-01T00:00:00Z", 90)
    got = cells(result._repr_html_())
    assert got[got.index("ROC AUC") + 1] == f"{result.auc:,.4g}"
    assert got[got.index("churn rate") + 1] == f"{100 * result.churn_rate:.1f}%"


def test_fitted_model_table() -> None:
    cdnow = np.loadtxt(Path(__file__).parent / "fixtures"
                       / "cdnow_customers_summary_with_transactions.csv",
                       delimiter=",", skiprows=1)
    model = BetaGeoModel().fit(cdnow[:, 1], cdnow[:, 2], cdnow[:, 3])
    got = cells(model._repr_html_())
    for name, value in model.params_.items():
        assert got[got.index(name) + 1] == f"{value:,.4g}"
        assert got[got.index(name) + 2] == f"{model.standard_errors_[name]:,.4g}"
    assert "not fitted" in BetaGeoModel()._repr_html_()


def test_to_frame_is_a_deprecated_alias_of_to_pandas() -> None:
    pd = pytest.importorskip("pandas")
    flow = customer_flow(flow_dataset(), start=t(1), end=t(2, 28))
    with pytest.warns(DeprecationWarning, match=r"CustomerFlow.to_frame\(\) is deprecated"):
        old = flow.to_frame()
    pd.testing.assert_frame_equal(old, flow.to_pandas())
    assert flow.to_pandas().loc["2024-02", "retention_rate"] == pytest.approx(0.5)
