"""custsuccess.distributed on a real Dask cluster: two worker processes on loopback.

One cluster serves the whole module (starting one costs seconds). Every result is
compared with the single-machine call on the whole dataset; one test kills a worker
process while the partitions are being scored and checks the answer is still right.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

from distributed import Client, LocalCluster

from custsuccess import metrics as single_metrics
from custsuccess.churn.survival import lifetimes_from
from custsuccess.dataset import Dataset
from custsuccess.demo import generate
from custsuccess.distributed import from_parquet as read_lake
from custsuccess.distributed import (
    kaplan_meier,
    mrr_movements,
    partition,
    write_parquet,
)
from custsuccess.distributed._specs import model_spec
from custsuccess.health import HealthModel, HealthReport
from custsuccess.health.backtest import backtest
from custsuccess.health.rules import RecencyRule
from custsuccess.plugins import AUTOLOAD_ENV_VAR
from custsuccess.typing import Reasons, RuleResult

AS_OF = "2024-09-30T00:00:00Z"


def _flat(ds: Dataset) -> Dataset:
    """``ds`` without its account hierarchy: partitions keep a parent account only when
    it is in the same partition, so the comparisons use data without parents."""
    cols = ds.to_columns()
    cols["customers"] = {k: v for k, v in cols["customers"].items() if k != "parent_id"}
    return Dataset.from_columns(**cols)

# distributed reports closed connections and restarted workers through warnings
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*:UserWarning:distributed"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    # workers load installed plugins (the example plugin): entry-point rules must be
    # rebuilt there by name
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=":0",  # any free port: never clash with a running cluster
        env={AUTOLOAD_ENV_VAR: ""},
    ) as local:
        assert local.scheduler_address.startswith("tcp://127.0.0.1:")
        yield local


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster, set_as_default=True) as c:  # type: ignore[no-untyped-call]
        yield c


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return _flat(generate(1200, seed=5))


def _same_report(got: HealthReport, want: HealthReport) -> None:
    assert got.customer_ids.tolist() == want.customer_ids.tolist()
    assert got.index.tolist() == want.index.tolist()
    np.testing.assert_array_equal(got.score, want.score)
    np.testing.assert_array_equal(got.tier_code, want.tier_code)
    np.testing.assert_array_equal(got.rule_scores, want.rule_scores)
    np.testing.assert_array_equal(got.contributions, want.contributions)
    np.testing.assert_array_equal(got.recommended, want.recommended)


@attrs.frozen
class SlowRule:
    """A rule that takes its time (so a worker can be killed while it runs); it
    scores every account 50. Importable by the workers: this module is on their path."""

    seconds: float = 1.0
    name: str = "test.slow"
    description: str = "Waits, then scores 50."

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        time.sleep(self.seconds)
        n = dataset.n_customers
        return RuleResult(np.full(n, 50.0), Reasons.none(n))


def test_default_model_on_the_cluster(client: Client, ds: Dataset) -> None:
    model = HealthModel.default()
    want = model.score(ds, AS_OF)
    pdata = partition(ds, 4).persist()
    report = model.score(pdata, AS_OF)
    assert report.tier_counts() == want.tier_counts()
    _same_report(report.at_risk(25), want.at_risk(25))
    cid = str(want.at_risk(1).customer_ids[0])
    assert report.explain(cid).to_dict() == want.explain(cid).to_dict()
    _same_report(report.compute(), want)
    # the partitions were scored on both worker processes
    assert len(client.scheduler_info()["workers"]) == 2


@pytest.mark.usefixtures("plugin_autoload")
def test_entry_point_rules_rebuilt_by_name_on_workers(client: Client, ds: Dataset) -> None:
    model = HealthModel.default()
    assert "example.email_engagement" in model.rule_names
    assert all(r.value is None for r in model_spec(model).rules)
    _same_report(model.score(partition(ds, 3), AS_OF).compute(), model.score(ds, AS_OF))


def test_backtest_and_metrics_on_the_cluster(client: Client, ds: Dataset, tmp_path: Path) -> None:
    url = str(tmp_path / "lake")
    write_parquet((ds.slice(0, 600), ds.slice(600, ds.n_customers)), url, 4)
    pdata = read_lake(url).persist()
    model = HealthModel.default()
    got_bt = backtest(model, pdata, "2024-06-30T00:00:00Z", 90)
    assert got_bt.to_dict() == backtest(model, ds, "2024-06-30T00:00:00Z", 90).to_dict()
    got = mrr_movements(pdata)
    want = single_metrics.mrr_movements(ds)
    for name in ("opening", "new", "expansion", "contraction", "churn", "closing", "counts",
                 "customer", "kind", "amount", "customer_closing"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    km = kaplan_meier(pdata, AS_OF)
    want_km = lifetimes_from(ds, AS_OF).kaplan_meier()
    assert not isinstance(km, dict)
    np.testing.assert_array_equal(km.survival, want_km.survival)
    np.testing.assert_array_equal(km.at_risk, want_km.at_risk)


def _worker_pids(client: Client) -> dict[str, int]:
    pids: dict[str, Any] = client.run(os.getpid)
    return {address: int(pid) for address, pid in pids.items()}


def test_a_worker_killed_mid_computation_changes_nothing(client: Client, ds: Dataset) -> None:
    model = HealthModel([RecencyRule(), SlowRule(seconds=1.0)])
    want = model.score(ds, AS_OF)
    before = _worker_pids(client)
    report = model.score(partition(ds, 4), AS_OF)  # persisted: runs in the background
    deadline = time.monotonic() + 10
    busy: list[str] = []
    while not busy and time.monotonic() < deadline:
        processing = client.processing()  # type: ignore[no-untyped-call]
        busy = [w for w, tasks in processing.items() if tasks]
        time.sleep(0.05)
    assert busy, "no task started"
    time.sleep(0.3)  # well inside the one-second rule
    os.kill(before[busy[0]], signal.SIGKILL)
    _same_report(report.compute(), want)
    assert report.tier_counts() == want.tier_counts()
    # the nanny brought a fresh worker process up in the killed one's place
    client.wait_for_workers(2, timeout=30)
    after = _worker_pids(client)
    assert before[busy[0]] not in after.values()
