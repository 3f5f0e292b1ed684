"""PartitionedDataset: the stable customer hash, the split by customer, and the
constructors (in memory, Dask DataFrames, partitioned and plain Parquet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

dask = pytest.importorskip("dask")
pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

from custsuccess.dataset import Dataset  # noqa: E402
from custsuccess.demo import generate  # noqa: E402
from custsuccess.distributed import bucket_of, partition  # noqa: E402
from custsuccess.distributed._dask import compute  # noqa: E402
from custsuccess.distributed._hashing import fmix64, fnv1a  # noqa: E402
from custsuccess.distributed.dataset import (  # noqa: E402
    concat,
    from_dask,
    from_parquet,
    split,
    write_parquet,
)
from custsuccess.errors import ValidationError  # noqa: E402

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


# --------------------------------------------------------------------------- hashing


def test_fnv1a_matches_the_published_test_vectors() -> None:
    # FNV-1a 64-bit reference values (ASCII: code points equal bytes)
    got = fnv1a(["", "a", "foobar"]).tolist()
    assert got == [0xCBF29CE484222325, 0xAF63DC4C8601EC8C, 0x85944171F73967E8]


def test_fnv1a_ignores_the_array_width() -> None:
    narrow = fnv1a(np.array(["ab"], dtype="U2"))
    wide = fnv1a(np.array(["ab", "a much longer id"]))
    assert narrow[0] == wide[0]


def _fmix64_reference(k: int) -> int:
    """MurmurHash3's fmix64 as in the reference C code, on Python integers."""
    mask = (1 << 64) - 1
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & mask
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & mask
    return k ^ (k >> 33)


def test_fmix64_matches_the_reference_code() -> None:
    values = [0, 1, 2**63 + 12345, 0xAF63DC4C8601EC8C, 2**64 - 1]
    got = fmix64(np.array(values, dtype=np.uint64)).tolist()
    assert got == [_fmix64_reference(v) for v in values]


def test_ids_differing_in_high_bits_only_still_spread() -> None:
    # FNV-1a alone sends every id ending in '0' or '4' (same two low bits) to one
    # partition modulo 4; the mixer spreads them
    ids = [f"acct-{i}0" for i in range(4000)]
    counts = np.bincount(bucket_of(ids, 4), minlength=4)
    assert counts.min() > 900


def test_bucket_is_the_same_in_another_process_with_another_hash_seed() -> None:
    ids = [f"cus_{i:07d}" for i in range(50)] + ["ünïcødé", "x"]
    code = (
        "import json, sys; from custsuccess.distributed import bucket_of; "
        "print(json.dumps(bucket_of(json.loads(sys.argv[1]), 7).tolist()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(ids)],
        capture_output=True, text=True, check=True, env=env,
    ).stdout
    assert json.loads(out) == bucket_of(ids, 7).tolist()


# --------------------------------------------------------------------------- partitioning


def test_every_customer_is_in_exactly_one_partition(ds: Dataset) -> None:
    parts = split(ds, 4)
    ids = np.concatenate([p.customer_ids for p in parts])
    assert sorted(ids.tolist()) == ds.customer_ids.tolist()
    for i, p in enumerate(parts):
        assert (bucket_of(p.customer_ids, 4) == i).all()
        # each partition holds exactly its customers' rows
        own = set(p.customer_ids.tolist())
        whole = ds.to_columns()
        n_subs = sum(c in own for c in whole["subscriptions"]["customer_id"].tolist())
        n_events = sum(c in own for c in whole["events"]["customer_id"].tolist())
        assert len(p.subscriptions) == n_subs
        assert len(p.events) == n_events
    assert concat(parts).equals(ds)


def test_partitions_are_ordinary_valid_datasets(ds: Dataset) -> None:
    for p in split(ds, 3):
        rebuilt = Dataset(p.customers, p.subscriptions, p.events)  # validates every table
        assert rebuilt.n_customers == p.n_customers


def test_partition_keeps_the_window(ds: Dataset) -> None:
    view = ds.until(AS_OF)
    parts = split(view, 2)
    assert all(p.window == view.window for p in parts)
    assert sum(len(p.events) for p in parts) == len(view.events)


def test_bad_npartitions_is_a_validation_error(ds: Dataset) -> None:
    with pytest.raises(ValidationError, match="npartitions must be an int >= 1"):
        partition(ds, 0)
    with pytest.raises(ValidationError, match="needs a custsuccess Dataset"):
        partition("nope", 2)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- constructors


def test_from_dask_shuffles_by_customer(ds: Dataset) -> None:
    import dask.dataframe as dd
    import pandas as pd

    cols = ds.to_columns()
    frames = {
        name: dd.from_pandas(  # type: ignore[no-untyped-call]
            pd.DataFrame(dict(table)), npartitions=2
        )
        for name, table in cols.items()
    }
    pdata = from_dask(npartitions=3, **frames)
    assert pdata.npartitions == 3
    parts = compute(*pdata.partitions)
    for i, p in enumerate(parts):
        assert (bucket_of(p.customer_ids, 3) == i).all()
    assert concat(list(parts)).equals(ds)


def test_write_and_read_partitioned_parquet(ds: Dataset, tmp_path: Path) -> None:
    url = str(tmp_path / "lake")
    # two chunks with disjoint customers, written one after the other
    write_parquet((ds.slice(0, 300), ds.slice(300, ds.n_customers)), url, 4)
    pdata = from_parquet(url)
    assert pdata.npartitions == 4
    assert pdata.sizes() == np.bincount(bucket_of(ds.customer_ids, 4)).tolist()
    assert concat(list(compute(*pdata.partitions))).equals(ds)
    with pytest.raises(ValidationError, match="already holds data written in 4 partitions"):
        write_parquet(ds.slice(0, 10), url, 3)


def test_plain_parquet_with_a_mapping_is_shuffled(ds: Dataset, tmp_path: Path) -> None:
    import pandas as pd

    cols = ds.to_columns()
    for name, table in cols.items():
        frame = pd.DataFrame(dict(table))
        if name == "events":
            frame = frame.rename(columns={"occurred_at": "ts", "customer_id": "account"})
        folder = tmp_path / "plain" / name
        folder.mkdir(parents=True)
        frame.to_parquet(folder / "part-0.parquet")
    pdata = from_parquet(
        str(tmp_path / "plain"),
        mapping={"events": {"occurred_at": "ts", "customer_id": "account"}},
        npartitions=2,
    )
    parts = compute(*pdata.partitions)
    assert concat(list(parts)).equals(ds)
    with pytest.raises(ValidationError, match="no customers table"):
        from_parquet(str(tmp_path / "nowhere"))


def test_from_dask_already_partitioned_frames_are_taken_as_they_are(ds: Dataset) -> None:
    import dask.dataframe as dd
    import pandas as pd

    from custsuccess.distributed._dask import delayed

    parts = split(ds, 3)

    def frames(table: str) -> dd.DataFrame:
        pieces = [delayed(pd.DataFrame)(dict(p.to_columns()[table])) for p in parts]
        out: dd.DataFrame = dd.from_delayed(pieces, verify_meta=False)
        return out

    pdata = from_dask(
        customers=frames("customers"),
        subscriptions=frames("subscriptions"),
        events=frames("events"),
        partitioned=True,
    )
    got = compute(*pdata.partitions)
    assert [p.customer_ids.tolist() for p in got] == [p.customer_ids.tolist() for p in parts]
    with pytest.raises(ValidationError, match="same number of partitions"):
        from_dask(
            customers=frames("customers"),
            events=dd.from_pandas(  # type: ignore[no-untyped-call]
                pd.DataFrame(dict(ds.to_columns()["events"])), npartitions=2
            ),
            partitioned=True,
        )
