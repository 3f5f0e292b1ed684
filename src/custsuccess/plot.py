"""Matplotlib figures of custsuccess results (extra ``plot``: ``pip install 'custsuccess[plot]'``).

Each function takes a result object of the library and returns a
:class:`matplotlib.figure.Figure`:

* :func:`health_distribution`: health scores by tier, from a
  :class:`~custsuccess.health.HealthReport`;
* :func:`cohort_heatmap`: a cohort retention matrix, from
  :func:`~custsuccess.metrics.cohort_retention`;
* :func:`survival_curves`: Kaplan-Meier curves with their confidence bands, from
  :func:`~custsuccess.churn.kaplan_meier` (one curve, or a mapping of group -> curve such
  as :meth:`~custsuccess.churn.Lifetimes.kaplan_meier_by` returns);
* :func:`mrr_waterfall`: one period's MRR movements, from
  :func:`~custsuccess.metrics.mrr_movements`;
* :func:`nps_over_time`: NPS per period with the answers behind it, from
  :func:`~custsuccess.metrics.nps_by_period`;
* :func:`churn_drivers`: churn rate by decile of the strongest features, from
  :func:`~custsuccess.health.driver_analysis`.

The figures are built with matplotlib's object-oriented API (``Figure``, never
``pyplot``): no global state, no display needed, safe in a web server or a thread. Show
one in a notebook by evaluating it, or save it with ``fig.savefig("health.png")``. Pass
``ax=`` to draw into an axes of a figure of your own instead. matplotlib is imported
when a function is called, never when this module is imported.

>>> import numpy as np
>>> from custsuccess.churn import kaplan_meier
>>> fig = survival_curves(kaplan_meier([30, 60, 60, 90, 120], [1, 1, 0, 1, 0]))
>>> ax = fig.axes[0]
>>> ax.lines[0].get_ydata().tolist()
[1.0, 0.8, 0.6, 0.3, 0.3]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from custsuccess.churn.competing import CumulativeIncidence
    from custsuccess.churn.cox import CoxModel
    from custsuccess.churn.hazard import NelsonAalen
    from custsuccess.churn.survival import KaplanMeier
    from custsuccess.clv.base import Fitter
    from custsuccess.clv.purchases import CumulativeTransactions
    from custsuccess.health.drivers import DriverAnalysis
    from custsuccess.health.report import HealthReport
    from custsuccess.metrics.cohorts import CohortRetention
    from custsuccess.metrics.nps import NpsByPeriod
    from custsuccess.metrics.revenue import MrrMovements

__all__ = [
    "TIER_COLORS",
    "churn_drivers",
    "clv_tracking",
    "cohort_heatmap",
    "cumulative_hazard",
    "cumulative_incidence",
    "hazard_ratios",
    "health_distribution",
    "mrr_waterfall",
    "nps_over_time",
    "period_transactions",
    "probability_alive_matrix",
    "survival_curves",
]

#: Colour of each health tier (colour-blind-safe Okabe-Ito hues).
TIER_COLORS: Final = {"good": "#009E73", "average": "#E69F00", "poor": "#D55E00"}
_GAIN: Final = "#009E73"
_LOSS: Final = "#D55E00"
_LEVEL: Final = "#7F7F7F"
_NPS_COLORS: Final = {"detractors": "#D55E00", "passives": "#BBBBBB", "promoters": "#009E73"}
_COHORT_VALUES: Final = ("customer_rate", "customers", "mrr", "mrr_rate")

F64 = npt.NDArray[np.float64]


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """A new figure with one axes, or the figure of ``ax``."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover (matplotlib is installed in the test env)
        raise ImportError(
            "custsuccess.plot needs matplotlib: pip install 'custsuccess[plot]'"
        ) from None
    if ax is not None:
        parent = getattr(ax, "figure", None)
        root = getattr(parent, "figure", parent)  # a SubFigure's .figure is its root Figure
        if not isinstance(root, Figure):
            raise ValidationError(f"ax must be a matplotlib Axes in a Figure, got {ax!r}")
        return root, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _money(x: float, digits: int = 3) -> str:
    sign = "-" if x < 0 else ""
    x = abs(x)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if x >= limit:
            return f"{sign}{x / limit:.{digits}g}{suffix}"
    return f"{sign}{x:,.0f}"


def _check(value: object, expected: type, name: str, source: str) -> None:
    if not isinstance(value, expected):
        raise ValidationError(
            f"{name}() needs the result of {source}, got {type(value).__name__}"
        )


# --------------------------------------------------------------------------- health


def health_distribution(
    report: HealthReport,
    *,
    bins: int = 20,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.0, 4.0),
    title: str | None = None,
) -> Figure:
    """Histogram of health scores, stacked by tier, with the tier thresholds marked.

    One bar series per tier (``poor``, ``average``, ``good``, in that order), each with
    ``bins`` bars over 0-100 whose heights are the number of accounts of that tier in
    the bin; dashed vertical lines at the ``poor`` and ``good`` thresholds. Accounts
    without a score (tier ``unscored``) are not drawn; their number is in the title.

    Parameters
    ----------
    report
        A :class:`~custsuccess.health.HealthReport`.
    bins
        Number of equal-width bins over 0-100 (1 to 100).
    ax
        Draw into this axes instead of a new figure.
    figsize, title
        Size of a new figure in inches; the title (default: date and account counts).

    Examples
    --------
    >>> from custsuccess.demo import generate
    >>> from custsuccess.health import HealthModel
    >>> from custsuccess.plugins import Registry
    >>> ds = generate(300, seed=1)
    >>> report = HealthModel.default(Registry(entry_points=False)).score(ds, "2026-10-01T00:00:00Z")
    >>> fig = health_distribution(report, bins=10)
    >>> [len(c) for c in fig.axes[0].containers]  # poor, average, good
    [10, 10, 10]
    """
    from custsuccess.health.report import TIERS, HealthReport

    _check(report, HealthReport, "health_distribution", "HealthModel.score")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or not 1 <= bins <= 100:
        raise ValidationError(f"bins must be an int from 1 to 100, got {bins!r}")
    fig, ax = _axes(ax, figsize)
    edges = np.linspace(0.0, 100.0, int(bins) + 1)
    width = edges[1] - edges[0]
    bottom = np.zeros(int(bins))
    for code in (2, 1, 0):  # poor at the bottom, good on top
        name = TIERS[code]
        scores = report.score[report.tier_code == code]
        counts, _ = np.histogram(scores, bins=edges)
        ax.bar(
            edges[:-1], counts, width=width, bottom=bottom, align="edge",
            color=TIER_COLORS[name], edgecolor="white", linewidth=0.5,
            label=f"{name} ({scores.size:,})",
        )
        bottom = bottom + counts
    for threshold, label in ((report.poor, "poor <"), (report.good, "good >=")):
        ax.axvline(threshold, color="#333333", linestyle="--", linewidth=1)
        ax.annotate(
            f"{label} {threshold:g}", (threshold, 1.0), xycoords=("data", "axes fraction"),
            xytext=(3, -3), textcoords="offset points", va="top", fontsize=8,
        )
    ax.set_xlim(0, 100)
    ax.set_xlabel("health score")
    ax.set_ylabel("accounts")
    unscored = int(np.count_nonzero(report.tier_code == 3))
    if title is None:
        title = f"Health scores at {str(report.as_of)[:10]} ({int(bottom.sum()):,} accounts"
        title += f", {unscored:,} unscored)" if unscored else ")"
    ax.set_title(title)
    ax.legend(title="tier", frameon=False)
    return fig


# --------------------------------------------------------------------------- cohorts


def cohort_heatmap(
    cohorts: CohortRetention,
    *,
    value: str = "customer_rate",
    last: int | None = None,
    annotate: bool | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Cohort retention as a heatmap: cohorts as rows, periods since signup as columns.

    The image holds ``cohorts.<value>`` with the unobserved cells (after the last period)
    and empty cohorts masked; rates are coloured on 0-100 % (up to the largest value when
    MRR retention exceeds 100 % with expansion).

    Parameters
    ----------
    cohorts
        The result of :func:`~custsuccess.metrics.cohort_retention`.
    value
        ``"customer_rate"`` (default), ``"mrr_rate"``, ``"customers"`` or ``"mrr"``.
    last
        Show only the ``last`` most recent cohorts (and the offsets they reach).
    annotate
        Write each cell's value in it (default: when there are at most 15 cohorts).
    ax, figsize, title
        As in :func:`health_distribution`.

    Examples
    --------
    >>> from custsuccess.demo import generate
    >>> from custsuccess.metrics import cohort_retention
    >>> c = cohort_retention(generate(300, seed=1), start="2026-01-01T00:00:00Z")
    >>> fig = cohort_heatmap(c)
    >>> fig.axes[0].images[0].get_array().shape == (len(c), len(c))
    True
    """
    from custsuccess.metrics.cohorts import CohortRetention

    _check(cohorts, CohortRetention, "cohort_heatmap", "metrics.cohort_retention")
    if value not in _COHORT_VALUES:
        raise ValidationError(f"value must be one of {_COHORT_VALUES}, got {value!r}")
    k = len(cohorts)
    if last is not None:
        if isinstance(last, bool) or not isinstance(last, (int, np.integer)) or last < 1:
            raise ValidationError(f"last must be an int >= 1, got {last!r}")
        last = min(int(last), k)
    rows = slice(k - last, k) if last is not None else slice(0, k)
    n_rows = rows.stop - rows.start
    if n_rows == 0:
        raise ValidationError("cohort_heatmap: the cohort result has no periods to draw")
    matrix = np.asarray(getattr(cohorts, value), dtype=np.float64)[rows, :n_rows]
    observed = cohorts.observed[rows, :n_rows] & (cohorts.size[rows] > 0)[:, None]
    hidden = ~observed | np.isnan(matrix)
    data = np.ma.masked_array(matrix, mask=hidden)
    rate = value.endswith("rate")
    if figsize is None:
        side = min(max(4.0, 0.45 * n_rows + 2.0), 16.0)
        figsize = (side + 1.5, side)
    fig, ax = _axes(ax, figsize)
    vmax = 1.0
    if rate and data.count():
        vmax = max(1.0, float(data.max()))
    elif data.count():
        vmax = float(data.max()) or 1.0
    image = ax.imshow(
        data, cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    labels = cohorts.periods.labels[rows]
    step = max(1, math.ceil(n_rows / 24))
    ticks = np.arange(0, n_rows, step)
    ax.set_yticks(ticks, [labels[i] for i in ticks])
    ax.set_xticks(ticks, [str(i) for i in ticks])
    since = cohorts.cohort_by.replace("_", " ")
    ax.set_xlabel(f"{cohorts.periods.freq or 'period'}s since {since}")
    ax.set_ylabel("cohort")
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    if rate:
        from matplotlib.ticker import PercentFormatter

        bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    bar.set_label({"customer_rate": "customers retained", "mrr_rate": "MRR retained",
                   "customers": "customers", "mrr": "MRR"}[value])
    if annotate is None:
        annotate = n_rows <= 15
    if annotate:
        cut = vmax / 2
        for i, j in zip(*np.nonzero(~hidden), strict=True):
            v = float(matrix[i, j])
            text = f"{v:.0%}" if rate else (_money(v) if value == "mrr" else f"{v:,.0f}")
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="black" if v > cut else "white")
    if title is None:
        what = "customers" if value.startswith("customer") else "MRR"
        title = f"Cohort retention ({what}, by {cohorts.cohort_by.replace('_', ' ')})"
    ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- survival


def survival_curves(
    curves: KaplanMeier | Mapping[str, KaplanMeier],
    *,
    band: bool = True,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.0, 4.5),
    title: str | None = None,
    xlabel: str = "days since first subscription",
    censor_marks: bool = False,
    at_risk_counts: bool = False,
) -> Figure:
    """Kaplan-Meier survival curves as steps, each with its confidence band.

    One line per curve (``ax.lines[i]`` holds the curve ``i``: its x data the timeline,
    its y data the survival), a shaded band between ``lower`` and ``upper`` when
    ``band``, and a dotted line at 50 % (the median). The legend gives each group's
    size and median lifetime.

    Parameters
    ----------
    curves
        A :class:`~custsuccess.churn.KaplanMeier`, or a mapping of group name -> curve
        (:meth:`Lifetimes.kaplan_meier_by <custsuccess.churn.Lifetimes.kaplan_meier_by>`,
        ``kaplan_meier(..., groups=...)``), drawn in the mapping's order.
    band
        Shade each curve's confidence band.
    ax, figsize, title
        As in :func:`health_distribution`.
    xlabel
        The x axis label (the unit of the durations).
    censor_marks
        Mark each time with censored subjects by a ``|`` on the curve (one scatter
        collection per curve, after the bands).
    at_risk_counts
        Print the number at risk under the x axis at each tick, one row per curve (the
        table of Pocock, Clayton & Altman 2002; lifelines' ``add_at_risk_counts``).
    """
    from custsuccess.churn.survival import KaplanMeier

    if isinstance(curves, KaplanMeier):
        named: dict[str, KaplanMeier] = {"all": curves}
    elif isinstance(curves, Mapping):
        named = {}
        for key, km in curves.items():
            if not isinstance(km, KaplanMeier):
                raise ValidationError(
                    f"survival_curves(): curves[{key!r}] is a {type(km).__name__}, "
                    "expected a KaplanMeier (from churn.kaplan_meier)"
                )
            named[str(key)] = km
    else:
        raise ValidationError(
            "survival_curves() needs a KaplanMeier or a mapping of group -> KaplanMeier, "
            f"got {type(curves).__name__}"
        )
    if not named:
        raise ValidationError("survival_curves(): no curve to draw (the mapping is empty)")
    fig, ax = _axes(ax, figsize)
    colors = [f"C{i % 10}" for i in range(len(named))]
    for (name, km), color in zip(named.items(), colors, strict=True):
        median = km.median
        told = "not reached" if math.isinf(median) else f"{median:,.0f}"
        label = f"{name} (n={km.n:,}, median {told})" if len(named) > 1 else (
            f"n={km.n:,}, median {told}"
        )
        ax.step(km.timeline, km.survival, where="post", color=color, linewidth=1.6,
                label=label)
        if band:
            ax.fill_between(km.timeline, km.lower, km.upper, step="post", color=color,
                            alpha=0.18, linewidth=0)
    if censor_marks:
        for km, color in zip(named.values(), colors, strict=True):
            where = np.asarray(km.censored) > 0
            ax.scatter(km.timeline[where], km.survival[where], marker="|", s=30,
                       color=color, linewidths=1)
    ax.axhline(0.5, color="#999999", linestyle=":", linewidth=1)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    if at_risk_counts:
        _at_risk_table(ax, named, colors)
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("still a customer")
    first = next(iter(named.values()))
    if title is None:
        title = "Customer survival (Kaplan-Meier"
        title += f", {1 - first.alpha:.0%} band)" if band else ")"
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    return fig


def _at_risk_table(ax: Axes, named: Mapping[str, KaplanMeier], colors: list[str]) -> None:
    """Numbers at risk at the x ticks, written under the axis, one row per curve."""
    from matplotlib.transforms import blended_transform_factory

    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    ax.set_xticks(ticks)
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    for row, ((name, km), color) in enumerate(zip(named.items(), colors, strict=True)):
        # at risk at t: the at-risk count of the first timeline point >= t, 0 past the end
        pos = np.searchsorted(km.timeline, ticks, side="left")
        counts = np.append(np.asarray(km.at_risk, dtype=np.float64), 0.0)[pos]
        y = -0.2 - 0.07 * row
        ax.text(low, y, f"{name} ", transform=transform, ha="right", va="top", fontsize=7,
                color=color)
        for t, c in zip(ticks, counts.tolist(), strict=True):
            ax.text(t, y, f"{c:,.0f}", transform=transform, ha="center", va="top",
                    fontsize=7, color=color)
    ax.text(low, -0.2 + 0.07, "at risk", transform=transform, ha="right", va="top",
            fontsize=7)


def cumulative_hazard(
    estimate: NelsonAalen,
    *,
    band: bool = True,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.0, 4.5),
    title: str | None = None,
    xlabel: str = "days since first subscription",
) -> Figure:
    """A Nelson-Aalen cumulative hazard as a step curve (``ax.lines[0]``) with its band."""
    from custsuccess.churn.hazard import NelsonAalen

    _check(estimate, NelsonAalen, "cumulative_hazard", "churn.hazard.nelson_aalen")
    fig, ax = _axes(ax, figsize)
    ax.step(estimate.timeline, estimate.cumulative_hazard, where="post", color="C0",
            linewidth=1.6)
    if band:
        ax.fill_between(estimate.timeline, estimate.lower, estimate.upper, step="post",
                        color="C0", alpha=0.18, linewidth=0)
    ax.set_xlim(left=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cumulative hazard")
    ax.set_title(title or f"Nelson-Aalen cumulative hazard ({1 - estimate.alpha:.0%} band)")
    return fig


def cumulative_incidence(
    incidence: CumulativeIncidence,
    *,
    stacked: bool = True,
    band: bool = False,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.0, 4.5),
    title: str | None = None,
    xlabel: str = "days since first subscription",
) -> Figure:
    """Cumulative incidence of churn by reason over tenure.

    ``stacked`` (default): the reasons' curves stacked as areas (``ax.collections[k]``
    for reason ``k``), so the top edge is ``1 - S(t)``, the share churned for any reason;
    otherwise one step line per reason (``ax.lines[k]``), with its band when ``band``.
    """
    from custsuccess.churn.competing import CumulativeIncidence

    _check(incidence, CumulativeIncidence, "cumulative_incidence",
           "churn.competing.cumulative_incidence")
    fig, ax = _axes(ax, figsize)
    t = incidence.timeline
    if stacked:
        bottom = np.zeros(len(t))
        for k, cause in enumerate(incidence.causes):
            top = bottom + incidence.incidence[:, k]
            ax.fill_between(t, bottom, top, step="post", color=f"C{k % 10}", alpha=0.75,
                            linewidth=0, label=cause)
            bottom = top
    else:
        for k, cause in enumerate(incidence.causes):
            color = f"C{k % 10}"
            ax.step(t, incidence.incidence[:, k], where="post", color=color, linewidth=1.6,
                    label=cause)
            if band:
                ax.fill_between(t, incidence.lower[:, k], incidence.upper[:, k], step="post",
                                color=color, alpha=0.15, linewidth=0)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("churned, by reason")
    ax.set_title(title or "Cumulative incidence of churn by reason (Aalen-Johansen)")
    ax.legend(frameon=False, fontsize=8)
    return fig


def hazard_ratios(
    model: CoxModel,
    *,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (6.0, 4.0),
    title: str | None = None,
) -> Figure:
    """A fitted Cox model's hazard ratios (log scale) with their intervals: one point
    per covariate (``ax.lines[0]``) and a horizontal segment for its interval, top to
    bottom in the model's order."""
    from custsuccess.churn.cox import CoxModel

    _check(model, CoxModel, "hazard_ratios", "churn.cox.CoxModel().fit")
    summary = model.summary()
    names = list(summary)
    fig, ax = _axes(ax, figsize)
    y = np.arange(len(names))[::-1]
    ratio = np.array([summary[n]["exp(coef)"] for n in names])
    low = np.array([summary[n]["exp(coef) lower"] for n in names])
    high = np.array([summary[n]["exp(coef) upper"] for n in names])
    ax.plot(ratio, y, "o", color="C0")
    ax.hlines(y, low, high, color="C0", linewidth=1.6)
    ax.axvline(1.0, color="#999999", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(y, names)
    ax.set_xlabel(f"hazard ratio ({1 - model.alpha:.0%} interval)")
    ax.set_title(title or "Cox model: hazard ratios")
    return fig


# --------------------------------------------------------------------------- MRR


def _period_index(labels: tuple[str, ...], period: int | str, what: str) -> int:
    k = len(labels)
    if isinstance(period, str):
        if period not in labels:
            shown = ", ".join(labels[-6:])
            raise ValidationError(
                f"{what}: no period {period!r}; the periods are {labels[0]} ... {labels[-1]}"
                if k > 6 else f"{what}: no period {period!r}; the periods are {shown}"
            )
        return labels.index(period)
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)):
        raise ValidationError(f"{what}: period must be an int or a label, got {period!r}")
    if not -k <= period < k:
        raise ValidationError(f"{what}: period {period} is out of range for {k} periods")
    return int(period) % k


def mrr_waterfall(
    movements: MrrMovements,
    period: int | str = -1,
    *,
    zoom: bool = True,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.5, 4.5),
    title: str | None = None,
) -> Figure:
    """One period's MRR bridge: opening MRR, each movement, closing MRR.

    Seven bars, left to right (``ax.patches`` in this order): opening, new, expansion,
    reactivation (gains, floating up from the running total), contraction and churn
    (losses, floating down), closing. Each bar's height is the amount (positive), its
    label the amount with its sign and the number of customers behind it.

    Parameters
    ----------
    movements
        The result of :func:`~custsuccess.metrics.mrr_movements`.
    period
        The period to draw: an index into ``movements.periods`` (default ``-1``, the
        last) or a label such as ``"2024-03"``.
    zoom
        When the movements are small next to the MRR (under half of it), start the y
        axis just below them instead of at 0, so that they can be read (a note on the
        axes says so).
    ax, figsize, title
        As in :func:`health_distribution`.
    """
    from custsuccess.metrics.revenue import MOVEMENT_KINDS, MrrMovements

    _check(movements, MrrMovements, "mrr_waterfall", "metrics.mrr_movements")
    if len(movements) == 0:
        raise ValidationError("mrr_waterfall: the movements have no periods to draw")
    i = _period_index(movements.periods.labels, period, "mrr_waterfall")
    counts = dict(zip(MOVEMENT_KINDS, movements.counts[i].tolist(), strict=True))
    steps = [
        ("new", float(movements.new[i]), 1),
        ("expansion", float(movements.expansion[i]), 1),
        ("reactivation", float(movements.reactivation[i]), 1),
        ("contraction", float(movements.contraction[i]), -1),
        ("churn", float(movements.churn[i]), -1),
    ]
    opening = float(movements.opening[i])
    closing = float(movements.closing[i])
    names = ["opening"]
    bottoms = [0.0]
    heights = [opening]
    colors = [_LEVEL]
    texts = [_money(opening, 4)]
    level = opening
    after = [opening]  # the running total after each bar, for the connectors
    for name, amount, sign in steps:
        names.append(name)
        heights.append(amount)
        if sign > 0:
            bottoms.append(level)
            level += amount
        else:
            level -= amount
            bottoms.append(level)
        after.append(level)
        colors.append(_GAIN if sign > 0 else _LOSS)
        texts.append(f"{'+' if sign > 0 else '-'}{_money(amount)}\n({counts[name]:,})")
    names.append("closing")
    bottoms.append(0.0)
    heights.append(closing)
    colors.append(_LEVEL)
    texts.append(_money(closing, 4))
    fig, ax = _axes(ax, figsize)
    x = np.arange(len(names))
    bars = ax.bar(x, heights, bottom=bottoms, color=colors, width=0.65)
    for rect, text in zip(bars.patches, texts, strict=True):
        ax.annotate(
            text, (rect.get_x() + rect.get_width() / 2, rect.get_y() + rect.get_height()),
            xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=8,
        )
    for j, level in enumerate(after):  # connectors between consecutive bars
        ax.plot([x[j] + 0.33, x[j + 1] - 0.33], [level, level], color="#BBBBBB", linewidth=0.8)
    ax.set_xticks(x, names)
    ax.set_ylabel(f"MRR ({movements.currency})" if movements.currency else "MRR")
    ax.yaxis.set_major_formatter(lambda v, _pos: _money(v))
    top = max(b + h for b, h in zip(bottoms, heights, strict=True))
    low = min(bottoms[1:-1])
    span = top - low
    if zoom and low > 0 and span < 0.5 * top:
        # the movements are small next to the MRR level: start the axis near them
        floor = max(0.0, low - 1.5 * span)
        ax.set_ylim(floor, top + 0.25 * span)
        ax.annotate("axis does not start at 0", (0.0, 0.0), xycoords="axes fraction",
                    xytext=(3, 3), textcoords="offset points", fontsize=7, color="#666666")
    else:
        ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    if title is None:
        label = movements.periods.labels[i]
        title = f"MRR movements, {label} (net {'+' if closing >= opening else '-'}"
        title += f"{_money(abs(closing - opening))})"
    ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- NPS


def nps_over_time(
    nps: NpsByPeriod,
    *,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.5, 4.5),
    title: str | None = None,
) -> Figure:
    """NPS per period as a line, over the answers behind it as stacked bars.

    On ``ax``: the NPS line (``ax.lines[0]``; its y data is ``nps.score``, with gaps at
    periods without answers) on a -100..100 scale with a line at 0. On a twin axis
    (``fig.axes[1]``): per period, the number of detractors, passives and promoters as
    stacked bars (three bar containers, in that order).

    Parameters
    ----------
    nps
        The result of :func:`~custsuccess.metrics.nps_by_period`.
    ax, figsize, title
        As in :func:`health_distribution`.
    """
    from custsuccess.metrics.nps import NpsByPeriod

    _check(nps, NpsByPeriod, "nps_over_time", "metrics.nps_by_period")
    k = len(nps)
    if k == 0:
        raise ValidationError("nps_over_time: the NPS result has no periods to draw")
    fig, ax = _axes(ax, figsize)
    x = np.arange(k)
    counts = ax.twinx()
    bottom = np.zeros(k)
    for name in ("detractors", "passives", "promoters"):
        values = np.asarray(getattr(nps, name), dtype=np.float64)
        counts.bar(x, values, bottom=bottom, width=0.7, color=_NPS_COLORS[name], alpha=0.45,
                   label=name)
        bottom = bottom + values
    counts.set_ylim(0, max(1.0, float(bottom.max())) * 3)  # bars in the lower third
    counts.set_ylabel("answers")
    ax.set_zorder(counts.get_zorder() + 1)  # the line above the bars
    ax.patch.set_visible(False)
    ax.plot(x, nps.score, color="#0072B2", marker="o", linewidth=2, label="NPS")
    ax.axhline(0, color="#999999", linewidth=0.8)
    ax.set_ylim(-100, 100)
    ax.set_ylabel("NPS (points)")
    step = max(1, math.ceil(k / 16))
    ticks = x[::step]
    ax.set_xticks(ticks, [nps.periods.labels[i] for i in ticks],
                  rotation=45 if k > 8 else 0, ha="right" if k > 8 else "center")
    handles, labels = ax.get_legend_handles_labels()
    more_h, more_l = counts.get_legend_handles_labels()
    ax.legend([*handles, *more_h[::-1]], [*labels, *more_l[::-1]], frameon=False, fontsize=8,
              loc="upper left", ncols=4)
    if title is None:
        title = "Net Promoter Score per " + (nps.periods.freq or "period")
    ax.set_title(title)
    return fig



def churn_drivers(analysis: DriverAnalysis, *, top: int = 6) -> Figure:
    """Churn rate by decile of the ``top`` strongest features of a
    :class:`~custsuccess.health.DriverAnalysis` (one panel each, low values left, the
    overall churn rate as a dashed line; the panel title gives the univariate AUC).

    >>> from custsuccess.demo import generate
    >>> from custsuccess.health import driver_analysis
    >>> fig = churn_drivers(driver_analysis(generate(400, seed=1), "2026-04-01T00:00:00Z"),
    ...                     top=4)
    >>> len(fig.axes)
    4
    """
    from custsuccess.health.drivers import DriverAnalysis

    _check(analysis, DriverAnalysis, "churn_drivers", "custsuccess.health.driver_analysis")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValidationError(f"churn_drivers: top must be an int >= 1, got {top!r}")
    drivers = [d for d in analysis.drivers if d.bins][:top]
    cols = min(3, max(1, len(drivers)))
    rows = -(-len(drivers) // cols) or 1
    fig, _ = _axes(None, (4.0 * cols, 3.0 * rows))
    fig.clear()
    for i, d in enumerate(drivers):
        ax = fig.add_subplot(rows, cols, i + 1)
        rates = [b["churn_rate"] for b in d.bins]
        ax.bar(range(1, len(rates) + 1), rates, color=_LOSS)
        ax.axhline(analysis.churn_rate, color=_LEVEL, linestyle="--", linewidth=1)
        ax.set_title(f"{d.name} (AUC {d.auc:.2f})", fontsize=9)
        ax.set_xlabel("decile of the value (low to high)", fontsize=8)
        ax.set_ylabel("churn rate", fontsize=8)
    return fig


# --------------------------------------------------------------------------- CLV


def clv_tracking(
    tracking: CumulativeTransactions,
    *,
    incremental: bool = False,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.0, 4.5),
    title: str | None = None,
    xlabel: str = "time since the cohort's start",
) -> Figure:
    """Actual (``ax.lines[0]``) against expected (``ax.lines[1]``) repeat transactions of
    a cohort, cumulative or per period (``incremental``), with a dashed line at the end
    of calibration: the tracking plot of Fader, Hardie & Lee (2005), figure 2."""
    from custsuccess.clv.purchases import CumulativeTransactions

    _check(tracking, CumulativeTransactions, "clv_tracking",
           "clv.expected_cumulative_transactions")
    fig, ax = _axes(ax, figsize)
    actual, expected = tracking.actual, tracking.expected
    if incremental:
        actual = np.diff(actual, prepend=0.0)
        expected = np.diff(expected, prepend=0.0)
    ax.plot(tracking.times, actual, color="C0", linewidth=1.6, label="actual")
    ax.plot(tracking.times, expected, color="C1", linestyle="--", linewidth=1.6,
            label="model")
    ax.axvline(tracking.calibration_end, color="#999999", linestyle=":", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("repeat transactions" + (" per period" if incremental else ", cumulative"))
    ax.set_title(title or "Tracking: actual against expected repeat transactions")
    ax.legend(frameon=False, fontsize=8)
    return fig


def probability_alive_matrix(
    model: Fitter,
    *,
    max_frequency: int | None = None,
    max_recency: float | None = None,
    T: float | None = None,  # noqa: N803 (the models' name for age)
    ax: Axes | None = None,
    figsize: tuple[float, float] = (6.0, 5.0),
    title: str | None = None,
) -> Figure:
    """P(alive) by frequency (rows, top = most purchases) and recency (columns) as a
    heat map (``ax.images[0]``); see :func:`custsuccess.clv.probability_alive_matrix`."""
    from custsuccess.clv.purchases import probability_alive_matrix as matrix

    xs, rs, p = matrix(model, max_frequency, max_recency, T)
    fig, ax = _axes(ax, figsize)
    image = ax.imshow(p, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis",
                      extent=(rs[0] - 0.5, rs[-1] + 0.5, xs[0] - 0.5, xs[-1] + 0.5))
    fig.colorbar(image, ax=ax, label="P(alive)")
    ax.set_xlabel("recency (time of the last purchase)")
    ax.set_ylabel("frequency (repeat purchases)")
    ax.set_title(title or f"{type(model).__name__}: probability a customer is alive")
    return fig


def period_transactions(
    model: Fitter,
    frequency: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 (the models' name for age)
    *,
    max_frequency: int = 7,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.0, 4.0),
    title: str | None = None,
) -> Figure:
    """Customers by number of repeat purchases in calibration, actual (``ax.patches``
    first half) against the model (second half), the last bar ``max_frequency`` or
    more; see :func:`custsuccess.clv.period_transactions` (FHL 2005, figure 1)."""
    from custsuccess.clv.purchases import period_transactions as counts

    actual, expected = counts(model, frequency, T, max_frequency=max_frequency)
    fig, ax = _axes(ax, figsize)
    x = np.arange(len(actual))
    ax.bar(x - 0.2, actual, width=0.4, color="C0", label="actual")
    ax.bar(x + 0.2, expected, width=0.4, color="C1", label="model")
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    ax.set_xticks(x, labels)
    ax.set_xlabel("repeat purchases in calibration")
    ax.set_ylabel("customers")
    ax.set_title(title or f"{type(model).__name__}: customers by repeat purchases")
    ax.legend(frameon=False, fontsize=8)
    return fig
