"""Churn reasons as competing risks: the bone-marrow transplant data against the
published cmprsk results, lifelines' Aalen-Johansen, and the identity sum_k F_k = 1 - S."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import ValidationError
from custsuccess.churn import kaplan_meier, lifetimes_from, records
from custsuccess.churn._examples import small_dataset
from custsuccess.churn.competing import competing_risks_from, cumulative_incidence, gray_test
from custsuccess.churn.hazard import nelson_aalen

FIXTURES = Path(__file__).parent / "fixtures"


def bmt() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with (FIXTURES / "bmtcrr.csv").open() as f:
        rows = list(csv.DictReader(f))
    time = np.array([float(r["ftime"]) for r in rows])
    status = np.array([int(r["Status"]) for r in rows])
    cause = np.array(
        [{1: "relapse", 2: "trm"}.get(int(r["Status"])) for r in rows], dtype=object
    )
    return time, status, cause, np.array([r["D"] for r in rows])


def test_bone_marrow_transplant_matches_published_cuminc() -> None:
    # Scrucca, Santucci & Aversa (2007), Bone Marrow Transplant 40:381-387, R cmprsk:
    #   cuminc(ftime, Status, D): Tests: 1 2.8623325 0.09067592 1; 2 0.4481279 0.50322531 1
    #   ALL 1 (relapse) at 20, 40 months: 0.3713851 0.3875571
    time, status, cause, disease = bmt()
    relapse = gray_test(time, status > 0, cause, disease, cause_of_interest="relapse")
    assert relapse.statistic == pytest.approx(2.8623325, abs=5e-8)
    assert relapse.p_value == pytest.approx(0.09067592, abs=5e-9)
    assert relapse.degrees_of_freedom == 1
    trm = gray_test(time, status > 0, cause, disease, cause_of_interest="trm")
    assert trm.statistic == pytest.approx(0.4481279, abs=5e-8)
    assert trm.p_value == pytest.approx(0.50322531, abs=5e-9)
    all_ = disease == "ALL"
    ci = cumulative_incidence(time[all_], status[all_] > 0, cause[all_])
    assert ci.incidence_at([20, 40], "relapse") == pytest.approx([0.3713851, 0.3875571], abs=5e-8)


def test_incidence_by_hand() -> None:
    # 1 price, 2 support, 3 censored, 4 price, 5 support: S = 4/5, 3/5, 3/5, 3/10, 0
    ci = cumulative_incidence([1, 2, 3, 4, 5], [1, 1, 0, 1, 1],
                              ["price", "support", None, "price", "support"])
    assert ci.causes == ("price", "support")
    # price: 1 * 1/5 at 1, then S(3) = 3/5 times 1/2 at 4
    assert ci.incidence_at([1, 3, 4, 5], "price") == pytest.approx([0.2, 0.2, 0.5, 0.5])
    # support: S(1) = 4/5 times 1/4 at 2, then S(4) = 3/10 times 1/1 at 5
    assert ci.incidence_at([2, 5], "support") == pytest.approx([0.2, 0.5])
    assert ci.cause_specific_hazard_at([5], "price") == pytest.approx([1 / 5 + 1 / 2])
    with pytest.raises(ValidationError, match="cause must be one of"):
        ci.incidence_at([1], "bugs")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.sampled_from([None, "a", "b", "c"])),
                min_size=1, max_size=50))
def test_incidences_sum_to_one_minus_kaplan_meier(rows: list[tuple[int, str | None]]) -> None:
    d = np.array([r[0] for r in rows], dtype=float)
    cause = np.array([r[1] for r in rows], dtype=object)
    observed = np.array([c is not None for c in cause])
    ci = cumulative_incidence(d, observed, cause)
    grid = np.arange(-1, 22, 0.5)
    total = sum((ci.incidence_at(grid, c) for c in ci.causes), np.zeros(len(grid)))
    km = kaplan_meier(d, observed)
    assert total == pytest.approx(1 - km.survival_at(grid), abs=1e-12)
    # the cause-specific hazards add up to the all-cause Nelson-Aalen hazard
    hazards = sum((ci.cause_specific_hazard_at(grid, c) for c in ci.causes), np.zeros(len(grid)))
    assert hazards == pytest.approx(nelson_aalen(d, observed).cumulative_hazard_at(grid))
    assert np.all((ci.lower <= ci.incidence + 1e-12) & (ci.incidence <= ci.upper + 1e-12))


def test_gray_test_is_invariant_to_order_and_strata_add_up() -> None:
    time, status, cause, disease = bmt()
    perm = np.random.default_rng(1).permutation(len(time))
    a = gray_test(time, status > 0, cause, disease, cause_of_interest="relapse")
    b = gray_test(time[perm], status[perm] > 0, cause[perm], disease[perm],
                  cause_of_interest="relapse")
    assert b.statistic == pytest.approx(a.statistic, rel=1e-12)
    strata = np.arange(len(time)) % 2
    both = gray_test(time, status > 0, cause, disease, cause_of_interest="relapse",
                     strata=strata)
    parts = [gray_test(time[strata == s], status[strata == s] > 0, cause[strata == s],
                       disease[strata == s], cause_of_interest="relapse") for s in (0, 1)]
    assert both.scores == pytest.approx(parts[0].scores + parts[1].scores)
    assert both.covariance == pytest.approx(parts[0].covariance + parts[1].covariance)
    with pytest.raises(ValidationError, match="cause_of_interest must be one of"):
        gray_test(time, status > 0, cause, disease, cause_of_interest="bugs")


def test_reasons_from_churn_records() -> None:
    ds, at = small_dataset(), "2024-12-31T00:00:00+00:00"
    life = lifetimes_from(ds, at)
    churn = records(ds, at)
    risks = competing_risks_from(life, churn)
    reasons = [churn.reason.categories[c] for c in churn.reason.codes]
    by_id = dict(zip(churn.customer_id.tolist(), reasons, strict=True))
    for cid, churned, cause in zip(risks.customer_id.tolist(), risks.observed.tolist(),
                                   risks.cause.tolist(), strict=True):
        assert cause == (by_id[cid] if churned else None)
    ci = risks.cumulative_incidence()
    assert set(ci.causes) == {c for c in risks.cause.tolist() if c is not None}


def test_incidence_plot() -> None:
    pytest.importorskip("matplotlib")
    time, status, cause, _ = bmt()
    ci = cumulative_incidence(time, status > 0, cause)
    ax = ci.plot().axes[0]
    top = np.asarray(ax.collections[1].get_paths()[0].vertices)[:, 1].max()
    assert top == pytest.approx(1 - kaplan_meier(time, status > 0).survival[-1])
    lines = ci.plot(stacked=False, band=True).axes[0].lines
    assert np.asarray(lines[0].get_ydata()).tolist() == ci.incidence[:, 0].tolist()


@pytest.mark.peer
def test_against_lifelines_aalen_johansen() -> None:
    lifelines = pytest.importorskip("lifelines")
    rng = np.random.default_rng(2)
    n = 400
    d = rng.exponential(5, n)  # continuous: lifelines jitters tied times
    e = rng.random(n) < 0.8
    cause = np.where(rng.random(n) < 0.5, "a", "b")
    codes = np.where(e, np.where(cause == "a", 1, 2), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = lifelines.AalenJohansenFitter(calculate_variance=True).fit(
            d, codes, event_of_interest=1
        )
    ci = cumulative_incidence(d, e, cause)
    grid = peer.cumulative_density_.index.to_numpy()
    assert ci.incidence_at(grid, "a") == pytest.approx(
        peer.cumulative_density_.to_numpy()[:, 0], abs=1e-12
    )
    variance = ci._step(ci.variance[:, 0], grid)
    peer_variance = peer.variance_.to_numpy()
    finite = np.isfinite(peer_variance)
    assert variance[finite] == pytest.approx(peer_variance[finite], rel=1e-8, abs=1e-15)
