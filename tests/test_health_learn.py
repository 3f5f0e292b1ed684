"""Training frames, the learned health model and its backtest."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import optimize

from custsuccess import Customer, Dataset, Event, Subscription
from custsuccess.demo import generate
from custsuccess.errors import ValidationError
from custsuccess.health import HealthModel, backtest, learn, training_frame
from custsuccess.health.features import churned_within
from custsuccess.health.learn import Design, _loss_and_grad, fit
from custsuccess.health.rules import RecencyRule
from custsuccess.plugins import Registry

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
REG = Registry(entry_points=False)


def day(d: float) -> datetime:
    return T0 + timedelta(days=d)


def small() -> Dataset:
    customers = [Customer(c, day(0)) for c in ("a", "b", "c")]
    subs = [
        Subscription("s1", "a", "pro", 100.0, "USD", day(0)),
        Subscription("s2", "b", "pro", 50.0, "USD", day(0), day(130)),
        Subscription("s3", "c", "pro", 10.0, "USD", day(0), day(90)),
    ]
    events = [Event("a", "message", day(d)) for d in (80, 95, 99, 99.5)]
    events += [Event("b", "message", day(10)), Event("b", "like", day(99))]
    events += [Event("a", "login", day(250))]
    return Dataset.from_records(customers, subs, events)


def test_observation_end_default_settable_and_kept_by_views() -> None:
    ds = small()
    assert ds.observation_end == np.datetime64("2024-09-07T00:00:00")  # day 250
    later = ds.with_observation_end("2025-01-01T00:00:00Z")
    assert later.observation_end == np.datetime64("2025-01-01T00:00:00")
    assert later.until("2024-02-01T00:00:00Z").observation_end == later.observation_end
    assert later.slice(0, 1).observation_end == later.observation_end
    assert ds.slice(1, 2).observation_end == ds.observation_end  # the parent's, not b's
    with pytest.raises(ValidationError, match="before the last moment"):
        ds.with_observation_end("2024-02-01T00:00:00Z")


def test_training_frame_hand_worked() -> None:
    ds = small()
    model = HealthModel([RecencyRule()])
    frame = training_frame(ds, [day(100)], 60, model=model)
    # paying at day 100: a (running) and b (ends day 130); c ended at day 90
    assert frame.customer_ids.tolist() == ["a", "b"]
    assert frame.churned.tolist() == [False, True]  # b has nothing running at day 160
    f = frame.features
    # a: 4 messages in (72, 100] (days 80, 95, 99, 99.5), scaled by 30.44 / 28
    assert f["message.per_month"].tolist() == pytest.approx([4 * 365.25 / 12 / 28, 0.0])
    # distinct day slots of a's messages, (100 - t) // 1: 20, 5, 1, 0 -> 4
    assert f["message.active_days"].tolist() == [4.0, 0.0]
    assert f["message.days_since"].tolist() == pytest.approx([0.5, 90.0])
    assert f["like.days_since"].tolist() == pytest.approx([100.0, 1.0])  # a: since signup
    # change: log1p(4) - log1p(0) for a; b: 0 recent, 0 previous (day 10 is older)
    assert f["message.change"].tolist() == pytest.approx([math.log(5.0), 0.0])
    assert f["mrr"].tolist() == [100.0, 50.0]
    assert f["tenure_days"].tolist() == [100.0, 100.0]
    assert "rule:usage.recency" in f
    # a date whose horizon runs past the observation end is censored
    with pytest.raises(ValidationError, match="observation end"):
        training_frame(ds, [day(240)], 60, model=model)
    assert len(training_frame(ds.with_observation_end(day(400)), [day(240)], 60, model=model))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from(["message", "like", "login"]),
                       st.floats(101, 300)), max_size=20),
    st.floats(101, 300),
)
def test_training_frame_reads_nothing_after_the_date(
    later: list[tuple[str, str, float]], cancel: float
) -> None:
    """Adding events and cancellations after the date changes no feature."""
    base = small().with_observation_end(day(400))
    customers, subs, events = base.to_records()
    events += [Event(c, k, day(d)) for c, k, d in later]
    subs = [s if s.id != "s1" else Subscription("s1", "a", "pro", 100.0, "USD", day(0),
                                                day(cancel)) for s in subs]
    grown = Dataset.from_records(customers, subs, events).with_observation_end(day(400))
    model = HealthModel([RecencyRule()])
    kinds = ("message", "like", "login")
    a = training_frame(base, [day(100)], 60, model=model, kinds=kinds)
    b = training_frame(grown, [day(100)], 60, model=model, kinds=kinds)
    assert a.customer_ids.tolist() == b.customer_ids.tolist()
    for name in a.features:
        np.testing.assert_array_equal(a.features[name], b.features[name], err_msg=name)


def test_loss_and_grad_matches_finite_differences_and_sums_over_chunks() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(200), rng.standard_normal((200, 3))])
    y = (rng.random(200) < 0.3).astype(float)
    seg = rng.integers(-1, 2, 200).astype(np.intp)
    params = rng.standard_normal(4 * 3) * 0.3
    chunk = Design(x, y, seg)

    def f(p: np.ndarray) -> float:
        return _loss_and_grad(p, chunk, 2)[0]

    def g(p: np.ndarray) -> np.ndarray:
        return _loss_and_grad(p, chunk, 2)[1]

    assert optimize.check_grad(f, g, params) < 1e-4 * np.linalg.norm(g(params))
    # the loss by its textbook formula
    coef = np.tile(params[:4], (200, 1))
    coef[seg >= 0] += params[4:].reshape(2, 4)[seg[seg >= 0]]
    eta = (x * coef).sum(axis=1)
    p = 1 / (1 + np.exp(-eta))
    assert f(params) == pytest.approx(-np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    # additive over row chunks: what a distributed fit sums
    halves = [Design(x[s], y[s], seg[s]) for s in (slice(0, 77), slice(77, 200))]
    parts = [_loss_and_grad(params, h, 2) for h in halves]
    assert sum(q[0] for q in parts) == pytest.approx(f(params))
    np.testing.assert_allclose(sum(q[1] for q in parts), g(params))


def test_unpenalised_fit_on_one_binary_feature_reproduces_group_rates() -> None:
    """With one 0/1 feature and no penalty the maximum-likelihood probabilities are the
    two groups' churn rates (a closed form), whatever the standardisation."""
    frame = training_frame(generate(600, seed=2), ["2026-04-01T00:00:00Z"], 90,
                           model=HealthModel([RecencyRule()]))
    flag = (frame.features["login.days_since"] > 30).astype(float)
    only = {"flag": flag}
    from custsuccess.health.features import FeatureSpec

    frame1 = type(frame)(
        customer=frame.customer, customer_ids=frame.customer_ids, as_of=frame.as_of,
        features=only, specs={"flag": FeatureSpec("flag", "flag", "{:.0f}")},
        churned=frame.churned, horizon_days=90.0, kinds=(), rule_names=(),
    )
    scorer = fit(frame1, penalty=0.0)
    p = scorer.predict([flag])
    for v in (0.0, 1.0):
        group = flag == v
        assert p[group][0] == pytest.approx(frame.churned[group].mean(), abs=1e-5)
    assert p.mean() == pytest.approx(frame.churned.mean(), abs=1e-6)


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return generate(6000, seed=11)


@pytest.fixture(scope="module")
def learned(demo: Dataset) -> HealthModel:
    dates = [f"2025-{m:02d}-01T00:00:00Z" for m in (6, 7, 8, 9, 10, 11, 12)]
    return learn(demo, dates, 90, registry=REG)


def test_learned_model_predicts_out_of_time(demo: Dataset, learned: HealthModel) -> None:
    assert learned.learned is not None
    result = backtest(learned, demo, ["2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z"], 90)
    assert len(result.per_date) == 2
    assert result.auc > 0.68
    for r in result.per_date:
        assert r.auc > 0.65
    assert result.calibration_error < 0.03
    assert result.lift > 3
    assert result.top_decile_lift > 2
    assert 0 < result.brier < result.churn_rate  # better than predicting 0 for everyone
    rep = result.report
    assert rep.churn_probability is not None
    # score decreases in the probability
    order = np.argsort(rep.churn_probability)
    assert np.all(np.diff(rep.score[order]) <= 1e-12)
    default = backtest(HealthModel.default(REG), demo, "2026-07-01T00:00:00Z", 90)
    assert result.per_date[-1].auc > default.auc


def test_learned_explanation_adds_up_and_reads(demo: Dataset, learned: HealthModel) -> None:
    rep = learned.score(demo, "2026-07-01T00:00:00Z")
    scorer = learned.learned
    assert scorer is not None
    assert rep.churn_probability is not None
    cid = str(rep.customer_ids[rep.churn_probability.argmax()])
    ex = rep.explain(cid)
    assert ex.churn_probability == pytest.approx(float(rep.churn_probability.max()))
    # contributions add up to the log-odds minus the log-odds of an average account
    p = ex.churn_probability
    assert p is not None
    average = scorer.coef[0] + sum(
        c * r for c, r in zip(scorer.coef[1 + len(scorer.names):], scorer._missing_rate(),
                              strict=True)
    )
    total = sum(r.contribution or 0.0 for r in ex.rules)
    assert total == pytest.approx(math.log(p / (1 - p)) - average, abs=1e-3)
    assert abs(ex.rules[0].contribution or 0) >= abs(ex.rules[-1].contribution or 0)
    assert "of accounts" in (ex.rules[0].reason or "") or "none" in (ex.rules[0].reason or "")
    assert "churn probability" in str(ex)


def test_score_one_equals_batch_and_save_load(
    demo: Dataset, learned: HealthModel, tmp_path: object
) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "model.json"
    learned.save(path)
    json.loads(path.read_text())
    again = HealthModel.load(path, registry=REG)
    t = "2026-07-01T00:00:00Z"
    a, b = learned.score(demo, t), again.score(demo, t)
    assert a.churn_probability is not None
    assert b.churn_probability is not None
    np.testing.assert_allclose(a.churn_probability, b.churn_probability, rtol=1e-12)
    assert a.tier.tolist() == b.tier.tolist()
    cid = str(a.customer_ids[7])
    customers, subs, events = demo.customer(cid).to_records()
    one = learned.score_one(customers[0], subs, events, t)
    assert one.churn_probability is not None
    assert one.churn_probability[0] == pytest.approx(a.churn_probability[7], rel=1e-9)


def test_segments_shrink_toward_global(demo: Dataset) -> None:
    dates = ["2025-08-01T00:00:00Z", "2025-10-01T00:00:00Z", "2025-12-01T00:00:00Z"]
    strong = learn(demo, dates, 90, registry=REG, segment_by="segment", segment_penalty=1e3,
                   penalty=0.01)
    weak = learn(demo, dates, 90, registry=REG, segment_by="segment", segment_penalty=1e-2,
                 penalty=0.01)
    s, w = strong.learned, weak.learned
    assert s is not None
    assert w is not None
    assert set(s.segments) == {"smb", "mid_market", "enterprise"}
    gap_s = max(np.abs(c - s.coef).max() for c in s.segments.values())
    gap_w = max(np.abs(c - w.coef).max() for c in w.segments.values())
    assert gap_s < 1e-2 < gap_w
    rep = strong.score(demo, "2026-07-01T00:00:00Z")
    assert rep.churn_probability is not None
    assert np.isfinite(rep.churn_probability).all()


def test_tiers_by_risk_ratio_and_overridable(learned: HealthModel, demo: Dataset) -> None:
    scorer = learned.learned
    assert scorer is not None
    good, poor = learned.thresholds
    assert good == pytest.approx(100 / 1.5)
    assert poor == pytest.approx(100 / 3)
    rep = learned.score(demo, "2026-07-01T00:00:00Z")
    p = rep.churn_probability
    assert p is not None
    assert np.all((rep.tier == "poor") == (p > 2 * scorer.base_rate))
    other = learned.with_tiers(good_ratio=0.8, poor_ratio=1.5)
    assert (other.score(demo, "2026-07-01T00:00:00Z").tier == "poor").sum() > (
        rep.tier == "poor").sum()
    with pytest.raises(ValidationError, match="good_ratio"):
        learned.with_tiers(good_ratio=3, poor_ratio=1.5)


def test_churned_within_label() -> None:
    ds = small()
    assert churned_within(ds, np.datetime64("2024-04-10"), 60).tolist() == [False, True, True]
