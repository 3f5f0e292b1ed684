"""Opening a store read-only: read commands never change the file they read."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from custsuccess.churn import records
from custsuccess.churn._examples import small_dataset
from custsuccess.cli import main
from custsuccess.store import SQLiteStore, StoreError

AS_OF = "2024-12-31T00:00:00+00:00"


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "cs.db"
    with SQLiteStore(path) as store:
        store.save(small_dataset())
        store.save_churn_records(records(small_dataset(), AS_OF))
    return path


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    """Another application's database, in the default rollback-journal mode."""
    path = tmp_path / "other_app.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        conn.execute("INSERT INTO users (email) VALUES ('a@example.com')")
    conn.close()
    return path


def test_a_foreign_database_is_left_byte_identical(foreign: Path) -> None:
    before = foreign.read_bytes()
    with pytest.raises(StoreError, match=r"is not a custsuccess store \(its tables: users\)"):
        SQLiteStore.open(foreign)
    # even a writable open refuses a foreign database before touching it
    with pytest.raises(StoreError, match=r"is not a custsuccess store"):
        SQLiteStore(foreign)
    assert foreign.read_bytes() == before
    assert sorted(p.name for p in foreign.parent.iterdir()) == ["other_app.sqlite"]
    with sqlite3.connect(foreign) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_an_empty_file_is_left_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(StoreError, match=r"empty\.sqlite is empty: not a custsuccess store"):
        SQLiteStore.open(empty)
    assert empty.read_bytes() == b""
    with pytest.raises(StoreError, match="no such store file"):
        SQLiteStore.open(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()


def test_a_read_only_store_reads_and_refuses_writes(store_file: Path) -> None:
    before = store_file.read_bytes()
    with SQLiteStore.open(store_file) as store:
        assert store.readonly
        assert store.load().equals(small_dataset())
        assert len(store.load_churn_records()) == 3
        assert store.query("SELECT count(*) FROM customers") == [(5,)]
        with pytest.raises(StoreError, match="opened read-only"):
            store.save(small_dataset())
        with pytest.raises(StoreError, match="opened read-only"):
            store.save_churn_records(records(small_dataset(), AS_OF))
    assert store_file.read_bytes() == before


def test_a_0444_store_is_readable(store_file: Path) -> None:
    os.chmod(store_file, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        before = store_file.read_bytes()
        with SQLiteStore.open(store_file) as store:
            assert store.load().equals(small_dataset())
        assert store_file.read_bytes() == before
        assert stat.S_IMODE(store_file.stat().st_mode) == 0o444
    finally:
        os.chmod(store_file, 0o644)


def test_a_read_only_directory_store_is_readable(store_file: Path) -> None:
    """The read-only open works also where nothing may be created next to the file."""
    folder = store_file.parent
    os.chmod(store_file, 0o444)
    os.chmod(folder, 0o555)
    try:
        with SQLiteStore.open(store_file) as store:
            assert store.load().equals(small_dataset())
    finally:
        os.chmod(folder, 0o755)
        os.chmod(store_file, 0o644)


def test_cli_read_commands_leave_a_foreign_file_alone(
    foreign: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = foreign.read_bytes()
    for command in (["score"], ["churn"], ["metrics"]):
        status = main([*command, "--db", str(foreign)])
        err = capsys.readouterr().err
        assert status == 2, command
        assert "is not a custsuccess store (its tables: users)" in err
        assert err.count("\n") == 1
    assert foreign.read_bytes() == before
    assert sorted(p.name for p in foreign.parent.iterdir()) == ["other_app.sqlite"]


def test_cli_reads_a_0444_store(store_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chmod(store_file, 0o444)
    try:
        before = store_file.read_bytes()
        status = main(["score", "--db", str(store_file), "--as-of", "2024-12-31",
                       "--format", "json"])
        assert status == 0, capsys.readouterr().err
        assert '"customer_id": "cove"' in capsys.readouterr().out
        assert store_file.read_bytes() == before
    finally:
        os.chmod(store_file, 0o644)
