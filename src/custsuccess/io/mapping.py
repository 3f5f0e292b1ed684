"""Mappings: how a source's columns become our fields.

A mapping is a dict or a TOML file. ``[fields]`` names, for each of our fields, the source
column it comes from (matched case-insensitively) or a table of options::

    table = "events"

    [fields]
    customer_id = "account_id"                     # a column; integer ids are read as text
    occurred_at = { column = "event_time", timezone = "UTC" }   # ISO 8601 without an offset
    kind = { column = "event_type", map = { "Logged In" = "login" }, default = "feature_used" }
    feature = { column = "event_type", kinds = ["feature_used"] }

Options of a field (all optional but one of ``column`` / ``value``):

``column``
    The source column (case-insensitive).
``value``
    A constant instead of a column.
``map``, ``default``, ``keep_unmapped``
    A value map; a value it does not name takes ``default``, is kept as it is with
    ``keep_unmapped = true``, and is otherwise an error. On ``kind``, a map value may be a
    table: ``"Exported CSV" = { kind = "feature_used", feature = "export" }`` sets
    properties too.
``json``
    The column holds JSON objects: take this key.
``format``, ``unit``, ``timezone``
    Times: an explicit ``strptime`` format; or ``unit`` (``s``, ``ms``, ``us``, ``ns``) for
    epoch numbers; and the IANA zone of times written without an offset (without it such
    times are an error, because they are ambiguous).
``interval``, ``every``, ``quantity``, ``scale``, ``zero_when`` (``mrr`` only)
    ``column`` is an amount charged per billing interval: ``interval`` names the column
    holding ``month``, ``quarter`` or ``year`` (``every`` gives one interval for all rows),
    ``quantity`` a column multiplying the amount, ``scale`` a constant factor (0.01 for
    amounts in cents), ``zero_when = { column = "Status", values = ["trialing"] }`` rows
    that bring no revenue. MRR = amount x quantity x scale / months in the interval.
``kinds``
    Event properties only: set on events of these kinds only.
``skip_missing``
    Rows where this field is missing make no row (``First reply at`` of an unanswered
    ticket): they are counted in the quality report, not rejected.

``[[events]]`` (events only) lists several events made from each source row: each entry
holds the fields that differ (``kind``, ``occurred_at``, ...) and takes the rest from
``[fields]``.

Every conversion runs on whole columns (pyarrow compute, numpy); value maps and JSON keys
are resolved once per distinct value.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable
from collections.abc import Mapping as AbcMapping
from importlib import resources
from pathlib import Path
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from custsuccess.errors import ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "FIELDS",
    "REQUIRED",
    "FieldSpec",
    "Mapped",
    "Mapping",
    "load_mapping",
    "shipped_mappings",
]

TABLES: Final = ("customers", "subscriptions", "events")

#: Our fields of each table and what they hold; other customer fields are attributes, and
#: other event fields are string properties (``feature``, ``channel``, ``ticket``, ...).
FIELDS: Final[dict[str, dict[str, str]]] = {
    "customers": {
        "id": "text",
        "created_at": "time",
        "name": "text",
        "segment": "text",
        "plan": "text",
        "owner": "text",
        "parent_id": "text",
    },
    "subscriptions": {
        "id": "text",
        "customer_id": "text",
        "plan": "text",
        "mrr": "money",
        "currency": "currency",
        "started_at": "time",
        "ended_at": "time",
        "cancel_reason": "text",
        "billing_interval": "text",
        "renews_at": "time",
    },
    "events": {
        "customer_id": "text",
        "kind": "text",
        "occurred_at": "time",
        "value": "number",
    },
}
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "customers": ("id", "created_at"),
    "subscriptions": ("id", "customer_id", "plan", "mrr", "currency", "started_at"),
    "events": ("customer_id", "kind", "occurred_at"),
}
_OPTIONS: Final = frozenset(
    {
        "column", "value", "map", "default", "keep_unmapped", "json", "format", "unit",
        "timezone", "interval", "every", "quantity", "scale", "zero_when", "kinds",
        "skip_missing",
    }
)
#: Billing intervals, as months per interval.
INTERVAL_MONTHS: Final[dict[str, float]] = {
    "day": 12 / 365.25,
    "daily": 12 / 365.25,
    "week": 12 / 52,
    "weekly": 12 / 52,
    "month": 1.0,
    "monthly": 1.0,
    "quarter": 3.0,
    "quarterly": 3.0,
    "year": 12.0,
    "yearly": 12.0,
    "annual": 12.0,
    "annually": 12.0,
}
_EPOCH_US: Final = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}
_NAT: Final = np.iinfo(np.int64).min
_EXAMPLES: Final = 3


@attrs.frozen(slots=True)
class FieldSpec:
    """Where one of our fields comes from, and how it is converted (see the module docs)."""

    name: str
    column: str | None = None
    value: Any = None
    map: AbcMapping[str, Any] | None = None
    default: Any = None
    keep_unmapped: bool = False
    json: str | None = None
    format: str | None = None
    unit: str | None = None
    timezone: str | None = None
    interval: str | None = None
    every: str | None = None
    quantity: str | None = None
    scale: float = 1.0
    zero_when: AbcMapping[str, Any] | None = None
    kinds: tuple[str, ...] | None = None
    skip_missing: bool = False

    @classmethod
    def parse(cls, name: str, spec: Any, where: str) -> FieldSpec:
        if isinstance(spec, str):
            return cls(name, column=spec)
        if not isinstance(spec, AbcMapping):
            raise ValidationError(
                f"{where}: field {name!r} must be a column name or a table of options, "
                f"got {spec!r}"
            )
        unknown = sorted(set(spec) - _OPTIONS)
        if unknown:
            raise ValidationError(
                f"{where}: field {name!r} has unknown option(s) {unknown}; "
                f"known: {sorted(_OPTIONS)}"
            )
        if ("column" in spec) == ("value" in spec):
            raise ValidationError(f"{where}: field {name!r} needs exactly one of column or value")
        if "unit" in spec and spec["unit"] not in _EPOCH_US:
            raise ValidationError(
                f"{where}: field {name!r}: unit must be one of {sorted(_EPOCH_US)}, "
                f"got {spec['unit']!r}"
            )
        if "every" in spec and str(spec["every"]).lower() not in INTERVAL_MONTHS:
            raise ValidationError(
                f"{where}: field {name!r}: every must be one of {sorted(INTERVAL_MONTHS)}, "
                f"got {spec['every']!r}"
            )
        zero_when = spec.get("zero_when")
        if zero_when is not None and (
            not isinstance(zero_when, AbcMapping) or set(zero_when) != {"column", "values"}
        ):
            raise ValidationError(
                f"{where}: field {name!r}: zero_when must be {{ column = ..., values = [...] }}"
            )
        kinds = spec.get("kinds")
        return cls(
            name,
            column=spec.get("column"),
            value=spec.get("value"),
            map=spec.get("map"),
            default=spec.get("default"),
            keep_unmapped=bool(spec.get("keep_unmapped", False)),
            json=spec.get("json"),
            format=spec.get("format"),
            unit=spec.get("unit"),
            timezone=spec.get("timezone"),
            interval=spec.get("interval"),
            every=spec.get("every"),
            quantity=spec.get("quantity"),
            scale=float(spec.get("scale", 1.0)),
            zero_when=zero_when,
            kinds=None if kinds is None else tuple(str(k) for k in kinds),
            skip_missing=bool(spec.get("skip_missing", False)),
        )

    def columns(self) -> list[str]:
        """The source columns this field reads."""
        names = [self.column, self.interval, self.quantity]
        if self.zero_when is not None:
            names.append(str(self.zero_when["column"]))
        return [n for n in names if n is not None]


@attrs.frozen(slots=True)
class Mapping:
    """A parsed mapping: our fields, each from a :class:`FieldSpec`.

    ``entries`` holds one dict of fields per event made from each source row (one entry
    unless the mapping has ``[[events]]``).
    """

    name: str
    table: str | None
    entries: tuple[AbcMapping[str, FieldSpec], ...]
    description: str = ""

    @classmethod
    def from_dict(cls, spec: AbcMapping[str, Any], name: str = "mapping") -> Mapping:
        """A mapping from a dict shaped like the TOML file."""
        unknown = sorted(set(spec) - {"table", "description", "fields", "events"})
        if unknown:
            raise ValidationError(
                f"{name}: unknown key(s) {unknown}; a mapping has table, description, "
                "fields and events"
            )
        table = spec.get("table")
        if table is not None and table not in TABLES:
            raise ValidationError(f"{name}: table must be one of {TABLES}, got {table!r}")
        shared = spec.get("fields", {})
        if not isinstance(shared, AbcMapping):
            raise ValidationError(f"{name}: fields must be a table, got {shared!r}")
        extra = spec.get("events")
        if extra is not None and table not in (None, "events"):
            raise ValidationError(f"{name}: [[events]] entries need table = 'events'")
        raw_entries = [dict(shared)] if not extra else [{**shared, **e} for e in extra]
        entries = tuple(
            {k: FieldSpec.parse(k, v, name) for k, v in entry.items()} for entry in raw_entries
        )
        return cls(name, table, entries, str(spec.get("description", "")))

    @classmethod
    def identity(cls, columns: Iterable[str]) -> Mapping:
        """Every source column is the field of the same name."""
        return cls("identity", None, ({c: FieldSpec(c, column=c) for c in columns},))

    def for_table(self, table: str) -> Mapping:
        if self.table is not None and self.table != table:
            raise ValidationError(
                f"mapping {self.name!r} is for {self.table}, but was given as {table}"
            )
        return self

    def columns(self) -> list[str]:
        """Every source column the mapping reads, in first-use order."""
        seen: dict[str, None] = {}
        for entry in self.entries:
            for spec in entry.values():
                for column in spec.columns():
                    seen.setdefault(column, None)
        return list(seen)

    def field_of(self, column: str) -> str:
        """The (first) field that reads ``column``, for messages."""
        for entry in self.entries:
            for spec in entry.values():
                if column in spec.columns():
                    return spec.name
        return column

    def text_columns(self, table: str) -> list[str]:
        """Source columns read as text (ids, names, JSON), so a file reader keeps them as
        text (``007`` stays ``007``)."""
        out: dict[str, None] = {}
        for entry in self.entries:
            for spec in entry.values():
                kind = _field_type(table, spec.name)
                if spec.column is not None and (kind in ("text", "currency") or spec.json):
                    out.setdefault(spec.column, None)
        return list(out)


def shipped_mappings() -> dict[str, Path]:
    """The mappings shipped with custsuccess, by name (``stripe_customers``, ...)."""
    folder = resources.files("custsuccess.io") / "mappings"
    return {
        Path(item.name).stem: Path(str(item))
        for item in folder.iterdir()
        if item.name.endswith(".toml")
    }


def load_mapping(mapping: Mapping | AbcMapping[str, Any] | str | os.PathLike[str]) -> Mapping:
    """A :class:`Mapping` from a Mapping, a dict, a TOML file, or a shipped mapping's name.

    >>> load_mapping("stripe_subscriptions").table
    'subscriptions'
    """
    if isinstance(mapping, Mapping):
        return mapping
    if isinstance(mapping, AbcMapping):
        return Mapping.from_dict(mapping)
    path = Path(mapping)
    shipped = shipped_mappings()
    if not path.exists() and str(mapping) in shipped:
        path = shipped[str(mapping)]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(
            f"mapping {str(mapping)!r}: cannot read it ({exc.strerror or exc}); shipped "
            f"mappings: {sorted(shipped)}"
        ) from None
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"mapping {str(path)!r}: not valid TOML: {exc}") from None
    return Mapping.from_dict(spec, name=str(path))


def _field_type(table: str, name: str) -> str:
    known = FIELDS[table].get(name)
    if known is not None:
        return known
    return "attribute" if table == "customers" else "text"


# --------------------------------------------------------------------------- applying


@attrs.frozen(slots=True)
class Problem:
    """Rows that fail one check: ``rows`` are source rows, ``values`` what they held."""

    reason: str
    column: str | None
    rows: npt.NDArray[np.int64]
    values: tuple[Any, ...]


@attrs.define(slots=True)
class Mapped:
    """A source's rows as our fields: ``columns`` (Arrow or numpy arrays), ``rows`` the
    source row of each output row, ``problems`` rows that failed a check (their output
    rows are flagged in ``bad``), ``skipped`` output rows dropped by ``skip_missing``."""

    columns: dict[str, Any]
    rows: npt.NDArray[np.int64]
    bad: npt.NDArray[np.bool_]
    problems: list[Problem]
    skipped: dict[str, int]


class _Checker:
    """Collects failed checks over one entry's rows."""

    def __init__(self, source: str, n: int, raise_first: bool) -> None:
        self.source = source
        self.bad = np.zeros(n, dtype=bool)
        self.problems: list[Problem] = []
        self.raise_first = raise_first

    def fail(self, mask: npt.NDArray[np.bool_], reason: str, column: str | None, raw: Any) -> None:
        rows = np.flatnonzero(mask)
        if not rows.size:
            return
        values = tuple(_value_at(raw, int(r)) for r in rows[:_EXAMPLES])
        if self.raise_first:
            where = f"{self.source}: row {int(rows[0])}"
            if column is not None:
                where += f", column {column!r}"
            more = f" ({rows.size} rows in all)" if rows.size > 1 else ""
            raise ValidationError(f"{where}: {reason}, got {values[0]!r}{more}")
        self.bad |= mask
        self.problems.append(Problem(reason, column, rows.astype(np.int64), values))


def _value_at(raw: Any, i: int) -> Any:
    if raw is None:
        return None
    if isinstance(raw, np.ndarray):
        item = raw[i]
        return item.item() if isinstance(item, np.generic) else item
    return raw[i].as_py()


def resolve_column(table: pa.Table, name: str, source: str, field: str) -> str:
    """The table's column named ``name`` (case-insensitive; an exact match wins)."""
    if name in table.column_names:
        return name
    folded = [c for c in table.column_names if c.casefold() == name.casefold()]
    if len(folded) == 1:
        return str(folded[0])
    if len(folded) > 1:
        raise ValidationError(
            f"{source}: field {field!r} names column {name!r}, which matches {folded} "
            "without regard to case; use the exact name"
        )
    raise ValidationError(
        f"{source}: unknown column {name!r} (mapping field {field!r}); the source has "
        f"columns {table.column_names}"
    )


def apply_mapping(
    mapping: Mapping, table: pa.Table, target: str, source: str, *, raise_first: bool = True
) -> Mapped:
    """Turn ``table`` (a source's rows) into our fields of ``target`` (see the module docs).

    With ``raise_first`` the first failed check raises one ValidationError naming the
    source, the row, the column and the value; otherwise failing rows are flagged.
    """
    mapping = mapping.for_table(target)
    n = table.num_rows
    parts: list[Mapped] = []
    for entry in mapping.entries:
        parts.append(_apply_entry(entry, table, target, source, n, raise_first))
    if len(parts) == 1:
        return parts[0]
    names: dict[str, None] = {}
    for part in parts:
        for key in part.columns:
            names.setdefault(key, None)
    columns: dict[str, Any] = {}
    for key in names:
        pieces = [
            _as_arrow(p.columns[key]) if key in p.columns else pa.nulls(len(p.rows), pa.string())
            for p in parts
        ]
        columns[key] = _concat(pieces)
    skipped: dict[str, int] = {}
    for part in parts:
        for reason, count in part.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    return Mapped(
        columns,
        np.concatenate([p.rows for p in parts]),
        np.concatenate([p.bad for p in parts]),
        [q for p in parts for q in p.problems],
        skipped,
    )


def _as_arrow(column: Any) -> Any:
    if isinstance(column, np.ndarray):
        if column.dtype.kind == "M":
            return pa.array(column.view(np.int64), mask=np.isnat(column)).cast(pa.timestamp("us"))
        return pa.array(column)
    return column


def _concat(pieces: list[Any]) -> Any:
    types = {p.type for p in pieces}
    if len(types) > 1:  # e.g. a constant (dictionary) and a column (string)
        target = pa.string()
        pieces = [_decode(p).cast(target) if not pa.types.is_timestamp(p.type) else p
                  for p in pieces]
    chunks = [c for p in pieces for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
    column = pa.chunked_array(chunks, type=chunks[0].type if chunks else pa.string())
    if pa.types.is_timestamp(column.type):
        return _times_to_numpy(column)
    if pa.types.is_floating(column.type):
        return column.to_numpy()
    return column


def _decode(column: Any) -> Any:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _apply_entry(
    entry: AbcMapping[str, FieldSpec],
    table: pa.Table,
    target: str,
    source: str,
    n: int,
    raise_first: bool,
) -> Mapped:
    for required in REQUIRED[target]:
        if required not in entry:
            raise ValidationError(
                f"{source}: the mapping gives no {target} field {required!r} (required: "
                f"{', '.join(REQUIRED[target])})"
            )
    check = _Checker(source, n, raise_first)
    columns: dict[str, Any] = {}
    keep = np.ones(n, dtype=bool)
    skipped: dict[str, int] = {}
    kind_props: dict[str, Any] = {}
    ordered = sorted(entry.values(), key=lambda s: s.name != "kind")  # kind first
    value: Any
    for spec in ordered:
        kind = _field_type(target, spec.name)
        raw = None if spec.column is None else table.column(
            resolve_column(table, spec.column, source, spec.name)
        )
        if spec.json is not None and raw is not None:
            raw = _json_pick(raw, spec.json, check, spec.column)
        if spec.map is not None or spec.default is not None:
            if raw is None:
                raise ValidationError(f"{source}: field {spec.name!r}: map needs a column")
            raw, props = _value_map(raw, spec, check)
            if spec.name == "kind":
                kind_props = props
        if kind == "time":
            value = _to_time(raw, spec, check, n)
            missing = np.isnat(value)
        elif kind == "number":
            value = _to_number(raw, spec, check, n)
            missing = np.isnan(value)
        elif kind == "money":
            value = _to_money(raw, spec, check, table, source, n)
            missing = np.isnan(value)
        elif kind == "attribute":
            value = _to_attribute(raw, spec, n)
            missing = np.zeros(n, dtype=bool)
        else:
            value = _to_text(raw, spec, n)
            if kind == "currency":
                value = pc.utf8_upper(value)
                good = pc.match_substring_regex(value, "^[A-Z]{3}$")
                bad = np.asarray(pc.fill_null(pc.invert(good), False).to_numpy(False), bool)
                check.fail(
                    bad,
                    "not a currency code (ISO 4217, three letters such as USD)",
                    spec.column,
                    raw,
                )
            missing = _text_missing(value)
        if spec.skip_missing:
            dropped = missing & keep
            if dropped.any():
                label = spec.column or spec.name
                skipped[f"no {label}"] = int(dropped.sum())
            keep &= ~missing
        elif spec.name in REQUIRED[target] and spec.column is not None:
            check.fail(
                missing & keep & ~check.bad, f"{spec.name} is required but missing",
                spec.column, raw,
            )
        columns[spec.name] = value
    for name, prop in kind_props.items():
        if name not in columns:
            columns[name] = prop
    if target == "events" and "kind" in columns:
        _limit_properties(entry, columns)
    rows = np.arange(n, dtype=np.int64)
    if not keep.all():
        index = np.flatnonzero(keep)
        columns = {k: _take(v, index) for k, v in columns.items()}
        rows = rows[index]
        bad = check.bad[index]
    else:
        bad = check.bad
    return Mapped(columns, rows, bad, check.problems, skipped)


def _take(column: Any, index: npt.NDArray[np.intp]) -> Any:
    if isinstance(column, np.ndarray):
        return column[index]
    return column.take(pa.array(index))


def _limit_properties(entry: AbcMapping[str, FieldSpec], columns: dict[str, Any]) -> None:
    """Blank properties on events of kinds their ``kinds`` option leaves out."""
    kind = columns["kind"]
    for spec in entry.values():
        if spec.kinds is None or spec.name not in columns:
            continue
        allowed = pc.is_in(_decode(kind), value_set=pa.array(list(spec.kinds), pa.string()))
        columns[spec.name] = pc.if_else(
            pc.fill_null(allowed, False), _decode(columns[spec.name]), pa.scalar(None, pa.string())
        )


# --------------------------------------------------------------------------- conversions


def _constant(value: Any, n: int) -> pa.Array:
    if isinstance(value, str):
        return pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], pa.string())
        )
    return pa.array(np.full(n, value))


def _to_text(raw: Any, spec: FieldSpec, n: int) -> Any:
    if raw is None:
        return _constant(str(spec.value), n)
    t = raw.type
    if pa.types.is_dictionary(t):
        if pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type):
            return raw
        raw = raw.cast(t.value_type)
        t = raw.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return raw
    if pa.types.is_floating(t):
        # integer ids that went through a float column (a pandas column with NaN)
        whole = pc.fill_null(pc.all(pc.equal(pc.floor(raw), raw)), True).as_py()
        if whole:
            return pc.cast(pc.cast(raw, pa.int64()), pa.string())
    if pa.types.is_null(t):
        return pa.nulls(len(raw), pa.string())
    return pc.cast(raw, pa.string())


def _text_missing(value: Any) -> npt.NDArray[np.bool_]:
    """Rows that are null or empty; a dictionary column is tested once per distinct value."""
    if pa.types.is_dictionary(value.type):
        chunks = value.chunks if isinstance(value, pa.ChunkedArray) else [value]
        parts = []
        for chunk in chunks:
            per_value = _text_missing(chunk.dictionary)
            index = np.asarray(chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False))
            parts.append(np.append(per_value, True)[index])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
    empty = pc.or_kleene(pc.is_null(value), pc.equal(value, ""))
    return np.asarray(pc.fill_null(empty, True).to_numpy(zero_copy_only=False), dtype=bool)


def _distinct(raw: Any) -> tuple[list[Any], Any]:
    """The distinct values of a column (as Python objects) and each row's position in them."""
    values = _decode(raw)
    uniques = pc.unique(values)
    if isinstance(uniques, pa.ChunkedArray):
        uniques = uniques.combine_chunks()
    positions = pc.index_in(values, value_set=uniques)
    return uniques.to_pylist(), positions


def _value_map(raw: Any, spec: FieldSpec, check: _Checker) -> tuple[Any, dict[str, Any]]:
    """Apply ``spec.map`` to each distinct value; map values that are tables (kinds with
    properties) also give property columns."""
    uniques, positions = _distinct(raw)
    table = dict(spec.map or {})
    out: list[str | None] = []
    props: dict[str, list[str | None]] = {}
    unmapped = []
    for i, value in enumerate(uniques):
        key = None if value is None else str(value)
        target = table.get(key) if key is not None else None
        if target is None and key is not None:
            if spec.default is not None:
                target = spec.default
            elif spec.keep_unmapped:
                target = key
            else:
                unmapped.append(i)
        if isinstance(target, AbcMapping):
            for prop, prop_value in target.items():
                if prop != "kind":
                    props.setdefault(prop, [None] * len(uniques))[i] = str(prop_value)
            target = target.get("kind")
        out.append(None if target is None else str(target))
    index = np.asarray(pc.fill_null(positions, -1).to_numpy(zero_copy_only=False))
    if unmapped:
        bad = np.isin(index, np.asarray(unmapped))
        known = ", ".join(repr(k) for k in list(table)[:8])
        check.fail(
            bad,
            f"no value map entry for this {spec.name} (map keys: {known}; add it, or set "
            "default or keep_unmapped)",
            spec.column,
            _decode(raw),
        )
    mapped = pa.array(out, pa.string()).take(pa.array(index, mask=index < 0))
    columns = {
        name: pa.array(values, pa.string()).take(pa.array(index, mask=index < 0))
        for name, values in props.items()
    }
    return mapped, columns


def _json_pick(raw: Any, key: str, check: _Checker, column: str | None) -> Any:
    uniques, positions = _distinct(raw)
    picked: list[str | None] = []
    broken = []
    for i, text in enumerate(uniques):
        if text is None or text == "":
            picked.append(None)
            continue
        try:
            obj = json.loads(text)
        except (TypeError, ValueError):
            broken.append(i)
            picked.append(None)
            continue
        value = obj.get(key) if isinstance(obj, dict) else None
        if value is not None and not isinstance(value, str):
            value = json.dumps(value)
        picked.append(value)
    index = np.asarray(pc.fill_null(positions, -1).to_numpy(zero_copy_only=False))
    if broken:
        check.fail(np.isin(index, np.asarray(broken)), "not a JSON object", column, _decode(raw))
    return pa.array(picked, pa.string()).take(pa.array(index, mask=index < 0))


def _to_time(raw: Any, spec: FieldSpec, check: _Checker, n: int) -> npt.NDArray[np.datetime64]:
    """Moments as ``datetime64[us]`` UTC, NaT where missing."""
    if raw is None:
        if spec.value is None:
            return np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
        raw = pa.array([str(spec.value)] * n, pa.string())
    raw = _decode(raw)
    t = raw.type
    if pa.types.is_timestamp(t):
        return _timestamps(raw, spec, check)
    if pa.types.is_date(t):
        return _timestamps(raw.cast(pa.timestamp("us")), spec, check)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _epoch(raw, spec)
    if pa.types.is_null(t):
        return np.full(len(raw), np.datetime64("NaT"), dtype="datetime64[us]")
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise ValidationError(
            f"{check.source}: column {spec.column!r} ({spec.name}) holds {t}, not times"
        )
    if spec.unit is not None:  # epoch numbers written as text
        return _epoch(_to_number_arrow(raw, spec, check), spec)
    text = pc.utf8_trim_whitespace(raw)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    if spec.format is not None:
        has_zone = "%z" in spec.format
        parsed = pc.strptime(text, format=spec.format, unit="us", error_is_null=True)
        failed = _newly_null(text, parsed)
        check.fail(
            failed, f"not a time in the format {spec.format!r}", spec.column, raw
        )
        if has_zone:
            return _timestamps(parsed.cast(pa.timestamp("us", tz="UTC")), spec, check)
        return _timestamps(parsed, spec, check, naive_text=True)
    return _iso_times(text, spec, check, raw)


def _newly_null(before: Any, after: Any) -> npt.NDArray[np.bool_]:
    lost = pc.and_(pc.is_valid(before), pc.is_null(after))
    return np.asarray(lost.to_numpy(zero_copy_only=False), dtype=bool)


def _iso_times(
    text: Any, spec: FieldSpec, check: _Checker, raw: Any
) -> npt.NDArray[np.datetime64]:
    """ISO 8601 text: with ``Z`` or an offset, or naive with the mapping's timezone."""
    # A zone is written as Z or +hh:mm / -hh:mm / +hhmm after the time.
    zoned = pc.fill_null(pc.match_substring_regex(text, r"(Z|z|[+-]\d\d:?\d\d)$"), False)
    zoned_np = np.asarray(zoned.to_numpy(zero_copy_only=False), dtype=bool)
    present = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=bool)
    dates_only = np.asarray(
        pc.fill_null(pc.match_substring_regex(text, r"^\d{4}-\d\d-\d\d$"), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    looks_naive = np.asarray(
        pc.fill_null(
            pc.match_substring_regex(text, r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d"), False
        ).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    naive = present & ~zoned_np & ~dates_only & looks_naive
    check.fail(
        present & ~zoned_np & ~dates_only & ~looks_naive,
        "not an ISO 8601 time (or give the mapping a format)",
        spec.column,
        raw,
    )
    if spec.timezone is None:
        check.fail(
            naive,
            "a time without Z or an offset is ambiguous; give the mapping a timezone "
            "(timezone = \"UTC\") or write the offset",
            spec.column,
            raw,
        )
    out = np.full(len(text), _NAT, dtype=np.int64)
    # zoned text: Arrow's ISO 8601 cast to an aware type reads the offset
    out = _cast_iso(text, zoned_np, pa.timestamp("us", tz="UTC"), out, check, spec, raw)
    local = (naive if spec.timezone is not None else np.zeros_like(naive)) | dates_only
    if local.any():
        stamps = np.full(len(text), _NAT, dtype=np.int64)
        stamps = _cast_iso(text, local, pa.timestamp("us"), stamps, check, spec, raw)
        arr = pa.array(stamps, mask=stamps == _NAT).cast(pa.timestamp("us"))
        zone = spec.timezone if spec.timezone is not None else "UTC"
        # whole dates are midnight UTC unless the mapping names a zone
        localized = _assume(arr, zone, check, spec, raw)
        out = np.where(local, localized, out)
    return out.view("datetime64[us]")


def _cast_iso(
    text: Any,
    mask: npt.NDArray[np.bool_],
    target: Any,
    out: npt.NDArray[np.int64],
    check: _Checker,
    spec: FieldSpec,
    raw: Any,
) -> npt.NDArray[np.int64]:
    if not mask.any():
        return out
    index = np.flatnonzero(mask)
    subset = text.take(pa.array(index))
    try:
        stamps = pc.cast(subset, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        bad = _first_unparseable(subset, target)
        rows = np.zeros(len(text), dtype=bool)
        rows[index[bad]] = True
        check.fail(rows, "not an ISO 8601 time", spec.column, raw)
        keep = np.ones(len(subset), dtype=bool)
        keep[bad] = False
        if not keep.any():
            return out
        index = index[keep]
        stamps = pc.cast(subset.take(pa.array(np.flatnonzero(keep))), target)
    ticks = stamps.cast(pa.int64())
    out[index] = np.asarray(pc.fill_null(ticks, _NAT).to_numpy(zero_copy_only=False))
    return out


def _first_unparseable(subset: Any, target: Any) -> npt.NDArray[np.intp]:
    """Rows Arrow cannot cast, found by halving (only on the error path)."""
    bad: list[int] = []
    stack = [(0, len(subset))]
    while stack and len(bad) < _EXAMPLES * 10:
        lo, hi = stack.pop()
        try:
            pc.cast(subset.slice(lo, hi - lo), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if hi - lo == 1:
                bad.append(lo)
            else:
                mid = (lo + hi) // 2
                stack.extend([(mid, hi), (lo, mid)])
    if stack:  # too many to locate one by one: the rest of the unsearched ranges
        bad.extend(i for lo, hi in stack for i in range(lo, hi))
    return np.asarray(sorted(bad), dtype=np.intp)


def _assume(
    arr: Any, zone: str, check: _Checker, spec: FieldSpec, raw: Any
) -> npt.NDArray[np.int64]:
    """Naive local times in ``zone`` as UTC microseconds."""
    try:
        aware = pc.assume_timezone(arr, timezone=zone, ambiguous="earliest", nonexistent="earliest")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValidationError(
            f"{check.source}: column {spec.column!r}: cannot read times in zone {zone!r}: {exc}"
        ) from None
    ticks = aware.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(pc.fill_null(ticks, _NAT).to_numpy(zero_copy_only=False), dtype=np.int64)


def _timestamps(
    raw: Any, spec: FieldSpec, check: _Checker, *, naive_text: bool = False
) -> npt.NDArray[np.datetime64]:
    """Arrow timestamps as UTC ``datetime64[us]``; naive ones are in the mapping's zone,
    or UTC (typed columns only: naive text without a zone is refused)."""
    if raw.type.tz is None:
        zone = spec.timezone
        if zone is None and naive_text:
            present = np.asarray(pc.is_valid(raw).to_numpy(zero_copy_only=False), dtype=bool)
            check.fail(
                present,
                "the format has no %z, so the times are ambiguous; give the mapping a "
                "timezone (timezone = \"UTC\")",
                spec.column,
                raw,
            )
        if zone is not None and zone.upper() != "UTC":
            return _assume(raw.cast(pa.timestamp("us")), zone, check, spec, raw).view(
                "datetime64[us]"
            )
        ticks = raw.cast(pa.timestamp("us")).cast(pa.int64())
    else:
        ticks = raw.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    out = np.asarray(pc.fill_null(ticks, _NAT).to_numpy(zero_copy_only=False), dtype=np.int64)
    return out.view("datetime64[us]")


def _times_to_numpy(column: Any) -> npt.NDArray[np.datetime64]:
    ticks = column.cast(pa.timestamp("us")).cast(pa.int64())
    out = np.asarray(pc.fill_null(ticks, _NAT).to_numpy(zero_copy_only=False), dtype=np.int64)
    return out.view("datetime64[us]")


def _epoch(raw: Any, spec: FieldSpec) -> npt.NDArray[np.datetime64]:
    unit = spec.unit or "s"
    numbers = np.asarray(pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False), dtype=float) \
        if pa.types.is_floating(raw.type) else None
    if numbers is not None:
        factor = _EPOCH_US[unit]
        scaled = numbers * factor if factor is not None else numbers / 1000.0
        out = np.where(np.isnan(scaled), float(_NAT), np.round(scaled)).astype(np.int64)
        return out.view("datetime64[us]")
    ints = np.asarray(pc.fill_null(raw.cast(pa.int64()), _NAT).to_numpy(False), dtype=np.int64)
    missing = ints == _NAT
    factor = _EPOCH_US[unit]
    out = ints * factor if factor is not None else ints // 1000
    out[missing] = _NAT
    return out.view("datetime64[us]")


def _to_number_arrow(raw: Any, spec: FieldSpec, check: _Checker) -> Any:
    raw = _decode(raw)
    if pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type):
        text = pc.utf8_trim_whitespace(raw)
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
        try:
            return pc.cast(text, pa.float64())
        except pa.ArrowInvalid:
            numeric = pc.match_substring_regex(
                text, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|nan)$",
                ignore_case=True,
            )
            bad = np.asarray(pc.fill_null(pc.invert(numeric), False).to_numpy(False), bool)
            check.fail(bad, "not a number", spec.column, raw)
            return pc.cast(pc.if_else(numeric, text, pa.scalar(None, text.type)), pa.float64())
    if pa.types.is_null(raw.type):
        return pa.nulls(len(raw), pa.float64())
    return pc.cast(raw, pa.float64())


def _to_number(raw: Any, spec: FieldSpec, check: _Checker, n: int) -> npt.NDArray[np.float64]:
    if raw is None:
        return np.full(n, np.nan if spec.value is None else float(spec.value))
    numbers = _to_number_arrow(raw, spec, check)
    return np.asarray(pc.fill_null(numbers, math.nan).to_numpy(zero_copy_only=False), dtype=float)


def _to_money(
    raw: Any, spec: FieldSpec, check: _Checker, table: pa.Table, source: str, n: int
) -> npt.NDArray[np.float64]:
    amount = _to_number(raw, spec, check, n) * spec.scale
    if spec.quantity is not None:
        column = resolve_column(table, spec.quantity, source, spec.name)
        quantity = _to_number(table.column(column), attrs.evolve(spec, column=column), check, n)
        amount = amount * np.where(np.isnan(quantity), 1.0, quantity)
    if spec.every is not None:
        amount = amount / INTERVAL_MONTHS[str(spec.every).lower()]
    elif spec.interval is not None:
        column = resolve_column(table, spec.interval, source, spec.name)
        raw_interval = table.column(column)
        uniques, positions = _distinct(raw_interval)
        months = np.array(
            [INTERVAL_MONTHS.get(str(u).strip().lower(), np.nan) if u is not None else np.nan
             for u in uniques] + [np.nan]
        )
        index = np.asarray(pc.fill_null(positions, -1).to_numpy(zero_copy_only=False))
        per = months[index]
        check.fail(
            np.isnan(per),
            f"not a billing interval (one of {', '.join(sorted(set(INTERVAL_MONTHS)))})",
            column,
            _decode(raw_interval),
        )
        amount = amount / per
    if spec.zero_when is not None:
        column = resolve_column(table, str(spec.zero_when["column"]), source, spec.name)
        free = pc.is_in(
            _decode(table.column(column)).cast(pa.string()),
            value_set=pa.array([str(v) for v in spec.zero_when["values"]], pa.string()),
        )
        amount = np.where(np.asarray(pc.fill_null(free, False).to_numpy(False), bool), 0.0, amount)
    with np.errstate(invalid="ignore"):
        negative = amount < 0
    check.fail(negative, "MRR must be >= 0", spec.column, raw)
    return np.asarray(amount, dtype=np.float64)


def _to_attribute(raw: Any, spec: FieldSpec, n: int) -> Any:
    """A customer attribute: numbers stay numbers (float64 where some are missing), the
    rest is text."""
    if raw is None:
        return _constant(spec.value, n) if isinstance(spec.value, str) else np.full(n, spec.value)
    raw = _decode(raw)
    t = raw.type
    if pa.types.is_integer(t):
        if raw.null_count == 0:
            return np.asarray(raw.cast(pa.int64()).to_numpy(zero_copy_only=False))
        return np.asarray(pc.fill_null(raw.cast(pa.float64()), math.nan).to_numpy(False))
    if pa.types.is_floating(t) or pa.types.is_boolean(t):
        return np.asarray(raw.to_numpy(zero_copy_only=False))
    return _to_text(raw, spec, n)
