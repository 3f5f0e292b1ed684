"""Reading CSV files holds one chunk of records as text at a time, and input that is not
a file of records (a device like /dev/zero, a binary file, a line without end) fails fast
with a clear error instead of filling memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from custsuccess.cli import InputError, read_csv_dataset
from custsuccess.io.csvfiles import MAX_LINE

CUSTOMERS = """id,created_at,tier,seats
a,2024-01-01,1,3
b,2024-01-02,2,x
c,2024-01-03,3,

d,2024-01-04,4,5
e,2024-01-05,5,6
"""


def _customers(tmp_path: Path, text: str = CUSTOMERS) -> str:
    path = tmp_path / "customers.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_chunks_give_the_same_dataset_as_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _customers(tmp_path)
    whole = read_csv_dataset(path)
    monkeypatch.setattr("custsuccess.io.csvfiles._CHUNK", 2)
    chunked = read_csv_dataset(path)
    assert chunked.customer_ids.tolist() == whole.customer_ids.tolist() == list("abcde")
    np.testing.assert_array_equal(chunked.customers.created_at, whole.customers.created_at)
    # typed from the whole column: all whole numbers -> int64, even across chunks
    tier = chunked.customers.attributes["tier"]
    assert tier.dtype == np.int64
    assert tier.tolist() == [1, 2, 3, 4, 5]
    # 'x' in the first chunk makes the whole column text (later chunks are numbers)
    seats = chunked.customers.attributes["seats"]
    assert seats.dtype == object
    assert seats.tolist() == ["3", "x", None, "5", "6"]


def test_row_numbers_count_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("custsuccess.io.csvfiles._CHUNK", 2)
    bad = CUSTOMERS.replace("e,2024-01-05", "e,2024-13-05")
    # header row 1, a-c rows 2-4, a blank line (row 5), d row 6, e row 7
    with pytest.raises(InputError, match=r"row 7, column 'created_at': '2024-13-05'"):
        read_csv_dataset(_customers(tmp_path, bad))


def test_a_line_without_end_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("id,created_at\n" + "a" * (MAX_LINE + 10), encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2: longer than 1,048,576 characters"):
        read_csv_dataset(str(path))


def test_binary_input_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(b"id,created_at\na,2024-01-01\x00\x00\n")
    with pytest.raises(InputError, match=r"line 2: NUL bytes: the customers file is not CSV"):
        read_csv_dataset(str(path))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_dev_zero_fails_fast_in_bounded_memory() -> None:
    """Under a 1 GiB address-space limit, reading /dev/zero ends with the error (exit 2),
    not with the limit: memory stays bounded."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
    code = limit + "from custsuccess.cli import main; raise SystemExit(main())"
    done = subprocess.run(
        [sys.executable, "-c", code, "score", "--customers", "/dev/zero"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("custsuccess: error: /dev/zero, line 1: NUL bytes")
