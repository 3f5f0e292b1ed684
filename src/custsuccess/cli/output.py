"""Output of the command line: number and time formats, aligned text tables, CSV and
JSON writers, the output destination and the progress bar."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import re
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, TextIO

from custsuccess.errors import CustSuccessError

if TYPE_CHECKING:
    import numpy as np


__all__ = [
    "OutputError",
    "Progress",
    "clean",
    "format_value",
    "iso",
    "json_value",
    "money",
    "neutralize",
    "open_output",
    "pct",
    "printable",
    "stamp",
    "text_table",
    "write_csv",
    "write_json",
]


def stamp(t: np.datetime64) -> str:
    """``2026-10-31 00:00 UTC`` (seconds shown only when there are some)."""
    seconds = t.astype("datetime64[s]")
    unit = "m" if seconds == seconds.astype("datetime64[m]") else "s"
    return str(t.astype(f"datetime64[{unit}]")).replace("T", " ") + " UTC"


def iso(t: np.datetime64) -> str:
    import numpy as np

    return str(np.datetime_as_string(t, unit="s", timezone="UTC"))


def pct(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.{digits}f}%"


def money(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:,.0f}"


# C0 and C1 control characters (escape sequences, carriage returns, newlines, tabs),
# DEL, and the Unicode bidirectional overrides and isolates that reorder what is shown
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    r"""``text`` safe to show on a terminal: each control character (an escape sequence's
    ESC, a carriage return, a newline, a bidirectional override ...) is shown as its
    escape code instead of acting on the terminal. For human output only: JSON and CSV
    keep the data as it is.

    >>> print(printable("acme\x1b[31m red\r\n"))
    acme\x1b[31m red\r\n
    """
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, indent: int = 2) -> str:
    """Aligned columns: text left, numbers (cells starting with a digit, sign or n/a) right.
    Control characters in cells are shown escaped (:func:`printable`)."""
    headers = [printable(h) for h in headers]
    rows = [[printable(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        bool(rows) and all(re.match(r"^[-+]?[\d.,]+%?$|^n/a$|^$", r[j]) for r in rows)
        for j in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return (" " * indent + "  ".join(parts)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


_FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")


def neutralize(text: str) -> str:
    """A text cell made safe for spreadsheets: a leading ``=``, ``+``, ``-``, ``@``,
    tab or carriage return (which Excel, LibreOffice and Google Sheets read as the start
    of a formula) gets a ``'`` in front, as OWASP recommends for CSV injection.

    >>> neutralize("=HYPERLINK(\\"http://x\\")"), neutralize("-2+3"), neutralize("acme")
    ('\\'=HYPERLINK("http://x")', "'-2+3", 'acme')
    """
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralize(value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def write_csv(out: TextIO, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([neutralize(h) for h in headers])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])


def json_value(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else iso(value)
    return value


def write_json(out: TextIO, payload: Any) -> None:
    json.dump(payload, out, indent=2, default=json_value, allow_nan=False)
    out.write("\n")


def clean(value: Any) -> Any:
    """NaN and inf -> None, numpy scalars -> Python, recursively (for ``allow_nan=False``)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return json_value(value)


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[TextIO]:
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    with handle:
        yield handle


class OutputError(CustSuccessError):
    """The output file cannot be written (exit status 1)."""


class Progress:
    """Steps of a long command shown as a transient rich progress bar on stderr.

    Shown only when stderr is a terminal, the work is expected to take over about a
    second and rich is installed (``pip install 'custsuccess[cli]'``); a no-op otherwise.
    """

    def __init__(self, steps: int, *, expected_seconds: float, stream: TextIO | None = None):
        self.stream = sys.stderr if stream is None else stream
        self.steps = steps
        self.enabled = expected_seconds >= 1.0 and _isatty(self.stream)
        self._bar: Any = None
        self._task: Any = None
        self._done = 0

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:
            self.enabled = False
            return self
        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
            console=Console(file=self.stream, force_terminal=True), transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("starting", total=self.steps)
        return self

    def step(self, description: str) -> None:
        """Start the next step (the previous one counts as done)."""
        if self._bar is not None:
            self._bar.update(self._task, description=description, completed=self._done)
            self._bar.refresh()
        self._done += 1

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.steps)
            self._bar.stop()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def format_value(value: Any, unit: str | None = None) -> str:
    """A value for people, by its declared unit (:mod:`custsuccess.units`): a
    ``fraction`` in percent, ``money`` with thousands separators and no decimals,
    anything else as a plain number. Never guessed from a column's name."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, (int, float)):
        if unit == "fraction":
            return pct(float(value))
        if unit == "money":
            return money(float(value))
        if isinstance(value, int):
            return f"{value:,}"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)
