"""Benchmark: getting events into analysis-ready form (custsuccess.io) against DuckDB and polars.

Writes N events for N/20 customers as Parquet and CSV, then times, median of --repeats,
each against its baseline in the same run:

* Parquet -> Dataset (io.read_dataset) vs DuckDB reading the same file with
  ``ORDER BY customer_id, occurred_at`` into an Arrow table;
* CSV -> Dataset vs DuckDB ``read_csv`` with the same ORDER BY;
* a pandas DataFrame with object (str) columns -> Dataset.from_columns, and a polars
  DataFrame -> Dataset, vs polars' own encode-and-sort (Categorical + sort) of the columns;
* Parquet -> Dataset peak memory (in a fresh process) over the finished Dataset's arrays;
* Parquet -> scored HealthReport end to end.

DuckDB and polars come with the ``bench`` extra; a missing one's baseline is skipped.
Prints the figures and writes benchmarks/results/bench_io.json.

    python benchmarks/bench_io.py               # 20M events, 1M customers
    python benchmarks/bench_io.py --events 5000000
    python benchmarks/bench_io.py --quick       # 50k events
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

KINDS = np.array(["login", "page_view", "feature_used", "email_open", "support_request"])
FEATURES = np.array(["reports", "api", "alerts", "exports"])
AS_OF = "2025-01-01T00:00:00Z"


def make_tables(n_events: int, seed: int = 0) -> tuple[Any, Any]:
    """(customers, events) as Arrow tables; events in random order, as exports come."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    n_customers = max(1, n_events // 20)
    ids = np.char.add("cus_", np.char.zfill(np.arange(n_customers).astype(str), 8))
    start = np.datetime64("2023-01-01T00:00:00", "us")
    created = start + rng.integers(0, 365 * 86400, n_customers).astype("timedelta64[s]")
    customers = pa.table({
        "id": pa.array(ids),
        "created_at": pa.array(created.astype("datetime64[us]")).cast(pa.timestamp("us", "UTC")),
    })
    customer = rng.integers(0, n_customers, n_events)
    kind_code = rng.integers(0, len(KINDS), n_events)
    feature = FEATURES[rng.integers(0, len(FEATURES), n_events)]
    time_ = start + rng.integers(0, 2 * 365 * 86400 * 10**6, n_events).astype("timedelta64[us]")
    is_feature = kind_code == 2
    is_support = kind_code == 4
    events = pa.table({
        "customer_id": pa.array(ids).take(pa.array(customer)),
        "kind": pa.array(KINDS).take(pa.array(kind_code)),
        "occurred_at": pa.array(time_).cast(pa.timestamp("us", "UTC")),
        "feature": pa.array(feature, mask=~is_feature),
        "channel": pa.array(np.full(n_events, "email"), mask=~is_support),
        "ticket": pa.array(np.char.add("t", (np.arange(n_events) % 100_000).astype(str)),
                           mask=~is_support),
    })
    return customers, events


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def dataset_bytes(dataset: Any) -> int:
    """Bytes held by the finished Dataset's arrays."""
    c, e, s = dataset.customers, dataset.events, dataset.subscriptions
    total = c.ids.nbytes + c.created_at.nbytes + c.name.nbytes
    total += c.segment.codes.nbytes + c.plan.codes.nbytes
    total += e.customer.nbytes + e.kind.nbytes + e.time.nbytes + e.value.nbytes
    total += sum(p.codes.nbytes for p in e.properties.values())
    total += s.ids.nbytes + s.mrr.nbytes
    return int(total)


def _arrow(relation: Any) -> Any:
    """A DuckDB result as an Arrow table (the method's name changed in DuckDB 1.4)."""
    method = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return method()


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _read_parquet(folder: Path) -> Any:
    from custsuccess import io

    return io.read_dataset(
        customers=io.source(folder / "customers.parquet"),
        events=io.source(folder / "events.parquet"),
    )


def _read_csv(folder: Path) -> Any:
    from custsuccess import io

    return io.read_dataset(
        customers=io.source(folder / "customers.parquet"),
        events=io.source(folder / "events.csv"),
    )


def _peak_memory(folder: Path) -> dict[str, float]:
    """Parquet -> Dataset in a fresh process: its peak RSS growth over the Dataset's bytes."""
    code = (
        "import sys, json\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "import bench_io\n"
        "import custsuccess.io.read, custsuccess.io.sources, custsuccess.dataset\n"
        "import pyarrow.parquet, pyarrow.compute\n"
        "from pathlib import Path\n"
        "def status(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key): return int(line.split()[1]) * 1024\n"
        "before = status('VmRSS')\n"
        f"ds = bench_io._read_parquet(Path({str(folder)!r}))\n"
        # VmHWM, not ru_maxrss: Linux keeps the parent's peak in ru_maxrss across exec
        "peak = status('VmHWM')\n"
        "print(json.dumps({'before': before, 'peak': peak, "
        "'dataset': bench_io.dataset_bytes(ds)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    growth = figures["peak"] - figures["before"]
    return {
        "peak_growth_mb": round(growth / 2**20, 1),
        "dataset_mb": round(figures["dataset"] / 2**20, 1),
        "peak_over_dataset": round(growth / figures["dataset"], 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small size, for the test suite")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-score", action="store_true", help="skip the end-to-end scoring")
    args = parser.parse_args(argv)
    n_events = args.events or (50_000 if args.quick else 20_000_000)
    repeats = args.repeats

    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from custsuccess import Dataset

    result: dict[str, Any] = {
        "benchmark": "io", "events": n_events, "customers": max(1, n_events // 20),
        "repeats": repeats,
    }
    lines: list[str] = []

    def row(label: str, ours: float, base: float | None, base_label: str) -> None:
        if base is None:
            lines.append(f"{label}: {ours:.2f} s ({base_label}: not installed)")
        else:
            lines.append(f"{label}: {ours:.2f} s vs {base_label} {base:.2f} s "
                         f"({base / ours:.2f}x)")
        print(lines[-1], flush=True)

    with tempfile.TemporaryDirectory(prefix="custsuccess-bench-io-") as tmp:
        folder = Path(tmp)
        customers, events = make_tables(n_events)
        pq.write_table(customers, folder / "customers.parquet")
        pq.write_table(events, folder / "events.parquet", row_group_size=1 << 20)
        pcsv.write_csv(events, folder / "events.csv")
        del customers

        duck = _have("duckdb")
        order = "ORDER BY customer_id, occurred_at"

        # Parquet
        ours = median_seconds(lambda: _read_parquet(folder), repeats)
        base = None
        if duck:
            import duckdb

            path = folder / "events.parquet"
            base = median_seconds(
                lambda: _arrow(duckdb.sql(f"SELECT * FROM read_parquet('{path}') {order}")),
                repeats,
            )
        result["parquet_seconds"] = round(ours, 3)
        result["duckdb_parquet_seconds"] = None if base is None else round(base, 3)
        row("Parquet -> Dataset", ours, base, "DuckDB ORDER BY -> Arrow")

        # CSV
        ours = median_seconds(lambda: _read_csv(folder), repeats)
        base = None
        if duck:
            import duckdb

            path = folder / "events.csv"
            base = median_seconds(
                lambda: _arrow(duckdb.sql(f"SELECT * FROM read_csv('{path}') {order}")),
                repeats,
            )
        result["csv_seconds"] = round(ours, 3)
        result["duckdb_csv_seconds"] = None if base is None else round(base, 3)
        row("CSV -> Dataset", ours, base, "DuckDB read_csv ORDER BY -> Arrow")

        # DataFrames
        customer_columns = pq.read_table(folder / "customers.parquet").to_pandas()
        frame = events.to_pandas()  # object columns (str dtype under pandas 3)
        frame["occurred_at"] = frame["occurred_at"].dt.tz_convert("UTC")
        ours = median_seconds(
            lambda: Dataset.from_columns(customers=customer_columns, events=frame), repeats
        )
        result["pandas_seconds"] = round(ours, 3)
        base = None
        polars_ours = None
        if _have("polars"):
            import polars as pl

            pframe = pl.from_arrow(events)
            assert isinstance(pframe, pl.DataFrame)
            from custsuccess import io

            pcustomers = io.source(folder / "customers.parquet")
            polars_ours = median_seconds(
                lambda: io.read_dataset(customers=pcustomers, events=io.source(pframe)), repeats
            )
            text = ["customer_id", "kind", "feature", "channel", "ticket"]
            base = median_seconds(
                lambda: pframe.with_columns(
                    [pl.col(c).cast(pl.Categorical) for c in text]
                ).sort(["customer_id", "occurred_at"]),
                repeats,
            )
        result["polars_frame_seconds"] = None if polars_ours is None else round(polars_ours, 3)
        result["polars_encode_sort_seconds"] = None if base is None else round(base, 3)
        row("pandas object columns -> Dataset", ours, base, "polars encode-and-sort")
        if polars_ours is not None:
            row("polars DataFrame -> Dataset", polars_ours, base, "polars encode-and-sort")

        # memory
        memory = _peak_memory(folder)
        result.update(memory)
        lines.append(
            f"Parquet -> Dataset peak memory: +{memory['peak_growth_mb']} MB for a "
            f"{memory['dataset_mb']} MB Dataset ({memory['peak_over_dataset']}x)"
        )
        print(lines[-1], flush=True)

        # end to end
        if not args.no_score:
            from custsuccess import HealthModel

            model = HealthModel.default()

            def score() -> Any:
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return model.score(_read_parquet(folder), AS_OF)

            total = median_seconds(score, repeats)
            result["parquet_to_report_seconds"] = round(total, 3)
            lines.append(f"Parquet -> scored HealthReport: {total:.2f} s")
            print(lines[-1], flush=True)

    print(f"{n_events:,} events, {result['customers']:,} customers, median of {repeats}")
    out = Path(__file__).resolve().parent / "results" / "bench_io.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
