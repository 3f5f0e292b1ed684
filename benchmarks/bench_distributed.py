"""Benchmark: a demo-like population on a LocalCluster against one process.

1. **Write.** A population of ``--customers`` accounts (the demo generator's, about 20
   events each) is generated ``--chunk`` customers at a time (each chunk its own seed and
   id prefix) and each chunk is written as Parquet split by the customer hash
   (:func:`custsuccess.distributed.write_parquet`): no process ever holds more than one
   chunk.
2. **Cluster.** A ``LocalCluster`` of 2 worker processes (one thread each, a memory limit
   each) reads the partitions (each worker builds its Datasets from Arrow columns), then
   scores them with ``HealthModel.default()`` and summarises: tier counts, MRR movements
   (totals) and the Kaplan-Meier curve of customer lifetimes. The same with 1 worker.
   Peak memory per worker is the worker process's peak resident set (``ru_maxrss``).
3. **Baseline in the same run**: one process (no Dask) reads the whole tables with
   pyarrow, builds one Dataset and runs the same single-machine calls; its tier counts,
   MRR totals and KM curve must equal the cluster's.

Throughput per core = customers / (wall-clock seconds x cores used), and, since the cores
are shared with other work, also customers per CPU second actually used (the workers'
and the client's ``getrusage``), which does not depend on what else the machine runs.
Prints the figures and writes ``benchmarks/results/bench_distributed.json``
(``--quick``: ``bench_distributed.quick.json``).

    python benchmarks/bench_distributed.py                   # 1M customers, ~20M events
    python benchmarks/bench_distributed.py --customers 2000000
    python benchmarks/bench_distributed.py --quick           # 6k customers, for the tests
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from custsuccess.dataset import Dataset
from custsuccess.demo import generate

AS_OF = "2026-10-01T00:00:00Z"
RESULTS = Path(__file__).resolve().parent / "results"


def chunks(customers: int, chunk: int) -> Iterator[Dataset]:
    """The population, ``chunk`` customers at a time, with distinct ids per chunk."""
    for k, start in enumerate(range(0, customers, chunk)):
        ds = generate(min(chunk, customers - start), seed=1000 + k)
        prefix = f"k{k:04d}_"
        c = ds.customers
        s = ds.subscriptions
        yield Dataset(
            attrs.evolve(c, ids=np.char.add(prefix, c.ids)),
            attrs.evolve(s, ids=np.char.add(prefix, s.ids)),
            ds.events,
            validate=False,
        )


def write(url: str, customers: int, chunk: int, npartitions: int) -> dict[str, Any]:
    from custsuccess.distributed import write_parquet

    t0 = time.perf_counter()
    events = 0

    def counted() -> Iterator[Dataset]:
        nonlocal events
        for ds in chunks(customers, chunk):
            events += len(ds.events)
            yield ds

    write_parquet(counted(), url, npartitions)
    size = sum(f.stat().st_size for f in Path(url).rglob("*.parquet"))
    return {
        "write_seconds": time.perf_counter() - t0,
        "events": events,
        "parquet_bytes": size,
        "peak_rss_writer_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


# --------------------------------------------------------------------------- the work


def summarise_single(ds: Dataset) -> dict[str, Any]:
    """The single-machine calls on one Dataset."""
    from custsuccess.churn.survival import lifetimes_from
    from custsuccess.health import HealthModel
    from custsuccess.metrics import mrr_movements

    report = HealthModel.default().score(ds, AS_OF)
    moves = mrr_movements(ds.until(AS_OF))
    km = lifetimes_from(ds, AS_OF).kaplan_meier()
    return _summary(report.tier_counts(), moves, km)


def summarise_distributed(pds: Any) -> dict[str, Any]:
    """The same calls on a PartitionedDataset."""
    from custsuccess.distributed import kaplan_meier, mrr_movements
    from custsuccess.health import HealthModel

    report = HealthModel.default().score(pds, AS_OF)
    counts = report.tier_counts()
    moves = mrr_movements(pds.until(AS_OF), per_customer=False)
    km = kaplan_meier(pds, AS_OF)
    return _summary(counts, moves, km)


def _summary(counts: dict[str, int], moves: Any, km: Any) -> dict[str, Any]:
    return {
        "tier_counts": counts,
        "mrr_closing_last": float(moves.closing[-1]),
        "mrr_churn_total": float(moves.churn.sum()),
        "movement_counts": int(moves.counts.sum()),
        "km_median_days": float(km.median),
        "km_survival_sum": float(km.survival.sum()),
        "km_points": len(km.timeline),
    }


# --------------------------------------------------------------------------- baseline


def load_single(url: str) -> Dataset:
    """The whole tables read with pyarrow into one Dataset (the single-process path)."""
    import pyarrow.parquet as pq

    from custsuccess.distributed.dataset import _arrow_columns

    tables = {t: _arrow_columns(pq.read_table(f"{url}/{t}")) for t in ("customers",
              "subscriptions", "events")}
    return Dataset.from_columns(**tables)


def _cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def baseline(url: str, repeats: int) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), _cpu_seconds()
    ds = load_single(url)
    load, load_cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    runs, cpu = [], []
    summary: dict[str, Any] = {}
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), _cpu_seconds()
        summary = summarise_single(ds)
        runs.append(time.perf_counter() - t0)
        cpu.append(_cpu_seconds() - c0)
    return {
        "load_seconds": load,
        "load_cpu_seconds": load_cpu,
        "analyse_seconds": runs,
        "analyse_seconds_median": statistics.median(runs),
        "analyse_cpu_seconds_median": statistics.median(cpu),
        "peak_rss_bytes": _peak_rss(),
        "summary": summary,
    }


def on_cluster(url: str, workers: int, memory_limit: str, repeats: int) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from custsuccess.distributed import from_parquet

    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=":0",  # any free port: never clash with a running cluster
            memory_limit=memory_limit,
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):

        def cpu() -> float:  # the workers' CPU seconds and this process's (the merges)
            workers_cpu: dict[str, float] = client.run(_cpu_seconds)
            return sum(workers_cpu.values()) + _cpu_seconds()

        t0, c0 = time.perf_counter(), cpu()
        pds = from_parquet(url).persist()
        pds.sizes()  # waits until every partition is built on its worker
        load, load_cpu = time.perf_counter() - t0, cpu() - c0
        runs, cpus = [], []
        summary: dict[str, Any] = {}
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), cpu()
            summary = summarise_distributed(pds)
            runs.append(time.perf_counter() - t0)
            cpus.append(cpu() - c0)
        peaks = client.run(_peak_rss)
    return {
        "workers": workers,
        "memory_limit": memory_limit,
        "load_seconds": load,
        "load_cpu_seconds": load_cpu,
        "analyse_seconds": runs,
        "analyse_seconds_median": statistics.median(runs),
        "analyse_cpu_seconds_median": statistics.median(cpus),
        "peak_rss_per_worker_bytes": sorted(int(v) for v in peaks.values()),
        "summary": summary,
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="6k customers (for the tests)")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--memory-limit", default="3GB", help="per worker")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", help="write the Parquet here and keep it")
    parser.add_argument("--baseline-of", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.baseline_of:
        print(json.dumps(baseline(args.baseline_of, args.repeats)))
        return {}
    if args.quick:
        args.customers, args.chunk, args.partitions = 6_000, 2_000, 4
        args.memory_limit, args.repeats = "1GB", 1
    folder = args.keep or tempfile.mkdtemp(prefix="custsuccess-bench-")
    url = str(Path(folder) / "lake")
    try:
        result: dict[str, Any] = {
            "customers": args.customers,
            "chunk": args.chunk,
            "partitions": args.partitions,
            "cores": os.cpu_count(),
        }
        result.update(write(url, args.customers, args.chunk, args.partitions))
        print(
            f"wrote {args.customers:,} customers / {result['events']:,} events in "
            f"{result['write_seconds']:.1f} s ({result['parquet_bytes'] / 1e6:.0f} MB Parquet, "
            f"writer peak RSS {result['peak_rss_writer_bytes'] / 1e9:.2f} GB)"
        )
        # the single-process baseline in a fresh process, so its peak memory is its own
        child = subprocess.run(
            [sys.executable, __file__, "--baseline-of", url, "--repeats", str(args.repeats)],
            capture_output=True, text=True, check=True,
        )
        single = json.loads(child.stdout.strip().splitlines()[-1])
        result["single"] = single
        for workers in (2, 1):
            result[f"cluster_{workers}"] = on_cluster(url, workers, args.memory_limit,
                                                      args.repeats)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    n = args.customers
    s_time = single["load_seconds"] + single["analyse_seconds_median"]
    s_cpu = single["load_cpu_seconds"] + single["analyse_cpu_seconds_median"]
    single["customers_per_core_second"] = n / s_time
    single["customers_per_cpu_second"] = n / s_cpu
    for workers in (2, 1):
        c = result[f"cluster_{workers}"]
        c_time = c["load_seconds"] + c["analyse_seconds_median"]
        c["customers_per_core_second"] = n / (c_time * workers)
        c_cpu = c["load_cpu_seconds"] + c["analyse_cpu_seconds_median"]
        c["customers_per_cpu_second"] = n / c_cpu
        c["matches_single"] = c["summary"] == single["summary"]
    two, one = result["cluster_2"], result["cluster_1"]
    # > 1: one process does more per core than the cluster
    result["per_core_ratio_single_over_2_workers"] = (
        single["customers_per_core_second"] / two["customers_per_core_second"]
    )
    result["per_cpu_second_ratio_single_over_2_workers"] = (
        single["customers_per_cpu_second"] / two["customers_per_cpu_second"]
    )
    result["speedup_2_over_1_workers"] = (
        one["load_seconds"] + one["analyse_seconds_median"]
    ) / (two["load_seconds"] + two["analyse_seconds_median"])
    print(
        f"single process: load {single['load_seconds']:.1f} s "
        f"({single['load_cpu_seconds']:.1f} s CPU), analyse "
        f"{single['analyse_seconds_median']:.1f} s ({single['analyse_cpu_seconds_median']:.1f} "
        f"s CPU), peak RSS {single['peak_rss_bytes'] / 1e9:.2f} GB"
    )
    for workers in (2, 1):
        c = result[f"cluster_{workers}"]
        peaks = ", ".join(f"{p / 1e9:.2f}" for p in c["peak_rss_per_worker_bytes"])
        print(
            f"{workers} worker(s): load {c['load_seconds']:.1f} s "
            f"({c['load_cpu_seconds']:.1f} s CPU), analyse {c['analyse_seconds_median']:.1f} s "
            f"({c['analyse_cpu_seconds_median']:.1f} s CPU), peak RSS per worker {peaks} GB "
            f"(limit {c['memory_limit']}), same numbers as one process: {c['matches_single']}"
        )
    print(
        f"throughput per core, one process / 2 workers: wall clock "
        f"{result['per_core_ratio_single_over_2_workers']:.2f}x, CPU seconds "
        f"{result['per_cpu_second_ratio_single_over_2_workers']:.2f}x; 2 workers vs 1: "
        f"{result['speedup_2_over_1_workers']:.2f}x faster"
    )
    RESULTS.mkdir(exist_ok=True)
    name = "bench_distributed.quick.json" if args.quick else "bench_distributed.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
