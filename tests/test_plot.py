"""custsuccess.plot: each figure renders to PNG with Agg and draws exactly its input."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from custsuccess import Customer, Dataset, Event, Subscription
from custsuccess.churn import kaplan_meier
from custsuccess.errors import ValidationError
from custsuccess.health import HealthModel, HealthReport
from custsuccess.health.rules import NpsRule
from custsuccess.metrics import (
    CohortRetention,
    MrrMovements,
    cohort_retention,
    mrr_movements,
    nps_by_period,
)
from custsuccess.plot import (
    cohort_heatmap,
    health_distribution,
    mrr_waterfall,
    nps_over_time,
    survival_curves,
)


def t(m: int, d: int = 1, y: int = 2024) -> datetime:
    return datetime(y, m, d, tzinfo=timezone.utc)


def render(fig: Figure, path: Path) -> int:
    """Save with the Agg canvas; return the PNG's size after checking its signature."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return len(data)


def axes(fig: Figure) -> list[Any]:
    """The figure's axes, typed loosely: matplotlib's artist accessors return unions that
    the assertions below narrow by looking at the values."""
    return list(fig.axes)


def blank_png_size(tmp_path: Path) -> int:
    fig = Figure(figsize=(7, 4.5))
    fig.add_subplot()
    return render(fig, tmp_path / "blank.png")


# --------------------------------------------------------------------------- health


@pytest.fixture(scope="module")
def report() -> HealthReport:
    # NPS answers 10 (good), 7 (average), 0 (poor); 'd' and 'e' never answered (unscored)
    customers = [Customer(c, t(1)) for c in "abcde"]
    events = [
        Event("a", "login", t(3, 1)),
        Event("a", "nps_response", t(2, 1), value=10),
        Event("b", "nps_response", t(2, 1), value=7),
        Event("c", "nps_response", t(2, 1), value=0),
        Event("d", "login", t(1, 20)),
    ]
    ds = Dataset.from_records(customers, events=events)
    return HealthModel([NpsRule()]).score(ds, t(3, 1))


def test_health_distribution_bars_count_each_tier(report: HealthReport, tmp_path: Path) -> None:
    fig = health_distribution(report, bins=10)
    ax = axes(fig)[0]
    assert len(ax.containers) == 3  # poor, average, good
    tiers = ["poor", "average", "good"]
    scored = ~np.isnan(report.score)
    for name, container in zip(tiers, ax.containers, strict=True):
        heights = np.array([p.get_height() for p in container.patches])
        assert len(heights) == 10
        mine = report.score[report.tier == name]
        assert heights.sum() == mine.size
        expected, _ = np.histogram(mine, bins=np.linspace(0, 100, 11))
        np.testing.assert_array_equal(heights, expected)
    assert sum(len(c.patches) for c in ax.containers) == 30
    assert sum(p.get_height() for p in ax.patches) == int(scored.sum())
    # the thresholds are drawn where the report says
    xs = sorted(line.get_xdata()[0] for line in ax.lines)
    assert xs == [report.poor, report.good]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    counts = report.tier_counts()
    assert legend == [f"{n} ({counts[n]})" for n in tiers]
    assert report.tier.tolist() == ["good", "average", "poor", "unscored", "unscored"]
    assert ax.get_title() == "Health scores at 2024-03-01 (3 accounts, 2 unscored)"
    assert render(fig, tmp_path / "health.png") > blank_png_size(tmp_path) + 2000


def test_health_distribution_stacks_tiers(report: HealthReport) -> None:
    fig = health_distribution(report, bins=4)
    poor, average, good = axes(fig)[0].containers
    # each series sits on top of the ones below it
    below = np.array([p.get_height() for p in poor.patches])
    np.testing.assert_array_equal([p.get_y() for p in average.patches], below)
    below += [p.get_height() for p in average.patches]
    np.testing.assert_array_equal([p.get_y() for p in good.patches], below)


def test_health_distribution_into_given_axes(report: HealthReport) -> None:
    fig = Figure()
    left, right = fig.subplots(1, 2)
    out = health_distribution(report, ax=right, title="mine")
    assert out is fig
    assert right.get_title() == "mine"
    assert not left.patches


@pytest.mark.parametrize("bins", [0, 101, 2.5, True])
def test_health_distribution_rejects_bad_bins(report: HealthReport, bins: object) -> None:
    with pytest.raises(ValidationError, match=f"bins must be an int from 1 to 100, got {bins!r}"):
        health_distribution(report, bins=bins)  # type: ignore[arg-type]


def test_health_distribution_rejects_other_objects() -> None:
    with pytest.raises(ValidationError, match=r"needs the result of HealthModel\.score, got list"):
        health_distribution([1, 2])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- cohorts


@pytest.fixture(scope="module")
def cohorts() -> CohortRetention:
    # January: a (100, stays), b (50, leaves in February); February: c (30)
    ds = Dataset.from_records(
        [Customer("a", t(1, 3)), Customer("b", t(1, 9)), Customer("c", t(2, 4))],
        [
            Subscription("s1", "a", "pro", 100.0, "USD", t(1, 3)),
            Subscription("s2", "b", "pro", 50.0, "USD", t(1, 9), t(2, 20)),
            Subscription("s3", "c", "pro", 30.0, "USD", t(2, 4)),
        ],
    )
    return cohort_retention(ds, end="2024-03-15T00:00:00Z")


def test_cohort_heatmap_shows_the_matrix(cohorts: CohortRetention, tmp_path: Path) -> None:
    fig = cohort_heatmap(cohorts)
    ax = axes(fig)[0]
    image = ax.images[0].get_array()
    assert image.shape == (3, 3)
    # observed cells are the rates; the unobserved ones and the empty March cohort masked
    np.testing.assert_array_equal(
        np.ma.getmaskarray(image),
        [[False, False, False], [False, False, True], [True, True, True]],
    )
    assert image[0].tolist() == [1.0, 0.5, 0.5]
    assert image[1, :2].tolist() == [1.0, 1.0]
    # one annotation per visible cell, as a percentage
    assert [x.get_text() for x in ax.texts] == ["100%", "50%", "50%", "100%", "100%"]
    assert [x.get_text() for x in ax.get_yticklabels()] == ["2024-01", "2024-02", "2024-03"]
    assert ax.get_xlabel() == "months since signup"
    assert len(fig.axes) == 2  # the colour bar
    assert render(fig, tmp_path / "cohorts.png") > blank_png_size(tmp_path) + 2000


def test_cohort_heatmap_mrr_rate_and_last(cohorts: CohortRetention) -> None:
    fig = cohort_heatmap(cohorts, value="mrr_rate", last=2, annotate=False)
    image = axes(fig)[0].images[0].get_array()
    assert image.shape == (2, 2)
    assert image[0].tolist() == [1.0, 1.0]  # the February cohort: c keeps paying 30
    assert not axes(fig)[0].texts
    # MRR in money units
    fig = cohort_heatmap(cohorts, value="mrr")
    texts = [x.get_text() for x in axes(fig)[0].texts]
    assert texts == ["150", "100", "100", "30", "30"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": "rate"}, "value must be one of"),
        ({"last": 0}, "last must be an int >= 1, got 0"),
    ],
)
def test_cohort_heatmap_rejects_bad_options(
    cohorts: CohortRetention, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        cohort_heatmap(cohorts, **kwargs)


# --------------------------------------------------------------------------- survival


def test_survival_curves_by_group_draw_curves_and_bands(tmp_path: Path) -> None:
    durations = np.array([5, 10, 10, 20, 30, 3, 6, 9, 12, 15, 18], dtype=float)
    observed = np.array([1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0], dtype=bool)
    groups = np.array(["a"] * 5 + ["b"] * 6)
    curves = kaplan_meier(durations, observed, groups=groups)
    fig = survival_curves(curves)
    ax = axes(fig)[0]
    steps = ax.lines[:2]
    for line, name in zip(steps, ["a", "b"], strict=True):
        km = curves[name]
        np.testing.assert_array_equal(line.get_xdata(), km.timeline)
        np.testing.assert_array_equal(line.get_ydata(), km.survival)
        assert line.get_drawstyle() == "steps-post"
    # group a: S = 1, 4/5 at 5, 3/5 at 10, (3/5)(1/2) at 20
    np.testing.assert_allclose(steps[0].get_ydata(), [1.0, 0.8, 0.6, 0.3, 0.3])
    assert len(ax.collections) == 2  # one band per curve
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(np.nanmin(curves["a"].lower))
    labels = [x.get_text() for x in ax.get_legend().get_texts()]
    assert labels == ["a (n=5, median 20)", "b (n=6, median 9)"]
    assert render(fig, tmp_path / "km.png") > blank_png_size(tmp_path) + 2000


def test_survival_curve_single_without_band() -> None:
    km = kaplan_meier([1, 2, 3], [0, 0, 0])
    fig = survival_curves(km, band=False)
    ax = axes(fig)[0]
    assert not ax.collections
    assert ax.lines[0].get_ydata().tolist() == [1.0, 1.0, 1.0, 1.0]
    assert ax.get_legend().get_texts()[0].get_text() == "n=3, median not reached"


@pytest.mark.parametrize(
    ("curves", "message"),
    [
        ({}, "no curve to draw"),
        ({"x": 1}, r"curves\['x'\] is a int, expected a KaplanMeier"),
        ([1, 2], "needs a KaplanMeier or a mapping"),
    ],
)
def test_survival_curves_reject_bad_input(curves: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        survival_curves(curves)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- MRR


@pytest.fixture(scope="module")
def movements() -> MrrMovements:
    # as in the mrr_movements docstring: a 100 -> 150 -> churn -> back at 80; b new at 50
    ds = Dataset.from_records(
        [Customer("a", t(1)), Customer("b", t(1)), Customer("c", t(1))],
        [
            Subscription("s1", "a", "pro", 100.0, "USD", t(1, 5), t(2, 10)),
            Subscription("s2", "a", "pro+", 150.0, "USD", t(2, 10), t(3, 15)),
            Subscription("s3", "a", "lite", 80.0, "USD", t(4, 2)),
            Subscription("s4", "b", "pro", 50.0, "USD", t(2, 3)),
            Subscription("s5", "c", "pro", 60.0, "USD", t(1, 5), t(3, 2)),
            Subscription("s6", "c", "lite", 20.0, "USD", t(3, 2)),
        ],
    )
    return mrr_movements(ds, start="2024-01-01T00:00:00Z", end="2024-04-30T00:00:00Z")


def test_mrr_waterfall_bars_are_the_movements(movements: MrrMovements, tmp_path: Path) -> None:
    # March: opening 260 (a 150, b 50, c 60), c contracts by 40, a churns 150 -> 70
    fig = mrr_waterfall(movements, "2024-03")
    ax = axes(fig)[0]
    heights = [p.get_height() for p in ax.patches]
    bottoms = [p.get_y() for p in ax.patches]
    assert heights == [260.0, 0.0, 0.0, 0.0, 40.0, 150.0, 70.0]
    assert bottoms == [0.0, 260.0, 260.0, 260.0, 220.0, 70.0, 0.0]
    assert [x.get_text() for x in ax.get_xticklabels()] == [
        "opening", "new", "expansion", "reactivation", "contraction", "churn", "closing",
    ]
    texts = [x.get_text() for x in ax.texts]
    assert texts[4] == "-40\n(1)"
    assert texts[5] == "-150\n(1)"
    assert ax.get_title() == "MRR movements, 2024-03 (net -190)"
    assert ax.get_ylim()[0] == 0  # large movements: no zoom
    assert render(fig, tmp_path / "mrr.png") > blank_png_size(tmp_path) + 2000


def test_mrr_waterfall_default_period_is_the_last(movements: MrrMovements) -> None:
    fig = mrr_waterfall(movements)
    heights = [p.get_height() for p in axes(fig)[0].patches]
    # April: opening 70 (b 50, c 20), a reactivates at 80, closing 150
    assert heights == [70.0, 0.0, 0.0, 80.0, 0.0, 0.0, 150.0]
    assert axes(mrr_waterfall(movements, 0))[0].patches[1].get_height() == 160.0  # a + c new


def test_mrr_waterfall_zooms_on_small_movements() -> None:
    ds = Dataset.from_records(
        [Customer("a", t(1)), Customer("b", t(1))],
        [
            Subscription("s1", "a", "pro", 10_000.0, "USD", t(1, 2)),
            Subscription("s2", "b", "pro", 100.0, "USD", t(2, 3)),
        ],
    )
    m = mrr_movements(ds, start="2024-02-01T00:00:00Z", end="2024-02-01T00:00:00Z")
    ax = axes(mrr_waterfall(m))[0]
    assert ax.get_ylim()[0] > 9000
    assert "axis does not start at 0" in [x.get_text() for x in ax.texts]
    ax = axes(mrr_waterfall(m, zoom=False))[0]
    assert ax.get_ylim()[0] == 0


@pytest.mark.parametrize(
    ("period", "message"),
    [("2023-01", "no period '2023-01'"), (4, "period 4 is out of range for 4 periods"),
     (1.0, "period must be an int or a label")],
)
def test_mrr_waterfall_rejects_unknown_period(
    movements: MrrMovements, period: Any, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        mrr_waterfall(movements, period)


# --------------------------------------------------------------------------- NPS


def test_nps_over_time_line_and_answer_bars(tmp_path: Path) -> None:
    ds = Dataset.from_records(
        [Customer("a", t(1)), Customer("b", t(1))],
        events=[
            Event("a", "nps_response", t(1, 5), 10),
            Event("b", "nps_response", t(2, 5), 3),
            Event("a", "nps_response", t(7, 2), 9),
            Event("b", "nps_response", t(8, 9), 8),
        ],
    )
    result = nps_by_period(ds)  # 2024Q1: 0, Q2: no answers, Q3: 50
    fig = nps_over_time(result)
    ax, counts = axes(fig)
    line = ax.lines[0]
    np.testing.assert_array_equal(line.get_ydata(), [0.0, np.nan, 50.0])
    assert [x.get_text() for x in ax.get_xticklabels()] == ["2024Q1", "2024Q2", "2024Q3"]
    detractors, passives, promoters = counts.containers
    assert [p.get_height() for p in detractors.patches] == [1, 0, 0]
    assert [p.get_height() for p in passives.patches] == [0, 0, 1]
    assert [p.get_height() for p in promoters.patches] == [1, 0, 1]
    assert [p.get_y() for p in promoters.patches] == [1, 0, 1]  # stacked on the others
    assert ax.get_ylim() == (-100, 100)
    assert render(fig, tmp_path / "nps.png") > blank_png_size(tmp_path) + 2000


def test_nps_over_time_rejects_empty() -> None:
    ds = Dataset.from_records([Customer("a", t(1))])
    with pytest.raises(ValidationError, match="no periods to draw"):
        nps_over_time(nps_by_period(ds))


def test_given_axes_of_a_subfigure_and_bad_axes() -> None:
    fig = Figure()
    ax: Axes = fig.add_subplot()
    assert survival_curves(kaplan_meier([1.0]), ax=ax) is fig
    subfigures: Any = Figure().subfigures(1, 2)
    left = subfigures[0]
    inner = left.add_subplot()
    assert survival_curves(kaplan_meier([1.0]), ax=inner) is left.figure  # the root figure
    assert inner.lines[0].get_ydata().tolist() == [1.0, 0.0]
    with pytest.raises(ValidationError, match="ax must be a matplotlib Axes in a Figure"):
        survival_curves(kaplan_meier([1.0]), ax="left")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- import cost


def test_importing_plot_does_not_import_matplotlib() -> None:
    code = (
        "import sys, custsuccess.plot\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
        "assert 'pyplot' not in str(sorted(sys.modules))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_figures_never_use_pyplot() -> None:
    code = (
        "import sys\n"
        "from custsuccess.churn import kaplan_meier\n"
        "from custsuccess.plot import survival_curves\n"
        "survival_curves(kaplan_meier([1.0, 2.0])).savefig(__import__('io').BytesIO())\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
