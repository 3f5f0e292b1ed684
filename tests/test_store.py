"""SQLiteStore: exact round trips, atomic writes under injected failures, readers during a
write, schema migrations, WAL mode, and errors that say what went wrong."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import custsuccess.store as store_module
from custsuccess import Customer, Dataset, Event, Subscription, ValidationError
from custsuccess.churn import records
from custsuccess.churn._examples import small_dataset
from custsuccess.demo import generate
from custsuccess.store import MIGRATIONS, Migration, SQLiteStore, StoreError

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = "2024-12-31T00:00:00+00:00"


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def table_counts(path: Path) -> dict[str, int]:
    """Row counts of every data table, read with a separate plain connection."""
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "dataset_info",
                "customers",
                "customer_attributes",
                "subscriptions",
                "event_kinds",
                "dataset_columns",
                "column_categories",
                "customer_columns",
                "subscription_columns",
                "events",
                "churn_records",
            )
        }
    finally:
        conn.close()


# --------------------------------------------------------------------------- round trips


def test_round_trip_of_a_hand_made_dataset(tmp_path: Path) -> None:
    ds = small_dataset()
    with SQLiteStore(tmp_path / "cs.db") as store:
        store.save(ds)
        loaded = store.load()
    assert loaded.equals(ds)
    assert loaded.kinds == ds.kinds
    # SQL sees plain rows: text as text, moments as microseconds since the epoch.
    conn = sqlite3.connect(tmp_path / "cs.db")
    rows = conn.execute(
        "SELECT id, created_at, segment FROM customers WHERE plan = ? ORDER BY id", ("pro",)
    ).fetchall()
    conn.close()
    assert rows == [("acme", 1704067200000000, "smb"), ("cove", 1705276800000000, "enterprise")]


def test_round_trip_of_a_demo_dataset_in_many_chunks(tmp_path: Path) -> None:
    ds = generate(300, seed=3)
    with SQLiteStore(tmp_path / "cs.db", chunk_rows=1000) as store:
        store.save(ds)
        assert store.load().equals(ds)
    chunks = len(ds.events) // 1000 + 1
    counts = table_counts(tmp_path / "cs.db")
    columns = 4 + len(ds.events.properties)
    assert counts["events"] == chunks * columns
    assert counts["customers"] == 300


def test_a_view_round_trips_with_its_window(tmp_path: Path) -> None:
    ds = generate(200, seed=5)
    for view in (
        ds.until("2025-06-01T00:00:00Z"),
        ds.between("2024-06-01T00:00:00Z", "2025-01-01T00:00:00Z"),
    ):
        with SQLiteStore(tmp_path / "view.db") as store:
            store.save(view)
            loaded = store.load()
        assert loaded.window == view.window
        assert loaded.equals(view)
    with SQLiteStore(tmp_path / "cut.db") as store:
        store.save(ds)
        assert store.load(as_of="2025-03-01T00:00:00Z").equals(ds.until("2025-03-01T00:00:00Z"))


def test_hostile_text_is_data_not_sql(tmp_path: Path) -> None:
    evil = "x'); DROP TABLE customers; --"
    ds = Dataset.from_records(
        [Customer(evil, T0, name='Robert"); --', segment="a'b", attributes={"note": evil})],
        [Subscription("s'1", evil, 'p"lan', 1.0, "USD", T0, cancel_reason=None)],
        [Event(evil, "custom; DELETE", day(1), properties={"k'ey": evil})],
    )
    with SQLiteStore(tmp_path / "cs.db") as store:
        store.save(ds)
        assert store.load().equals(ds)
        assert store.query("SELECT id FROM customers WHERE id = ?", [evil]) == [(evil,)]


def test_unicode_text_round_trips(tmp_path: Path) -> None:
    ds = Dataset.from_records(
        [Customer("müller-gmbh", T0, name="Müller GmbH 🚀"), Customer("plain", T0, name="Plain")],
        [Subscription("abonnement-é", "müller-gmbh", "prö", 9.5, "EUR", T0)],
        [Event("plain", "feature_used", day(1), properties={"feature": "日本語"})],
    )
    with SQLiteStore(tmp_path / "cs.db") as store:
        store.save(ds)
        loaded = store.load()
    assert loaded.equals(ds)
    assert loaded.customer_ids.dtype == ds.customer_ids.dtype
    assert loaded.customers.name.tolist() == ["Müller GmbH 🚀", "Plain"]


identifiers = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=6
).filter(lambda s: s.strip() != "")
maybe_text = st.none() | identifiers


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    """Small datasets with every kind of column: custom kinds, properties, missing
    values, attributes of several dtypes, ended and running subscriptions."""
    ids = draw(st.lists(identifiers, min_size=1, max_size=6, unique=True))
    n = len(ids)
    offsets = st.integers(min_value=0, max_value=400 * 86_400_000_000)

    def moment(us: int) -> np.datetime64:
        return np.datetime64("2023-01-01T00:00:00", "us") + np.timedelta64(us, "us")

    customers: dict[str, Any] = {
        "id": ids,
        "created_at": [moment(draw(offsets)) for _ in ids],
        "name": [draw(maybe_text) for _ in ids],
        "segment": [draw(st.sampled_from([None, "smb", "mid", "ent"])) for _ in ids],
        "plan": [draw(maybe_text) for _ in ids],
    }
    if draw(st.booleans()):
        customers["seats"] = np.array(
            draw(st.lists(st.integers(-5, 10**12), min_size=n, max_size=n))
        )
    if draw(st.booleans()):
        customers["score"] = np.array(
            draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n))
        )
    if draw(st.booleans()):
        customers["region"] = np.array(
            draw(
                st.lists(
                    st.none() | identifiers | st.integers(-3, 3) | st.booleans(),
                    min_size=n,
                    max_size=n,
                )
            ),
            dtype=object,
        )
    if draw(st.booleans()):
        customers["vip"] = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if draw(st.booleans()):
        customers["signed"] = np.array([moment(draw(offsets)) for _ in ids], dtype="datetime64[us]")
    subs: dict[str, list[Any]] = {
        k: []
        for k in (
            "id",
            "customer_id",
            "plan",
            "mrr",
            "currency",
            "started_at",
            "ended_at",
            "cancel_reason",
        )
    }
    for i in range(draw(st.integers(0, 8))):
        start = draw(offsets)
        subs["id"].append(f"s{i}")
        subs["customer_id"].append(draw(st.sampled_from(ids)))
        subs["plan"].append(draw(st.sampled_from(["pro", "basic"])))
        subs["mrr"].append(draw(st.floats(0, 1e6, allow_nan=False)))
        subs["currency"].append(draw(st.sampled_from(["USD", "EUR"])))
        subs["started_at"].append(moment(start))
        ended = draw(st.none() | st.integers(0, 10**12))
        subs["ended_at"].append(None if ended is None else moment(start + ended))
        subs["cancel_reason"].append(draw(maybe_text))
    events: dict[str, list[Any]] = {
        k: [] for k in ("customer_id", "kind", "occurred_at", "value", "feature", "tag")
    }
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["login", "feature_used", "purchase", "webinar", "z-custom"]))
        events["customer_id"].append(draw(st.sampled_from(ids)))
        events["kind"].append(kind)
        events["occurred_at"].append(moment(draw(offsets)))
        if kind == "purchase":
            value: float | None = draw(st.floats(0, 1e9, allow_nan=False))
        else:
            value = draw(st.none() | st.floats(-1e9, 1e9, allow_nan=False))
        events["value"].append(np.nan if value is None else value)
        events["feature"].append(
            draw(identifiers) if kind == "feature_used" else draw(st.none() | identifiers)
        )
        events["tag"].append(draw(st.none() | st.sampled_from(["x", "y"])))
    return Dataset.from_columns(
        customers=customers,
        subscriptions={k: np.array(v, dtype=object) for k, v in subs.items()},
        events={
            **{k: np.array(v, dtype=object) for k, v in events.items() if k != "value"},
            "value": np.array(events["value"], dtype=np.float64),
        },
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ds=datasets(), chunk=st.integers(1, 7))
def test_save_load_round_trips_exactly(tmp_path: Path, ds: Dataset, chunk: int) -> None:
    path = tmp_path / "prop.db"
    with SQLiteStore(path, chunk_rows=chunk) as store:
        store.save(ds)
        loaded = store.load()
    assert loaded.equals(ds)
    for name, column in ds.customers.attributes.items():
        assert loaded.customers.attributes[name].dtype == column.dtype
    assert tuple(loaded.events.properties) == tuple(ds.events.properties)


# --------------------------------------------------------------------------- atomicity


def test_a_failure_midway_through_save_leaves_the_old_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cs.db"
    old, new = small_dataset(), generate(100, seed=1)
    with SQLiteStore(path, chunk_rows=50) as store:
        store.save(old)
        before = table_counts(path)
        real = store_module._column_chunks
        written: list[str] = []

        def failing(columns: dict[str, Any], *args: Any) -> Iterator[tuple[Any, ...]]:
            events = "kind" in columns
            for i, row in enumerate(real(columns, *args)):
                if events and i == 9:  # the second chunk of the events, midway
                    raise OSError("disk unplugged")
                written.append("events" if events else "other")
                yield row

        monkeypatch.setattr(store_module, "_column_chunks", failing)
        with pytest.raises(OSError, match="disk unplugged"):
            store.save(new)
        # Customers, subscriptions and 9 event chunks had been written when it failed.
        assert written.count("events") == 9
        assert written.count("other") > 10
        assert store.load().equals(old)
    assert table_counts(path) == before
    monkeypatch.undo()
    with SQLiteStore(path) as store:  # and the store still works afterwards
        store.save(new)
        assert store.load().equals(new)


def test_an_unstorable_attribute_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cs.db"
    bad = Dataset.from_columns(
        customers={
            "id": ["a", "b"],
            "created_at": [T0, T0],
            "meta": np.array([None, {"k": 1}], dtype=object),
        }
    )
    with SQLiteStore(path) as store:
        store.save(small_dataset())
        with pytest.raises(ValidationError, match=r"attribute 'meta' row 1: cannot store a dict"):
            store.save(bad)
        assert store.load().equals(small_dataset())


def test_a_failed_churn_snapshot_write_keeps_the_previous_snapshot(tmp_path: Path) -> None:
    churn = records(small_dataset(), AS_OF)
    with SQLiteStore(tmp_path / "cs.db") as store:
        store.save_churn_records(churn)
        duplicated = churn.take(np.array([0, 1, 2, 0]))  # the 4th row breaks the primary key
        with pytest.raises(StoreError, match="UNIQUE constraint failed"):
            store.save_churn_records(duplicated)
        again = store.load_churn_records()
    assert again.to_records() == churn.to_records()


# --------------------------------------------------------------------------- concurrency


def test_readers_read_the_committed_data_while_a_writer_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cs.db"
    old, new = small_dataset(), generate(60, seed=2)
    with SQLiteStore(path) as first:
        first.save(old)
    midway, resume = threading.Event(), threading.Event()
    real = store_module._column_chunks

    def pausing(columns: dict[str, Any], *args: Any) -> Iterator[tuple[Any, ...]]:
        for i, row in enumerate(real(columns, *args)):
            if "kind" in columns and i == 3:
                midway.set()  # the writer holds an open transaction with half the rows
                assert resume.wait(30)
            yield row

    monkeypatch.setattr(store_module, "_column_chunks", pausing)
    writer = SQLiteStore(path, chunk_rows=20)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            writer.save(new)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert midway.wait(30)
        reader = SQLiteStore(path)
        assert reader.load().equals(old)  # not blocked, and sees no half-written rows
        assert reader.query("SELECT count(*) FROM customers") == [(len(old),)]
    finally:
        resume.set()
        thread.join(30)
    assert not errors
    assert reader.load().equals(new)
    reader.close()
    writer.close()


def test_each_thread_gets_its_own_connection(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "cs.db") as store:
        store.save(small_dataset())
        results: list[bool] = []
        threads = [
            threading.Thread(target=lambda: results.append(store.load().equals(small_dataset())))
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [True, True, True]


# --------------------------------------------------------------------------- schema


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "cs.db"
    with SQLiteStore(path) as store:
        assert store.schema_version == MIGRATIONS[-1].version == 2
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version, description FROM schema_version").fetchall() == [
        (m.version, m.description) for m in MIGRATIONS
    ]
    conn.close()
    with SQLiteStore(path) as store:  # reopening applies nothing twice
        assert store.schema_version == 2


def test_a_new_migration_is_applied_once_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cs.db"
    with SQLiteStore(path) as store:
        store.save(small_dataset())
    extra = Migration(
        3, "notes per customer", ("CREATE TABLE notes (customer_idx INTEGER, note TEXT)",)
    )
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, extra))
    with SQLiteStore(path) as store:
        assert store.schema_version == 3
        assert store.load().equals(small_dataset())  # data kept across the migration
        assert store.query("SELECT count(*) FROM notes") == [(0,)]
    with SQLiteStore(path) as store:
        assert store.schema_version == 3


def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cs.db"
    SQLiteStore(path).close()
    broken = Migration(
        3, "broken", ("CREATE TABLE ok_table (x INTEGER)", "CREATE TABLE customers (x)")
    )
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(sqlite3.OperationalError, match="customers already exists"):
        SQLiteStore(path)
    monkeypatch.undo()
    with SQLiteStore(path) as store:
        assert store.schema_version == 2
        assert store.query("SELECT name FROM sqlite_master WHERE name = 'ok_table'") == []


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cs.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (7, 'from the future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"schema version 7, newer than .* \(2\): upgrade"):
        SQLiteStore(path)


# --------------------------------------------------------------------------- errors and extras


def test_errors_say_what_went_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"chunk_rows must be an integer >= 1, got 0"):
        SQLiteStore(tmp_path / "a.db", chunk_rows=0)
    with pytest.raises(ValidationError, match=r"path must be a file path .* got ':memory:'"):
        SQLiteStore(":memory:")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"junk\.db is not a SQLite database"):
        SQLiteStore(junk)
    store = SQLiteStore(tmp_path / "empty.db")
    with pytest.raises(StoreError, match=r"empty\.db holds no dataset yet: save\(\) one first"):
        store.load()
    with pytest.raises(StoreError, match=r"holds no churn records"):
        store.load_churn_records()
    with pytest.raises(
        ValidationError, match=r"save\(\): dataset must be a custsuccess Dataset, got a dict"
    ):
        store.save({})  # type: ignore[arg-type]
    with pytest.raises(
        ValidationError, match=r"save_churn_records\(\) needs ChurnRecords, got list"
    ):
        store.save_churn_records([])  # type: ignore[arg-type]
    with pytest.raises(StoreError, match=r"query\(\) only reads: 'DELETE FROM customers'"):
        store.query("DELETE FROM customers")
    assert not store.has_dataset()
    store.close()
    with pytest.raises(StoreError, match=r"is closed"):
        store.load()


def test_churn_records_round_trip_and_snapshots(tmp_path: Path) -> None:
    ds = generate(400, seed=4)
    early = records(ds, "2025-06-01T00:00:00Z")
    late = records(ds, "2026-06-01T00:00:00Z")
    with SQLiteStore(tmp_path / "cs.db") as store:
        store.save_churn_records(early)
        store.save_churn_records(late)
        store.save_churn_records(late)  # same date again: replaced, not duplicated
        assert store.churn_snapshots() == [early.as_of, late.as_of]
        latest = store.load_churn_records()
        first = store.load_churn_records("2025-06-01T00:00:00Z")
        by_reason = store.query(
            "SELECT reason, count(*) FROM churn_records WHERE as_of = ? GROUP BY reason "
            "ORDER BY reason",
            [int(late.as_of.astype("datetime64[us]").astype(np.int64))],
        )
        with pytest.raises(StoreError, match=r"no churn records as of 2020-01-01"):
            store.load_churn_records("2020-01-01T00:00:00Z")
    assert latest.to_records() == late.to_records()
    assert first.to_records() == early.to_records()
    assert len(latest) == len(late) > 0
    names, counts = np.unique(late.reason.decode().astype(str), return_counts=True)
    assert by_reason == list(zip(names.tolist(), counts.tolist(), strict=True))
