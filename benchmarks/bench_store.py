"""Benchmark: saving and loading a demo dataset with SQLiteStore.

Saves `custsuccess.demo.generate(N)` (default 1M customers, about 20M events) to a fresh
SQLite file and loads it back, several times (medians), and reports the file size. As the
baseline, in the same run, the events of the first customers (about 2M events) are also
stored the obvious way, one SQL row per event written with `executemany` and read with
`fetchall`, and compared with the store's column chunks on the same events.
Prints the figures and writes benchmarks/results/bench_store.json (.quick.json with
--quick).

    python benchmarks/bench_store.py            # 1M customers
    python benchmarks/bench_store.py --quick    # 2,000 customers
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from custsuccess.dataset import Categorical, Dataset, EventTable
from custsuccess.demo import generate
from custsuccess.store import (
    DEFAULT_CHUNK_ROWS,
    SQLiteStore,
    _column_chunks,
    _dataset_columns,
    _read_columns,
)


def file_size(path: Path) -> int:
    """Bytes of the database and its WAL (after a checkpoint the WAL is empty)."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def same_data(a: Dataset, b: Dataset, *, full: bool) -> bool:
    """Equality: the full column-by-column check when small, array checks when big."""
    if full:
        return a.equals(b)
    ea, eb = a.events, b.events
    sa, sb = a.subscriptions, b.subscriptions
    return (
        np.array_equal(a.customer_ids, b.customer_ids)
        and np.array_equal(a.customers.created_at, b.customers.created_at)
        and np.array_equal(ea.customer, eb.customer)
        and np.array_equal(ea.kind, eb.kind)
        and np.array_equal(ea.time, eb.time)
        and np.array_equal(ea.value, eb.value, equal_nan=True)
        and all(_same_values(ea.properties[k], eb.properties[k]) for k in ea.properties)
        and np.array_equal(sa.ids, sb.ids)
        and np.array_equal(sa.mrr, sb.mrr)
        and np.array_equal(sa.ended_at, sb.ended_at, equal_nan=True)
        and _same_values(sa.cancel_reason, sb.cancel_reason)
        and _same_values(sa.plan, sb.plan)
        and _same_values(a.customers.segment, b.customers.segment)
        and _same_values(a.customers.plan, b.customers.plan)
    )


def _same_values(a: Categorical, b: Categorical) -> bool:
    """Same values row by row (the stored categories may drop unused labels)."""
    return bool(np.array_equal(a.decode(), b.decode()))


def rows_baseline(events: EventTable, path: Path) -> tuple[float, float]:
    """Write and read ``events`` as one SQL row per event: (write s, read s)."""
    names = list(events.properties)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    props = "".join(f", p{i} INTEGER" for i in range(len(names)))
    conn.execute(
        f"CREATE TABLE ev (customer INTEGER, kind INTEGER, time INTEGER, value REAL{props})"
    )
    marks = ", ".join("?" * (4 + len(names)))
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO ev VALUES ({marks})",
        zip(
            events.customer.tolist(),
            events.kind.tolist(),
            events.time.view(np.int64).tolist(),
            events.value.tolist(),  # NaN is stored as NULL
            *(events.properties[n].codes.tolist() for n in names),
            strict=True,
        ),
    )
    conn.execute("COMMIT")
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = conn.execute("SELECT * FROM ev ORDER BY rowid").fetchall()
    columns = list(zip(*rows, strict=True))
    np.array(columns[0], dtype=np.int32)
    np.array(columns[1], dtype=np.int16)
    np.array(columns[2], dtype=np.int64).view("datetime64[us]")
    np.array([np.nan if v is None else v for v in columns[3]], dtype=np.float64)
    for col in columns[4:]:
        np.array(col, dtype=np.int32)
    read = time.perf_counter() - t0
    conn.close()
    return write, read


def chunks_same_events(subset: Dataset, path: Path) -> tuple[float, float]:
    """Write and read the events of ``subset`` with the store's own column-chunk code:
    (write s, read s)."""
    SQLiteStore(path).close()  # creates the schema
    events = subset.events
    columns = _dataset_columns(subset.customers, subset.subscriptions, events)["events"]
    conn = sqlite3.connect(path, isolation_level=None)
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO dataset_columns (tbl, name, position, dtype, stored_dtype) "
        "VALUES ('events', ?, ?, ?, ?)",
        (
            (name, i, loaded, values.dtype.str)
            for i, (name, (values, _, loaded)) in enumerate(columns.items())
        ),
    )
    conn.executemany(
        "INSERT INTO column_categories (tbl, name, code, value) VALUES ('events', ?, ?, ?)",
        (
            (name, code, value)
            for name, (_, categories, _) in columns.items()
            for code, value in enumerate(categories or ())
        ),
    )
    conn.executemany(
        "INSERT INTO events (name, chunk, first_row, n_rows, data) VALUES (?, ?, ?, ?, ?)",
        _column_chunks(columns, len(events), DEFAULT_CHUNK_ROWS),
    )
    conn.execute("COMMIT")
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    loaded, _ = _read_columns(conn, "events", len(events))
    conn.execute("COMMIT")
    read = time.perf_counter() - t0
    conn.close()
    if not np.array_equal(loaded["time"], events.time.view(np.int64)):
        raise SystemExit("the column chunks did not round-trip")
    return write, read


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small size, for the test suite")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-events", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.customers or (2_000 if args.quick else 1_000_000)
    baseline_events = args.baseline_events or (20_000 if args.quick else 2_000_000)

    t0 = time.perf_counter()
    ds = generate(n, seed=0)
    generate_s = time.perf_counter() - t0
    n_events = len(ds.events)
    saves, loads, sizes = [], [], []
    verified = False
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.repeats):
            path = Path(folder) / f"run{r}.db"
            store = SQLiteStore(path)
            t0 = time.perf_counter()
            store.save(ds)
            saves.append(time.perf_counter() - t0)
            store.close()
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            sizes.append(file_size(path))
            store = SQLiteStore(path)  # a fresh connection, as a new process would have
            t0 = time.perf_counter()
            loaded = store.load()
            loads.append(time.perf_counter() - t0)
            store.close()
            if not verified:
                verified = same_data(ds, loaded, full=n <= 50_000)
                verified = verified and same_data(ds, loaded, full=False)
                if not verified:
                    raise SystemExit("the loaded dataset differs from the saved one")
            del loaded
            path.unlink()
        # Baseline on the same events: rows vs the store's column chunks.
        offsets = ds.events.offsets()
        k = int(np.searchsorted(offsets, baseline_events, side="right")) - 1
        k = max(1, min(k, n))
        subset_ds = ds.slice(0, k)
        subset = subset_ds.events
        rows_w, rows_r, chunk_w, chunk_r = [], [], [], []
        for r in range(args.repeats):
            w, rd = rows_baseline(subset, Path(folder) / f"rows{r}.db")
            rows_w.append(w)
            rows_r.append(rd)
            w, rd = chunks_same_events(subset_ds, Path(folder) / f"chunks{r}.db")
            chunk_w.append(w)
            chunk_r.append(rd)

    med = statistics.median
    result = {
        "benchmark": "sqlite_store",
        "customers": n,
        "events": n_events,
        "subscriptions": len(ds.subscriptions),
        "generate_seconds": round(generate_s, 2),
        "save_seconds_median": round(med(saves), 2),
        "load_seconds_median": round(med(loads), 2),
        "save_seconds_runs": [round(s, 2) for s in saves],
        "load_seconds_runs": [round(s, 2) for s in loads],
        "file_bytes": int(med(sizes)),
        "file_mib": round(med(sizes) / 2**20, 1),
        "bytes_per_event": round(med(sizes) / max(n_events, 1), 1),
        "round_trip_verified": verified,
        "baseline_customers": k,
        "baseline_events": len(subset),
        "baseline_rows_write_seconds_median": round(med(rows_w), 3),
        "baseline_rows_read_seconds_median": round(med(rows_r), 3),
        "chunks_write_seconds_median": round(med(chunk_w), 3),
        "chunks_read_seconds_median": round(med(chunk_r), 3),
        "read_speedup_chunks_vs_rows": round(med(rows_r) / med(chunk_r), 1),
        "write_speedup_chunks_vs_rows": round(med(rows_w) / med(chunk_w), 1),
        "repeats": args.repeats,
    }
    print(
        f"SQLiteStore, {n:,} customers, {n_events:,} events, {result['subscriptions']:,} "
        f"subscriptions (median of {args.repeats}):\n"
        f"  save {result['save_seconds_median']} s, load {result['load_seconds_median']} s, "
        f"file {result['file_mib']} MiB ({result['bytes_per_event']} bytes/event)\n"
        f"  baseline on {len(subset):,} events: one row per event writes in "
        f"{result['baseline_rows_write_seconds_median']} s and reads in "
        f"{result['baseline_rows_read_seconds_median']} s; column chunks "
        f"{result['chunks_write_seconds_median']} s / {result['chunks_read_seconds_median']} s "
        f"(read {result['read_speedup_chunks_vs_rows']}x, write "
        f"{result['write_speedup_chunks_vs_rows']}x faster)"
    )
    name = "bench_store.quick.json" if args.quick else "bench_store.json"
    out = Path(__file__).resolve().parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
