"""The command line's CSV files, read and written by :mod:`custsuccess.io.csvfiles`
(kept here under its old name)."""

from __future__ import annotations

from custsuccess.io.csvfiles import (
    CSV_COLUMNS,
    InputError,
    parse_moment,
    read_csv_dataset,
    write_csv_dataset,
)

__all__ = [
    "CSV_COLUMNS",
    "InputError",
    "parse_moment",
    "read_csv_dataset",
    "write_csv_dataset",
]
