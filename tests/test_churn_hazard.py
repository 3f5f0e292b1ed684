"""Nelson-Aalen, weighted and left-truncated Kaplan-Meier, a later origin, restricted
means and percentiles: worked by hand, against lifelines, and as properties."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import ValidationError
from custsuccess.churn import kaplan_meier
from custsuccess.churn.hazard import nelson_aalen, restricted_mean, risk_table

# Freireich et al. (1963), 6-MP arm, remission in weeks (0 = censored).
MP = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
MP_OBSERVED = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
Z95 = 1.959963984540054


def test_nelson_aalen_by_hand() -> None:
    na = nelson_aalen(MP, MP_OBSERVED)
    # (time, at risk, events): 6: 21, 3; 7: 17, 1; 10: 15, 1; 13: 12, 1; 16: 11, 1;
    # 22: 7, 1; 23: 6, 1
    steps = [(21, 3), (17, 1), (15, 1), (12, 1), (11, 1), (7, 1), (6, 1)]
    h = np.cumsum([d / n for n, d in steps])
    var = np.cumsum([d * (n - d) / n**3 for n, d in steps])
    times = [6, 7, 10, 13, 16, 22, 23]
    assert na.cumulative_hazard_at(times) == pytest.approx(h, rel=1e-14)
    late = na.cumulative_hazard_at([0, 5.9, 35, 100]).tolist()
    assert late == pytest.approx([0, 0, h[-1], h[-1]])
    assert na.cumulative_hazard_at([-1]).tolist() == [0.0]
    lower, upper = na.band_at(times)
    assert lower == pytest.approx(h * np.exp(-Z95 * np.sqrt(var) / h), rel=1e-12)
    assert upper == pytest.approx(h * np.exp(Z95 * np.sqrt(var) / h), rel=1e-12)
    # Fleming-Harrington ties: 3 tied events at 6 with 21 at risk leave one at a time
    fh = nelson_aalen(MP, MP_OBSERVED, ties="fleming-harrington")
    first = 1 / 21 + 1 / 20 + 1 / 19
    assert fh.cumulative_hazard_at([6, 7]) == pytest.approx([first, first + 1 / 17], rel=1e-13)
    assert fh.variance[fh.timeline == 6][0] == pytest.approx(1 / 21**2 + 1 / 20**2 + 1 / 19**2)


def test_weights_are_repeated_rows() -> None:
    d = np.array([3.0, 5, 5, 8, 9, 12])
    e = np.array([1, 1, 0, 1, 0, 1])
    w = np.array([2, 1, 3, 1, 2, 1])
    weighted = kaplan_meier(d, e, weights=w)
    repeated = kaplan_meier(np.repeat(d, w), np.repeat(e, w))
    assert weighted.timeline.tolist() == repeated.timeline.tolist()
    assert weighted.survival == pytest.approx(repeated.survival, rel=1e-14)
    assert weighted.greenwood == pytest.approx(repeated.greenwood, rel=1e-14)
    assert weighted.at_risk.tolist() == repeated.at_risk.tolist()
    # fractional weights keep fractional counts
    half = kaplan_meier(d, e, weights=w / 2)
    assert half.at_risk.dtype == np.float64
    assert half.survival == pytest.approx(weighted.survival, rel=1e-14)
    assert nelson_aalen(d, e, weights=w).cumulative_hazard == pytest.approx(
        nelson_aalen(np.repeat(d, w), np.repeat(e, w)).cumulative_hazard, rel=1e-14
    )


def test_late_entry_by_hand() -> None:
    # A and B from 0, C enters at 1 (leaves censored at 3), D enters at 4 (event at 5).
    table = risk_table([2, 3, 3, 5], [1, 1, 0, 1], entry=[0, 0, 1, 4])
    assert table.timeline.tolist() == [0, 1, 2, 3, 4, 5]
    # C joins after time 1; D after time 4: at risk at 2 {A, B, C}, at 3 {B, C}, at 5 {D}
    assert table.at_risk.tolist() == [2, 2, 3, 2, 0, 1]
    km = kaplan_meier([2, 3, 3, 5], [1, 1, 0, 1], entry=[0, 0, 1, 4])
    assert km.survival_at([1, 2, 3, 4, 5]) == pytest.approx([1, 2 / 3, 1 / 3, 1 / 3, 0])
    # entry at 0 everywhere is ordinary right censoring
    plain = kaplan_meier(MP, MP_OBSERVED)
    entered = kaplan_meier(MP, MP_OBSERVED, entry=np.zeros(len(MP)))
    assert entered.survival_at(plain.timeline) == pytest.approx(plain.survival, rel=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.booleans()), min_size=1, max_size=40
    ),
    st.integers(0, 25),
)
def test_start_time_is_survival_conditional_on_reaching_it(
    rows: list[tuple[int, bool]], t0: int
) -> None:
    d = np.array([r[0] for r in rows], dtype=float)
    e = np.array([r[1] for r in rows])
    if not (d >= t0).any():
        return
    full = kaplan_meier(d, e)
    later = kaplan_meier(d, e, start_time=t0)
    assert later.timeline[0] == t0
    times = np.arange(t0, 32, dtype=float)
    before = full.survival_at([t0 - 1e-9])[0]  # S just before t0: events at t0 count
    expected = full.survival_at(times) / before
    assert later.survival_at(times) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_restricted_mean_by_hand() -> None:
    # durations 2, 4+, 5, 7 (4 censored): S = 1 on [0,2), 3/4 on [2,5), 3/8 on [5,7), 0 after
    km = kaplan_meier([2, 4, 5, 7], [1, 0, 1, 1])
    rm = km.restricted_mean(6)
    area = 2 * 1 + 3 * 0.75 + 1 * 0.375
    assert rm.estimate == pytest.approx(area, rel=1e-15)
    # A_j = area from t_j to 6: at 2: 3*0.75 + 0.375 = 2.625; at 5: 0.375
    variance = 2.625**2 * 1 / (4 * 3) + 0.375**2 * 1 / (2 * 1)
    assert rm.standard_error == pytest.approx(math.sqrt(variance), rel=1e-14)
    assert rm.lower == pytest.approx(area - Z95 * math.sqrt(variance))
    # beyond the last time the curve is flat at 0: the area stops growing
    assert km.restricted_mean(100).estimate == pytest.approx(2 + 2.25 + 0.75)
    assert km.restricted_mean(0).estimate == 0.0
    with pytest.raises(ValidationError, match="t must be finite"):
        restricted_mean(km, float("nan"))
    with pytest.raises(ValidationError, match="t must be a number"):
        km.restricted_mean("6")  # type: ignore[arg-type]


def test_percentiles() -> None:
    km = kaplan_meier(MP, MP_OBSERVED)
    # S: 6 -> .857, 7 -> .807, 10 -> .753, 13 -> .690, 16 -> .627, 22 -> .538, 23 -> .448
    assert km.percentile(0.9) == 6
    assert km.percentile(0.75) == 13
    assert km.percentile(0.5) == km.median == 23
    assert km.percentile(0.3) == math.inf
    assert km.percentile(1.0) == 0
    with pytest.raises(ValidationError, match="p must be a probability"):
        km.percentile(1.5)


def test_hazard_input_errors() -> None:
    with pytest.raises(ValidationError, match=r"entry\[1\] = 9.0 is after the duration 3.0"):
        kaplan_meier([2, 3], [1, 1], entry=[0, 9])
    with pytest.raises(ValidationError, match=r"weights\[0\] = -1.0"):
        nelson_aalen([2, 3], [1, 1], weights=[-1, 1])
    with pytest.raises(ValidationError, match="weights must have shape"):
        kaplan_meier([2, 3], [1, 1], weights=[1, 1, 1])
    with pytest.raises(ValidationError, match="ties must be"):
        nelson_aalen([2, 3], ties="breslow")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="start_time must be"):
        nelson_aalen([2, 3], start_time=-1)
    with pytest.raises(ValidationError, match="times must not contain NaN"):
        nelson_aalen([2, 3]).cumulative_hazard_at([np.nan])


@pytest.mark.peer
@pytest.mark.parametrize("case", ["plain", "weights", "entry", "both"])
def test_against_lifelines(case: str) -> None:
    lifelines = pytest.importorskip("lifelines")
    from lifelines.utils import restricted_mean_survival_time

    rng = np.random.default_rng(7)
    n = 400
    d = rng.exponential(10, n).round(1)
    e = rng.random(n) < 0.7
    w = rng.integers(1, 4, n).astype(float) if case in ("weights", "both") else None
    entry = np.minimum(rng.exponential(3, n).round(1), d) if case in ("entry", "both") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf = lifelines.KaplanMeierFitter().fit(d, e, weights=w, entry=entry)
        na_fits = {
            ties: lifelines.NelsonAalenFitter(nelson_aalen_smoothing=smooth).fit(
                d, e, weights=w, entry=entry
            )
            for ties, smooth in [("nelson-aalen", False), ("fleming-harrington", True)]
        }
    km = kaplan_meier(d, e, weights=w, entry=entry)
    grid = kmf.survival_function_.index.to_numpy()
    assert km.survival_at(grid) == pytest.approx(kmf.survival_function_.to_numpy()[:, 0], abs=1e-12)
    lower, upper = km.band_at(grid)
    band = kmf.confidence_interval_.to_numpy()
    assert lower == pytest.approx(np.nan_to_num(band[:, 0], nan=1.0), abs=1e-12)
    assert upper == pytest.approx(np.nan_to_num(band[:, 1], nan=1.0), abs=1e-12)
    for ties, fitted in na_fits.items():
        na = nelson_aalen(d, e, weights=w, entry=entry, ties=ties)  # type: ignore[arg-type]
        grid = fitted.cumulative_hazard_.index.to_numpy()
        expected = fitted.cumulative_hazard_.to_numpy()[:, 0]
        assert na.cumulative_hazard_at(grid) == pytest.approx(expected, rel=1e-11, abs=1e-13)
        na_band = fitted.confidence_interval_.to_numpy()
        assert na.band_at(grid)[1] == pytest.approx(na_band[:, 1], rel=1e-10, abs=1e-13)
    if case == "plain":
        assert km.restricted_mean(15).estimate == pytest.approx(
            restricted_mean_survival_time(kmf, t=15), rel=1e-12
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected_percentiles = [kmf.percentile(p) for p in (0.9, 0.5, 0.3)]
        assert [km.percentile(p) for p in (0.9, 0.5, 0.3)] == expected_percentiles


def test_plots_have_censor_marks_and_at_risk_counts() -> None:
    pytest.importorskip("matplotlib")
    km = kaplan_meier(MP, MP_OBSERVED)
    fig = km.plot()
    ax = fig.axes[0]
    assert np.asarray(ax.lines[0].get_ydata()).tolist() == km.survival.tolist()
    marks = np.asarray(ax.collections[1].get_offsets())
    censored_times = sorted({t for t, o in zip(MP, MP_OBSERVED, strict=True) if not o})
    assert marks[:, 0].tolist() == censored_times
    texts = [t.get_text() for t in ax.texts]
    assert "at risk" in texts
    assert "21" in texts  # everyone is at risk at time 0
    na_fig = nelson_aalen(MP, MP_OBSERVED).plot()
    na_line = na_fig.axes[0].lines[0]
    assert np.asarray(na_line.get_ydata())[-1] == pytest.approx(0.7521, abs=1e-4)
