"""SQLiteStore stays what it says: query() only reads, a lock held too long and a
damaged store are StoreErrors, never raw sqlite3, numpy or JSON errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from custsuccess.churn import records
from custsuccess.churn._examples import small_dataset
from custsuccess.health import HealthModel
from custsuccess.health.rules import RecencyRule
from custsuccess.store import SQLiteStore, StoreError

AS_OF = "2024-12-31T00:00:00+00:00"


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "cs.db"
    with SQLiteStore(path) as store:
        store.save(small_dataset())
        store.save_churn_records(records(small_dataset(), AS_OF))
    return path


def journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


REFUSED = [
    "ATTACH DATABASE '{folder}/other.db' AS other",
    "PRAGMA journal_mode=DELETE",
    "PRAGMA query_only=OFF",
    "PRAGMA locking_mode=EXCLUSIVE",
    "INSERT INTO dataset_info (key, value) VALUES ('x', 'y')",
    "UPDATE customers SET name = 'x'",
    "DELETE FROM customers",
    "DROP TABLE customers",
    "CREATE TABLE extra (x)",
    "CREATE TEMP TABLE extra (x)",
    "WITH c AS (SELECT 1) DELETE FROM customers",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_query_refuses_anything_but_reading(saved: Path, sql: str) -> None:
    sql = sql.format(folder=saved.parent)
    before = saved.read_bytes()
    with SQLiteStore(saved) as store:
        with pytest.raises(StoreError, match=r"query\(\) only reads: .* was refused"):
            store.query(sql)
        assert store.query("SELECT count(*) FROM customers") == [(5,)]
        assert store.load().equals(small_dataset())
    assert not (saved.parent / "other.db").exists()  # ATTACH created no file
    assert journal_mode(saved) == "wal"
    assert saved.read_bytes() == before


def test_query_still_reads_with_joins_ctes_and_functions(saved: Path) -> None:
    with SQLiteStore(saved) as store:
        rows = store.query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
            "SELECT count(*), max(i), upper('a') FROM n"
        )
        assert rows == [(3, 3, "A")]
        joined = store.query(
            "SELECT c.id, count(s.id) FROM customers c JOIN subscriptions s "
            "ON s.customer_idx = c.idx GROUP BY c.id ORDER BY c.id"
        )
        assert joined == [("acme", 1), ("bolt", 1), ("cove", 1), ("dune", 1), ("echo", 2)]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM no_such_table", "no such table"),
        ("SELECT 1; DROP TABLE customers", "one statement"),
        ("SELEC 1", "syntax error"),
    ],
)
def test_query_errors_are_store_errors(saved: Path, sql: str, message: str) -> None:
    with SQLiteStore(saved) as store:
        with pytest.raises(StoreError, match=message):
            store.query(sql)
        assert store.query("SELECT count(*) FROM customers") == [(5,)]


@pytest.mark.parametrize(
    "action",
    [
        lambda s: s.save(small_dataset()),
        lambda s: s.save_churn_records(records(small_dataset(), AS_OF)),
        lambda s: s.save_report(HealthModel([RecencyRule()]).score(small_dataset(), AS_OF)),
    ],
    ids=["save", "save_churn_records", "save_report"],
)
def test_a_writer_holding_the_lock_too_long_is_a_store_error(
    saved: Path, action: Callable[[SQLiteStore], object]
) -> None:
    other = sqlite3.connect(saved, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with SQLiteStore(saved, timeout=0.05) as store:
            with pytest.raises(StoreError, match=r"cs\.db is locked by another connection"):
                action(store)
            assert store.load().equals(small_dataset())  # readers still read
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_database_held_exclusively_is_a_store_error_on_opening(saved: Path) -> None:
    other = sqlite3.connect(saved, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("UPDATE dataset_info SET value = value")
    try:
        with pytest.raises(StoreError, match=r"cs\.db is locked by another connection"):
            SQLiteStore(saved, timeout=0.05)
    finally:
        other.execute("ROLLBACK")
        other.close()


CORRUPTIONS = [
    ("UPDATE events SET data = x'00' WHERE name = 'time'",
     r"cannot read the dataset: events: the chunk of column 'time' at rows 0..90 holds 1 "),
    ("UPDATE dataset_columns SET stored_dtype = 'not a dtype' WHERE name = 'mrr'", "the dataset"),
    ("UPDATE dataset_info SET value = 'many' WHERE key = 'n_events'", "the dataset"),
    ("DELETE FROM dataset_info WHERE key = 'n_subscriptions'", "the dataset"),
    ("UPDATE customer_columns SET data = x'0000000000000000' WHERE name = 'created_at'",
     r"'created_at' at rows 0..5 holds 8 bytes, expected 40"),
    ("DROP TABLE event_kinds", "no such table: event_kinds"),
]


@pytest.mark.parametrize(("sql", "what"), CORRUPTIONS)
def test_a_damaged_store_is_a_store_error(saved: Path, sql: str, what: str) -> None:
    with sqlite3.connect(saved) as conn:
        conn.execute(sql)
    with SQLiteStore(saved) as store, pytest.raises(StoreError, match=what):
        store.load()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE churn_records SET tenure_days = 'long'",
        "UPDATE churn_records SET started_at = 'yesterday'",
        "UPDATE churn_records SET reason = x'ff'",
    ],
)
def test_damaged_churn_records_are_a_store_error(saved: Path, sql: str) -> None:
    with sqlite3.connect(saved) as conn:
        conn.execute("PRAGMA ignore_check_constraints=ON")
        conn.execute(sql)
    with SQLiteStore(saved) as store, pytest.raises(StoreError, match="churn records"):
        store.load_churn_records()
