"""A sources file: one TOML naming every source of a dataset and its mapping.

::

    # sources.toml (paths are relative to this file)
    errors = "skip"                    # optional: leave bad rows out, listed in the report

    [[customers]]
    path = "exports/stripe_customers.csv"
    mapping = "stripe_customers"       # a shipped mapping, a TOML file, or an inline table

    [[subscriptions]]
    path = "exports/stripe_subscriptions.csv"
    mapping = "stripe_subscriptions"

    [[events]]
    path = "exports/amplitude_events.csv.gz"
    mapping = "amplitude_events"

    [[events]]
    sql = "postgresql+psycopg://reader@db.internal/app"
    query = "SELECT * FROM nps WHERE created_at >= :since"
    params = { since = 1700000000 }
    mapping = "delighted_nps"

``custsuccess score --sources sources.toml`` reads it; so does :func:`read_sources`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping as AbcMapping
from pathlib import Path
from typing import Any, Final

from custsuccess.dataset import Dataset
from custsuccess.errors import ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["read_sources", "sources_from_toml"]

_TABLES: Final = ("customers", "subscriptions", "events")
_KEYS: Final = frozenset({"path", "format", "mapping", "sql", "query", "table", "schema",
                          "params"})


def sources_from_toml(path: str | os.PathLike[str]) -> tuple[dict[str, list[Any]], str]:
    """The sources a sources file names, per table, and its ``errors`` setting."""
    from custsuccess.io.sources import source, sql

    file = Path(path)
    try:
        spec = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"{file}: cannot read the sources file ({exc.strerror or exc})") \
            from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{file}: not valid TOML: {exc}") from None
    unknown = sorted(set(spec) - {*_TABLES, "errors"})
    if unknown:
        raise ValidationError(
            f"{file}: unknown key(s) {unknown}; a sources file has [[customers]], "
            "[[subscriptions]], [[events]] and errors"
        )
    if not spec.get("customers"):
        raise ValidationError(f"{file}: no [[customers]] source")
    base = file.parent
    out: dict[str, list[Any]] = {}
    for table in _TABLES:
        entries = spec.get(table, [])
        if isinstance(entries, AbcMapping):
            entries = [entries]
        out[table] = []
        for i, entry in enumerate(entries):
            where = f"{file}: [[{table}]] entry {i + 1}"
            bad = sorted(set(entry) - _KEYS)
            if bad:
                raise ValidationError(f"{where}: unknown key(s) {bad}; known: {sorted(_KEYS)}")
            mapping = entry.get("mapping")
            if isinstance(mapping, str) and (base / mapping).is_file():
                mapping = base / mapping
            if ("path" in entry) == ("sql" in entry):
                raise ValidationError(f"{where}: give exactly one of path or sql")
            if "path" in entry:
                out[table].append(
                    source(base / entry["path"], mapping=mapping, format=entry.get("format"))
                )
            else:
                out[table].append(sql(
                    entry["sql"], entry.get("query"), table=entry.get("table"),
                    schema=entry.get("schema"), params=entry.get("params"), mapping=mapping,
                ))
    errors = spec.get("errors", "raise")
    if errors not in ("raise", "skip"):
        raise ValidationError(f"{file}: errors must be 'raise' or 'skip', got {errors!r}")
    return out, str(errors)


def read_sources(path: str | os.PathLike[str]) -> Dataset:
    """The dataset a sources file describes (see the module docs)."""
    from custsuccess.io.read import read_dataset

    sources, errors = sources_from_toml(path)
    return read_dataset(
        customers=sources["customers"],
        subscriptions=sources["subscriptions"] or None,
        events=sources["events"] or None,
        errors="skip" if errors == "skip" else "raise",
    )
