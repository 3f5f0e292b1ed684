"""custsuccess on a Dask cluster: the same calls, the same numbers.

A :class:`PartitionedDataset` splits a dataset by customer (a stable hash of the
customer id) into Dask partitions, each an ordinary :class:`~custsuccess.dataset.Dataset`.
Work that depends on one customer's rows (health rules, MRR change points, churn state,
RFM) runs per partition unchanged; the client merges the partitions' partial results
exactly (summed counts, money in integer millionths, summed event tables and
likelihoods). See ``docs/cluster.md``.

Needs the ``dask`` extra: ``pip install 'custsuccess[dask]'``.
"""

from __future__ import annotations

from custsuccess.distributed._hashing import bucket_of
from custsuccess.distributed.churn import (
    fit_beta_geo,
    fit_gamma_gamma,
    fit_pareto_nbd,
    kaplan_meier,
    lifetime_table,
    logrank_test,
    reason_distribution,
    records,
    rfm_from_dataset,
)
from custsuccess.distributed.dataset import (
    PartitionedDataset,
    from_dask,
    from_parquet,
    partition,
    write_parquet,
)
from custsuccess.distributed.health import DistributedHealthReport, backtest, score
from custsuccess.distributed.learn import learn
from custsuccess.distributed.metrics import (
    cohort_retention,
    customer_flow,
    mrr_movements,
    mrr_series,
    nps_by_period,
    support_response_times,
)

__all__ = [
    "DistributedHealthReport",
    "PartitionedDataset",
    "backtest",
    "bucket_of",
    "cohort_retention",
    "customer_flow",
    "fit_beta_geo",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "from_dask",
    "from_parquet",
    "kaplan_meier",
    "learn",
    "lifetime_table",
    "logrank_test",
    "mrr_movements",
    "mrr_series",
    "nps_by_period",
    "partition",
    "reason_distribution",
    "records",
    "rfm_from_dataset",
    "score",
    "support_response_times",
    "write_parquet",
]
