"""custsuccess.distributed on the synchronous scheduler: every distributed call against
the single-machine call on the whole dataset (the reference), on demo data.

The real multi-process cluster is exercised in tests/test_distributed_cluster.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

dask = pytest.importorskip("dask")
pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

from custsuccess import churn as single_churn  # noqa: E402
from custsuccess import metrics as single_metrics  # noqa: E402
from custsuccess.churn.analysis import reason_distribution as single_reasons  # noqa: E402
from custsuccess.churn.survival import lifetimes_from  # noqa: E402
from custsuccess.churn.survival import logrank_test as single_logrank  # noqa: E402
from custsuccess.clv import (  # noqa: E402
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    rfm_from_dataset,
)
from custsuccess.dataset import Dataset  # noqa: E402
from custsuccess.demo import generate  # noqa: E402
from custsuccess.distributed import (  # noqa: E402
    DistributedHealthReport,
    PartitionedDataset,
    partition,
)
from custsuccess.distributed import churn as dchurn  # noqa: E402
from custsuccess.distributed import metrics as dmetrics  # noqa: E402
from custsuccess.distributed._dask import compute  # noqa: E402
from custsuccess.distributed._specs import model_spec  # noqa: E402
from custsuccess.distributed.dataset import (  # noqa: E402
    from_parquet,
    write_parquet,
)
from custsuccess.errors import ValidationError  # noqa: E402
from custsuccess.health import HealthModel, HealthReport  # noqa: E402
from custsuccess.health.backtest import backtest  # noqa: E402
from custsuccess.plugins import Registry  # noqa: E402

AS_OF = "2024-09-30T00:00:00Z"


def _flat(ds: Dataset) -> Dataset:
    """``ds`` without its account hierarchy: partitions keep a parent account only when
    it is in the same partition, so the comparisons use data without parents."""
    cols = ds.to_columns()
    cols["customers"] = {k: v for k, v in cols["customers"].items() if k != "parent_id"}
    return Dataset.from_columns(**cols)


@pytest.fixture(autouse=True)
def _synchronous() -> Iterator[None]:
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return _flat(generate(700, seed=11))


@pytest.fixture(scope="module")
def pds(ds: Dataset) -> PartitionedDataset:
    return partition(ds, 3)


# --------------------------------------------------------------------------- health


def _same_report(got: HealthReport, want: HealthReport) -> None:
    assert got.customer_ids.tolist() == want.customer_ids.tolist()
    assert got.index.tolist() == want.index.tolist()
    np.testing.assert_array_equal(got.score, want.score)
    np.testing.assert_array_equal(got.tier_code, want.tier_code)
    np.testing.assert_array_equal(got.rule_scores, want.rule_scores)
    np.testing.assert_array_equal(got.contributions, want.contributions)
    np.testing.assert_array_equal(got.recommended, want.recommended)
    assert got.playbooks == want.playbooks
    for i in range(0, len(want), max(1, len(want) // 25)):
        for j in range(len(want.rule_names)):
            assert got.reason(i, j) == want.reason(i, j)


def test_default_model_scores_equal_single_machine(ds: Dataset, pds: PartitionedDataset) -> None:
    model = HealthModel.default()
    want = model.score(ds, AS_OF)
    got = model.score(pds, AS_OF)
    assert isinstance(got, DistributedHealthReport)
    assert got.tier_counts() == want.tier_counts()
    assert len(got) == len(want)
    _same_report(got.compute(), want)
    top = got.at_risk(17)
    _same_report(top, want.at_risk(17))
    for cid in (want.customer_ids[0], want.customer_ids[-1], top.customer_ids[3]):
        assert got.explain(str(cid)).to_dict() == want.explain(str(cid)).to_dict()


def test_to_dask_has_the_report_columns(ds: Dataset, pds: PartitionedDataset) -> None:
    model = HealthModel.default()
    want = model.score(ds, AS_OF)
    (frame,) = compute(model.score(pds, AS_OF).to_dask())
    frame = frame.sort_index()
    np.testing.assert_array_equal(frame.index.to_numpy(dtype=str), want.customer_ids)
    np.testing.assert_array_equal(frame["score"].to_numpy(), want.score)
    assert frame["tier"].tolist() == want.tier.tolist()
    for j, name in enumerate(want.rule_names):
        np.testing.assert_array_equal(frame[name].to_numpy(), want.rule_scores[:, j])
        np.testing.assert_array_equal(
            frame[f"{name}:contribution"].to_numpy(), want.contributions[:, j]
        )


def test_configured_model_and_include_churned(ds: Dataset, pds: PartitionedDataset) -> None:
    model = HealthModel.from_config(
        {
            "tiers": {"good": 65, "poor": 45},
            "rules": {"usage.recency": {"weight": 4, "params": {"zero_score_days": 45}}},
        },
        registry=Registry(entry_points=False),
    )
    want = model.score(ds, AS_OF, include_churned=True)
    got = model.score(pds, AS_OF, include_churned=True)
    _same_report(got.compute(), want)
    # the configured rule differs from the registry's: it travels as an object
    spec = model_spec(model)
    shipped = {r.name for r in spec.rules if r.value is not None}
    assert shipped == {"usage.recency"}


def test_explicit_third_party_rule(ds: Dataset, pds: PartitionedDataset) -> None:
    from custsuccess_plugin_example import EmailEngagement

    from custsuccess.health.rules import RecencyRule

    model = HealthModel([RecencyRule(), EmailEngagement(days=30)])
    _same_report(model.score(pds, AS_OF).compute(), model.score(ds, AS_OF))


@pytest.mark.usefixtures("plugin_autoload")
def test_entry_point_rules_are_rebuilt_by_name(ds: Dataset, pds: PartitionedDataset) -> None:
    model = HealthModel.default()
    assert "example.email_engagement" in model.rule_names
    spec = model_spec(model)
    assert all(r.value is None for r in spec.rules)  # nothing but names on the wire
    _same_report(model.score(pds, AS_OF).compute(), model.score(ds, AS_OF))


class _Local:
    name = "test.local"
    description = "A rule class the workers could not import."

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> Any:
        raise AssertionError("never evaluated")


def test_a_rule_workers_cannot_import_is_refused(pds: PartitionedDataset) -> None:
    _Local.__module__ = "__main__"
    model = HealthModel([_Local()])
    with pytest.raises(ValidationError, match="cannot run on the workers: its class is defined"):
        model.score(pds, AS_OF)


def test_backtest_equals_single_machine(ds: Dataset, pds: PartitionedDataset) -> None:
    model = HealthModel.default()
    want = backtest(model, ds, "2024-06-30T00:00:00Z", 90)
    got = backtest(model, pds, "2024-06-30T00:00:00Z", 90)
    assert got.to_dict() == want.to_dict()
    np.testing.assert_array_equal(got.churned, want.churned)
    _same_report(got.report, want.report)


def test_at_risk_validates_n(pds: PartitionedDataset) -> None:
    report = HealthModel.default().score(pds, AS_OF)
    with pytest.raises(ValidationError, match="n must be an int >= 0"):
        report.at_risk(-1)
    assert len(report.at_risk(0)) == 0
    with pytest.raises(ValidationError, match="not in this health report"):
        report.explain("cus_nobody")


# --------------------------------------------------------------------------- metrics


def _equal_fields(got: Any, want: Any, names: list[str], *, rtol: float = 0.0) -> None:
    for name in names:
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(want, name))
        assert a.shape == b.shape, name
        if rtol and a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=rtol, equal_nan=True, err_msg=name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("window", [None, AS_OF])
def test_mrr_movements_and_flow(ds: Dataset, window: str | None) -> None:
    data = ds if window is None else ds.until(window)
    pdata = partition(data, 3)
    want = single_metrics.mrr_movements(data)
    got = dmetrics.mrr_movements(pdata)
    assert got.periods.labels == want.periods.labels
    _equal_fields(
        got, want,
        ["opening", "new", "expansion", "contraction", "churn", "reactivation", "closing",
         "counts", "customer", "period", "kind", "amount", "before", "after",
         "customer_opening", "customer_closing"],
    )
    # totals only: the same totals without the per-customer gather
    light = dmetrics.mrr_movements(pdata, per_customer=False)
    _equal_fields(light, want, ["opening", "closing", "churn", "counts"])
    _equal_fields(
        dmetrics.mrr_series(pdata, freq="quarter"),
        single_metrics.mrr_series(data, freq="quarter"),
        ["opening", "closing", "customers", "arpa"],
    )
    for method in ("start", "founding"):
        _equal_fields(
            dmetrics.customer_flow(pdata, method=method),
            single_metrics.customer_flow(data, method=method),
            ["customers_start", "new", "lost", "customers_end", "churn_rate", "retention_rate"],
        )


def test_cohorts_nps_and_support(ds: Dataset, pds: PartitionedDataset) -> None:
    for by in ("signup", "first_payment"):
        want_c = single_metrics.cohort_retention(ds, freq="quarter", cohort_by=by)
        got_c = dmetrics.cohort_retention(pds, freq="quarter", cohort_by=by)
        assert got_c.periods.labels == want_c.periods.labels
        _equal_fields(
            got_c, want_c,
            ["size", "customers", "customer_rate", "mrr", "mrr_rate", "observed"],
        )
    for per_customer in ("all", "last"):
        _equal_fields(
            dmetrics.nps_by_period(pds, per_customer=per_customer),
            single_metrics.nps_by_period(ds, per_customer=per_customer),
            ["score", "promoters", "passives", "detractors", "n"],
        )
    want_s = single_metrics.support_response_times(ds)
    got_s = dmetrics.support_response_times(pds)
    assert got_s.targets == want_s.targets
    _equal_fields(
        got_s, want_s,
        ["n_requests", "n_answered", "n_unanswered", "n_pending", "median", "p90",
         "within_target", "customer", "requested_at", "channel", "seconds", "met"],
    )
    _equal_fields(got_s, want_s, ["mean"], rtol=1e-12)


# --------------------------------------------------------------------------- churn


def test_churn_records_and_reasons(ds: Dataset, pds: PartitionedDataset) -> None:
    want = single_churn.records(ds, AS_OF, registry=Registry(entry_points=False))
    got = dchurn.records(pds, AS_OF)
    assert len(got) == len(want) > 20
    for name, column in want.columns().items():
        other = got.columns()[name]
        if column.dtype.kind == "f":
            np.testing.assert_array_equal(other, column, err_msg=name)
        else:
            assert other.tolist() == column.tolist(), name
    dist_want = single_reasons(want)
    dist_got = dchurn.reason_distribution(pds, AS_OF)
    assert dist_got.reason.tolist() == dist_want.reason.tolist()
    _equal_fields(dist_got, dist_want, ["count", "share"])
    _equal_fields(dist_got, dist_want, ["mrr_lost", "mrr_share"], rtol=1e-12)


def test_kaplan_meier_and_logrank(ds: Dataset, pds: PartitionedDataset) -> None:
    life = lifetimes_from(ds, AS_OF)
    want = life.kaplan_meier()
    got = dchurn.kaplan_meier(pds, AS_OF)
    assert not isinstance(got, dict)
    _equal_fields(
        got, want,
        ["timeline", "at_risk", "events", "censored", "survival", "greenwood", "lower", "upper"],
    )
    assert got.median == want.median
    by_segment = dchurn.kaplan_meier(pds, AS_OF, by="segment")
    assert isinstance(by_segment, dict)
    want_by = life.kaplan_meier_by("segment")
    assert sorted(by_segment) == sorted(want_by)
    for label, curve in want_by.items():
        _equal_fields(by_segment[label], curve, ["timeline", "at_risk", "survival", "upper"])
    labels = sorted(want_by)
    seg = np.array([*life.segment.categories, "(none)"], dtype=object)[life.segment.codes]
    a, b = seg == labels[0], seg == labels[1]
    want_lr = single_logrank(
        life.durations[a], life.observed[a], life.durations[b], life.observed[b]
    )
    got_lr = dchurn.logrank_test(pds, AS_OF, by="segment", a=labels[0], b=labels[1])
    assert got_lr.observed == want_lr.observed
    assert got_lr.statistic == pytest.approx(want_lr.statistic, rel=1e-12)
    assert got_lr.p_value == pytest.approx(want_lr.p_value, rel=1e-9)
    assert got_lr.expected == pytest.approx(want_lr.expected, rel=1e-12)


def _purchases(n: int, seed: int) -> Dataset:
    """Customers buying as the BG/NBD model says (the demo data has almost no
    purchases): Poisson purchases at a Gamma(0.8, 20 days) rate, dropping out after each
    purchase with a Beta(0.8, 2.5) probability; the first purchase at joining."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-01T00:00:00", "us")
    horizon = 365.0
    joined = rng.uniform(0, 200, n)
    owners: list[int] = []
    days: list[float] = []
    for i in range(n):  # a test-data generator: 400 customers
        rate = rng.gamma(0.8, 1 / 20.0)
        drop = rng.beta(0.8, 2.5)
        t = joined[i]
        owners.append(i)
        days.append(t)
        while True:
            if rng.random() < drop:
                break
            t += rng.exponential(1 / rate)
            if t >= horizon:
                break
            owners.append(i)
            days.append(t)
    owner = np.array(owners)
    ids = np.array([f"c{i:04d}" for i in range(n)])
    us = np.timedelta64(1, "us")
    return Dataset.from_columns(
        customers={"id": ids, "created_at": start + (joined * 86_400e6).astype(np.int64) * us},
        events={
            "customer_id": ids[owner],
            "kind": np.full(owner.size, "purchase"),
            "occurred_at": start + (np.array(days) * 86_400e6).astype(np.int64) * us,
            "value": np.round(rng.gamma(3.0, 20.0, owner.size), 2) + 1.0,
        },
    )


def test_rfm_and_clv_fits() -> None:
    ds = _purchases(400, seed=5)
    pds = partition(ds, 3)
    end = "2024-01-01T00:00:00Z"
    want = rfm_from_dataset(ds, end)
    got = dchurn.rfm_from_dataset(pds, end)
    assert got.customer_id.tolist() == want.customer_id.tolist()
    _equal_fields(got, want, ["frequency", "recency", "T", "monetary_value"])
    bg = BetaGeoModel().fit(want.frequency, want.recency, want.T)
    dbg = dchurn.fit_beta_geo(pds, end)
    pn = ParetoNBDModel().fit(want.frequency, want.recency, want.T)
    dpn = dchurn.fit_pareto_nbd(pds, end)
    rep = want.repeat_buyers()
    assert rep.monetary_value is not None
    gg = GammaGammaModel().fit(rep.frequency, rep.monetary_value)
    dgg = dchurn.fit_gamma_gamma(pds, end)
    for single_fit, dist_fit in ((bg, dbg), (pn, dpn), (gg, dgg)):
        for name, value in single_fit.params_.items():
            assert dist_fit.params_[name] == pytest.approx(value, rel=1e-9), name
        assert dist_fit.log_likelihood_ == pytest.approx(single_fit.log_likelihood_, rel=1e-9)
        assert dist_fit.n_observations_ == single_fit.n_observations_


def test_scores_from_partitioned_parquet(ds: Dataset, tmp_path: Path) -> None:
    url = str(tmp_path / "lake")
    write_parquet((ds.slice(0, 350), ds.slice(350, ds.n_customers)), url, 3)
    pdata = from_parquet(url)
    model = HealthModel.default()
    _same_report(model.score(pdata, AS_OF).compute(), model.score(ds, AS_OF))
    got = dmetrics.mrr_movements(pdata, per_customer=False)
    want = single_metrics.mrr_movements(ds)
    _equal_fields(got, want, ["opening", "new", "churn", "closing", "counts"])


def test_learned_model_on_partitions(ds: Dataset, pds: PartitionedDataset) -> None:
    from custsuccess.health import learn

    dates = ["2025-10-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z"]
    registry = Registry(entry_points=False)
    one = learn(ds, dates, 90, registry=registry, penalty=1e-3)
    many = learn(pds, dates, 90, registry=registry, penalty=1e-3)  # frames stay on workers
    a, b = one.learned, many.learned
    assert a is not None
    assert b is not None
    # the same rows, features, standardisation and quantiles
    assert (b.names, b.missing, b.n_rows, b.base_rate) == (a.names, a.missing, a.n_rows,
                                                           a.base_rate)
    np.testing.assert_allclose(b.center, a.center, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.scale, a.scale, rtol=1e-12)
    np.testing.assert_array_equal(b.quantiles, a.quantiles)
    # the same optimum: the single-machine objective, on the single-machine training
    # frame, is as low at the cluster's coefficients and its gradient as flat there
    import attrs

    from custsuccess.health import training_frame
    from custsuccess.health.learn import _loss_and_grad, _penalty

    frame = training_frame(ds, dates, 90, model=HealthModel.default(registry))
    design = a.design([frame.features[spec.name] for spec in a.specs])
    design = attrs.evolve(design, y=frame.churned.astype(np.float64))
    n, k = len(frame), design.x.shape[1]

    def objective(params: Any) -> tuple[float, Any]:
        loss, grad = _loss_and_grad(params, design)
        pen, pgrad = _penalty(params, k, a.penalty, a.segment_penalty)
        return loss / n + pen, grad / n + pgrad

    (j_one, g_one), (j_many, g_many) = objective(a.coef), objective(b.coef)
    # both stop within L-BFGS's tolerance (ftol 1e-9, gtol 1e-5) of the optimum
    assert j_many == pytest.approx(j_one, rel=1e-7)
    assert np.abs(g_many).max() < 1e-4
    assert np.abs(g_one).max() < 1e-4
    np.testing.assert_allclose(b.coef, a.coef, atol=1e-2)  # a flat optimum: close, not equal
    with pytest.raises(ValidationError, match="penalty='auto'"):
        learn(pds, dates, 90, registry=registry)
    # scoring with a learned model on the partitions equals scoring it on one machine
    want = many.score(ds, AS_OF)
    got = many.score(pds, AS_OF)
    whole = got.compute()
    _same_report(whole, want)
    probability = whole.churn_probability
    assert probability is not None
    np.testing.assert_array_equal(probability, want.churn_probability)
    first = one.score(ds, AS_OF).churn_probability
    assert first is not None
    np.testing.assert_allclose(probability, first, rtol=1e-3)
    cid = str(want.at_risk(1).customer_ids[0])
    assert got.explain(cid).to_dict() == want.explain(cid).to_dict()
    frame = compute(got.to_dask())[0]
    np.testing.assert_array_equal(
        frame.sort_index()["churn_probability"].to_numpy(), want.churn_probability
    )
