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
from custsuccess.distributed.dataset import (
    PartitionedDataset,
    from_dask,
    from_parquet,
    partition,
    write_parquet,
)

__all__ = [
    "PartitionedDataset",
    "bucket_of",
    "from_dask",
    "from_parquet",
    "partition",
    "write_parquet",
]
